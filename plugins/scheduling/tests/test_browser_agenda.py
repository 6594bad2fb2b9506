"""In a real browser (Debian's Chromium): a practitioner logs in (password, then TOTP), opens
the week, creates an appointment in the dialog and sees it in the agenda."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from patientside import make_patient
from sqlmodel import select

from carnet_core.testing import browser_login, make_staff
from carnet_scheduling.models import Appointment

pytestmark = pytest.mark.browser


def test_a_practitioner_logs_in_opens_the_week_and_books_in_the_dialog(
        live_server, browser_page, carnet_db, carnet_settings, world):
    page = browser_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    nadia = make_staff(carnet_db, carnet_settings, "owner,practitioner", world.clinic, name="Nadia Durand")
    make_patient(carnet_db, world, email_addr="tom.lefevre@example.org", first="Tom", last="Lefèvre")

    # logs in: password, then the second factor
    browser_login(page, live_server, nadia)

    # opens next week's agenda
    monday = date.today() - timedelta(days=date.today().weekday()) + timedelta(days=7)
    page.goto(f"{live_server}/scheduling/?view=week&date={monday.isoformat()}&practitioner={nadia.id}")
    page.locator("#agenda").wait_for()

    # creates an appointment in the dialog: a cell at 10:00, the patient found by name
    page.locator('a.cell[aria-label$=" 10:00"]').nth(1).click(force=True)
    dialog = page.locator("#sched-dialog")
    dialog.locator("#patient-q").wait_for()
    # htmx wires the swapped-in form after it settles: typing earlier sends no search
    page.wait_for_load_state("networkidle")
    searches: list[str] = []
    page.on("request", lambda r: searches.append(f"{r.method} {r.url}") if "/scheduling/patients" in r.url else None)
    with page.expect_response(lambda r: r.url.endswith("/scheduling/patients/search") and r.request.method == "POST"
                              and r.status == 200):
        dialog.locator("#patient-q").fill("Lefèvre")
        dialog.locator("#patient-q").dispatch_event("search")
    # the name travels in the POST body only, never in an address
    assert searches and all(s.startswith("POST ") and "?" not in s and "Lef" not in s for s in searches), searches
    tom = dialog.get_by_label("LEFÈVRE Tom")
    tom.wait_for()
    page.wait_for_load_state("networkidle")  # the search has settled (htmx, 300 ms debounce)
    tom.check()
    with page.expect_response(lambda r: r.url.endswith("/scheduling/appointments") and r.request.method == "POST"):
        dialog.get_by_role("button", name="Réserver").click()

    # and sees it in the week, without a full reload
    page.locator("#agenda a.appt").filter(has_text="LEFÈVRE").first.wait_for()
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        booked = db.exec(select(Appointment)).all()
    assert len(booked) == 1 and booked[0].practitioner_id == nadia.id
    assert not [e for e in errors if "Content Security Policy" in e], errors
