"""In a real browser (Debian's Chromium): the practitioner is ill; the secretary opens the day from
today's list, cancels it, and every patient of that day is told (e-mail, else SMS), the one with
no contact listed to call (issue 13, acceptance 3). The pages fit a phone and a desktop."""

from __future__ import annotations

import pytest
from patientside import mails, sms_files
from sqlmodel import select
from test_day_off import CANARY_REASON, day, inline_plugins  # noqa: F401  (the day's fixtures, an SMS provider)

from carnet_core.testing import browser_login, make_staff, wait_for_jobs
from carnet_scheduling.models import CANCELLED, Appointment

pytestmark = pytest.mark.browser


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


@pytest.mark.parametrize("width", [1366, 375])
def test_staff_cancel_a_day_and_every_patient_is_told(
        live_server, browser_page, carnet_db, carnet_settings, world, jobs_worker, day, width):  # noqa: F811
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sonia = make_staff(carnet_db, carnet_settings, "secretary", world.clinic, name="Sonia Bernard")
    browser_login(page, live_server, sonia)

    # today's list of that day, then "Annuler la journée"
    page.goto(f"{live_server}/scheduling/today?date={day['date']}&practitioner={world.practitioner.id}")
    page.get_by_role("link", name="Annuler la journée").click()
    page.wait_for_load_state("load")
    _fits(page)
    assert "3 rendez-vous à annuler" in page.content()
    rows = page.locator("table tbody tr")
    assert rows.count() == 3
    assert "par e-mail" in rows.nth(0).inner_text() and "par SMS" in rows.nth(1).inner_text()
    assert "à appeler" in rows.nth(2).inner_text()
    assert page.get_by_label("Prévenir les patients (e-mail, sinon SMS)").is_checked()

    page.get_by_label("Motif").fill(CANARY_REASON)
    page.get_by_role("button", name="Annuler la journée").click()
    page.wait_for_load_state("load")
    _fits(page)
    status = page.get_by_role("status").inner_text()
    assert "3 rendez-vous annulés" in status and "1 patient prévenu par e-mail" in status and "1 par SMS" in status
    assert "ROBIN Zoé" in page.locator("table").inner_text()
    if width == 375:
        page.screenshot(path=str(carnet_settings.home / "day-off-done-375.png"), full_page=True)

    wait_for_jobs(jobs_worker)
    assert [m["To"] for m in mails(carnet_settings)] == ["ines.durand@example.org"]
    assert len(sms_files(carnet_settings)) == 1
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        statuses = {a.id: a.status for a in db.exec(select(Appointment))}
    assert [statuses[i] for i in day["ids"]] == [CANCELLED] * 3
    assert not errors, errors
