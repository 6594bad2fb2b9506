"""A real video session: two headless Debian Chromium browsers with fake cameras and microphones,
the practitioner's and the patient's, on the served app; the patient enters the waiting room by
their e-mailed link, the practitioner admits them, and both browsers hold a connected WebRTC peer
connection with video flowing both ways (their own getStats); the patient consented to recording,
so the practitioner records: the patient's page says the session is being recorded, and stopping
saves a WebM file on the practitioner's side (a download, nothing sent to the server); the report
is pre-filled with the video's connection and recording events."""

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
    from carnet_consent.testing import sign_form

    world = make_world(carnet_db, make_clinic, staff, plugins=("scheduling", "consent", "telecare"))
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        for form in ("telesoin", "recording"):
            sign_form(db, world.clinic.id, world.owner.id, world.patient, form)
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
        patient.get_by_role("button", name="Entrer en salle d’attente").click()
        _wait(patient, lambda p: _room(p, "phase") == "msgWaitingAdmission")
        # the room's first word to a patient alone ("nobody else here") keeps them waiting for
        # admission: it once told them the practitioner had left
        patient.wait_for_timeout(2000)
        assert _room(patient, "phase") == "msgWaitingAdmission"
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
        # recording, consented: started on the practitioner's page, shown on the patient's
        notice = patient.locator("#tc-recording-notice")
        assert not notice.is_visible()
        practitioner.get_by_role("button", name="Démarrer l’enregistrement").click()
        notice.wait_for(state="visible")
        assert "Cette séance est enregistrée par le praticien" in notice.inner_text()
        _wait(practitioner, lambda p: _room(p, "recorder") == "recording")
        practitioner.wait_for_timeout(3000)  # a few seconds of both sides
        for name, page in (("practitioner", practitioner), ("patient", patient)):
            page.screenshot(path=str(tmp_path / f"recording-{name}.png"), full_page=True)
        with practitioner.expect_download() as saving:
            practitioner.get_by_role("button", name="Arrêter l’enregistrement et le garder sur cet ordinateur").click()
        saved = saving.value
        assert saved.suggested_filename.startswith("seance-") and saved.suggested_filename.endswith(".webm")
        assert saved.path().read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # a WebM (Matroska) file
        assert saved.path().stat().st_size > 20000
        notice.wait_for(state="hidden")
        # the practitioner ends the session: the report lists the video's events
        practitioner.get_by_role("button", name="Terminer la séance").click()
        practitioner.wait_for_url(live_server + session_url)
        report = practitioner.locator("#tc-report").input_value()
        assert "vidéo : patient connecté" in report and "vidéo : praticien connecté" in report
        assert "vidéo établie entre les deux navigateurs" in report
        assert "enregistrement démarré par le praticien" in report and "enregistrement arrêté" in report
    finally:
        staff_side.close()
        patient_side.close()
