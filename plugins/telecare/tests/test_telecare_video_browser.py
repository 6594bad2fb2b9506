"""A real video session: two headless Debian Chromium browsers with fake cameras and microphones,
the practitioner's and the patient's, on the served app; the patient enters the waiting room by
their e-mailed link, the practitioner admits them, and both browsers hold a connected WebRTC peer
connection with video flowing both ways (their own getStats); the report is pre-filled with the
video's connection events."""

from __future__ import annotations

import time

import pytest
from telecare_world import make_world
from test_telecare_sessions import _join_link, _plan

from carnet_core.testing import browser_login, chromium, wait_for_jobs


def _room(page, name):
    """A data attribute of the room, read from the DOM (Playwright's wait_for_function evaluates
    strings, which the page's CSP rightly forbids)."""
    return page.locator("#tc-room").get_attribute(f"data-{name}") or ""


def _wait(page, check, seconds=120):
    deadline = time.monotonic() + seconds
    while not check(page):
        assert time.monotonic() < deadline, {n: _room(page, n) for n in ("phase", "connection", "inbound-bytes")}
        page.wait_for_timeout(500)


def _flowing(page):
    return (_room(page, "connection") == "connected" and int(_room(page, "inbound-bytes") or 0) > 20000
            and int(_room(page, "outbound-bytes") or 0) > 20000)


@pytest.fixture
def browser():
    """Core's Chromium (behind its service gate: CI fails this test rather than skip it) with fake
    camera and microphone, granted without a prompt."""
    with chromium("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream") as launched:
        yield launched


def test_two_browsers_connect_their_video_once_the_patient_is_admitted(
        browser, live_server, app, client, login_as, carnet_db, make_clinic, staff, carnet_settings, jobs_worker,
        tmp_path):
    world = make_world(carnet_db, make_clinic, staff)
    staff_side = browser.new_context(locale="fr-FR", viewport={"width": 1366, "height": 900})
    patient_side = browser.new_context(locale="fr-FR", viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        practitioner, patient = staff_side.new_page(), patient_side.new_page()
        for page in (practitioner, patient):
            page.set_default_timeout(90_000)  # a loaded 2-core machine is slow, not broken
        browser_login(practitioner, live_server, world.owner)  # first: the client below takes the next code
        login_as(client, world.owner)
        session_url = _plan(client, world.patient).headers["location"]
        wait_for_jobs(jobs_worker)
        path, _ = _join_link(carnet_settings, "elodie@example.org")
        # the patient enters the waiting room from their link
        patient.goto(live_server + path)
        patient.screenshot(path=str(tmp_path / "join-patient.png"), full_page=True)
        patient.get_by_role("button", name="Entrer en salle d'attente").click()
        _wait(patient, lambda p: _room(p, "phase") == "msgWaitingAdmission")
        # the practitioner sees them waiting and admits them
        practitioner.goto(live_server + session_url)
        practitioner.get_by_role("button", name="Admettre le patient").click()
        practitioner.wait_for_url(live_server + session_url)
        for page in (practitioner, patient):
            _wait(page, _flowing)
        assert "Connecté" in patient.locator("#tc-room-status").inner_text()
        assert not patient.locator("#tc-waiting").is_visible()  # no longer "in the waiting room"
        for name, page in (("practitioner", practitioner), ("patient", patient)):  # to look at, on failure too
            page.screenshot(path=str(tmp_path / f"video-{name}.png"), full_page=True)
        # the practitioner ends the session: the report lists the video's events
        practitioner.get_by_role("button", name="Terminer la séance").click()
        practitioner.wait_for_url(live_server + session_url)
        report = practitioner.locator("#tc-report").input_value()
        assert "vidéo : patient connecté" in report and "vidéo : praticien connecté" in report
        assert "vidéo établie entre les deux navigateurs" in report
    finally:
        staff_side.close()
        patient_side.close()
