"""In a real browser (Debian's Chromium): a patient books from the public page, receives the
e-mail in the mail folder, confirms, cancels through the link in the confirmation, and the freed
slot is offered to the waiting list."""

from __future__ import annotations

import re
from datetime import time

import pytest
from patientside import assert_no_health_data, mail_text, mails
from sqlmodel import select

from carnet_core.testing import wait_for_jobs
from carnet_scheduling.patient_models import Offer, WaitingListing
from carnet_scheduling.services import setup, waitlist

pytestmark = pytest.mark.browser


def _link(settings, live_server, pattern: str, subject_word: str) -> str:
    for msg in mails(settings):
        if subject_word in str(msg["Subject"]):
            found = re.search(pattern, mail_text(msg))
            if found:
                return found.group(0).replace(settings.base_url, live_server)
    raise AssertionError(f"no mail about {subject_word!r} with {pattern!r}")


def test_a_patient_books_confirms_cancels_and_the_slot_goes_to_the_waiting_list(
        live_server, browser_page, carnet_db, world, carnet_settings, jobs_worker):
    page = browser_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        setup.set_working_hours(db, world.practitioner.id, [(d, time(9), time(17), world.place_id, None)
                                                            for d in range(5)])
    base = f"{live_server}/p/{world.clinic.slug}/scheduling"

    # someone joins the waiting list through the public form, and is accepted
    page.goto(f"{base}/waitlist")
    page.get_by_label("Claire Martin").check()
    page.get_by_label("Nom et prénom du patient").fill("Jules Attente")
    page.get_by_label("Âge (ans)").fill("8")
    page.locator("input[name=email]").fill("attente@example.org")
    page.get_by_label("La situation, avec vos mots").fill("Retard de langage-Canari")
    page.get_by_role("button", name="Envoyer ma demande").click()
    page.get_by_text("Votre demande est enregistrée").wait_for()
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        listing = db.exec(select(WaitingListing)).one()
        waitlist.triage(db, listing.id, world.practitioner.id, "accept")

    # a patient books the first free time of the "Bilan" (bookable online)
    page.goto(f"{base}/book")
    page.get_by_role("link", name=re.compile("Bilan")).first.click()
    page.locator("a.slot").first.click()
    page.get_by_label("Prénom").fill("Léa")
    page.get_by_label("Nom", exact=True).fill("Dupont")
    page.get_by_label("E-mail").fill("lea.dupont@example.org")
    page.get_by_role("button", name="Réserver cet horaire").click()
    page.get_by_role("heading", name="Confirmez votre rendez-vous").wait_for()

    # the code arrives in the mail folder; typed in, it confirms the booking
    wait_for_jobs(jobs_worker)
    code = next(re.search(r"^\s+(\d{6})\s*$", mail_text(m), re.M).group(1) for m in mails(carnet_settings)
                if "code" in str(m["Subject"]))
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Confirmer").click()
    page.get_by_role("heading", name="Votre rendez-vous est confirmé").wait_for()

    # the confirmation e-mail carries the link to cancel
    wait_for_jobs(jobs_worker)
    manage = _link(carnet_settings, live_server, r"http://\S+/scheduling/a/\S+", "confirmé")
    page.goto(manage)
    # moving leads; cancelling is opened first, then confirmed with a reason
    assert page.locator("button.primary").inner_text() == "Déplacer le rendez-vous"
    page.locator("summary", has_text="Annuler le rendez-vous").click()
    page.get_by_label("Motif (obligatoire)").fill("Empêchement")
    page.get_by_role("button", name="Oui, annuler le rendez-vous").click()
    page.get_by_role("heading", name="Votre rendez-vous est annulé").wait_for()

    # the freed time is offered to the waiting list, and the offer can be taken
    wait_for_jobs(jobs_worker)
    offer = _link(carnet_settings, live_server, r"http://\S+/scheduling/o/\S+", "libéré")
    page.goto(offer)
    page.get_by_role("button", name="Je prends ce rendez-vous").click()
    page.get_by_role("heading", name="Le rendez-vous est à vous").wait_for()
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Offer.status)).all() == ["accepted"]
    wait_for_jobs(jobs_worker)
    assert_no_health_data(carnet_settings, "Retard de langage", "Canari")
    assert not [e for e in errors if "Content Security Policy" in e], errors
