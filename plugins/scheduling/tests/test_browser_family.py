"""In a real browser on a phone (Debian's Chromium, 375 px): a family registers a child with both
parents on the waiting list, receives an offer when a slot frees up, and accepts it (issue 13,
acceptance 3). The child is registered in core's registry with birth date and both holders of
parental authority."""

from __future__ import annotations

from datetime import time

import pytest
from patientside import next_weekday_at
from sqlmodel import select
from test_waitlist import _accept_all, _book_and_cancel, _offer_urls

from carnet_core.plugin_api import open_
from carnet_core.testing import wait_for_jobs
from carnet_scheduling.models import BOOKED, Appointment
from carnet_scheduling.patient_models import WaitingEntry
from carnet_scheduling.services import setup

pytestmark = pytest.mark.browser


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def test_a_family_registers_a_child_with_both_parents_and_accepts_an_offer_on_a_phone(
        live_server, browser_page, carnet_db, world, carnet_settings, plugin_host, jobs_worker):
    from carnet_core.testing import Patient, PatientGuardian

    page = browser_page
    page.set_viewport_size({"width": 375, "height": 800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        setup.set_working_hours(db, world.practitioner.id, [(d, time(9), time(18), world.place_id, None)
                                                            for d in range(5)])
    base = f"{live_server}/p/{world.clinic.slug}/scheduling"

    # the family fills the waiting-list form: the child, then both parents
    page.goto(f"{base}/waitlist")
    _fits(page)
    page.get_by_label("Claire Martin").check()
    page.get_by_label("Nom et prénom du patient").fill("Léo Garnier")
    page.get_by_label("Date de naissance").fill("2018-09-14")
    page.locator("input[name=email]").fill("famille.garnier@example.org")
    page.get_by_label("La situation, avec vos mots").fill("Retard de langage signalé par l'école")
    first, second = page.locator("fieldset fieldset").nth(0), page.locator("fieldset fieldset").nth(1)
    first.get_by_label("Lien avec le patient").select_option("mother")
    first.get_by_label("Nom", exact=True).fill("Garnier")
    first.get_by_label("Prénom").fill("Julie")
    first.get_by_label("Téléphone").fill("06 11 22 33 44")
    second.get_by_label("Lien avec le patient").select_option("father")
    second.get_by_label("Nom", exact=True).fill("Garnier")
    second.get_by_label("Prénom").fill("Marc")
    second.get_by_label("Téléphone").fill("06 55")  # a number the registry refuses: told at once
    page.get_by_role("button", name="Envoyer ma demande").click()
    page.get_by_role("alert").wait_for()
    assert "indiquez un numéro comme 06 12 34 56 78" in page.get_by_role("alert").inner_text()
    _fits(page)
    second = page.locator("fieldset fieldset").nth(1)
    assert second.get_by_label("Prénom").input_value() == "Marc"  # nothing typed is lost
    second.get_by_label("Téléphone").fill("06 55 66 77 88")
    page.get_by_label("Claire Martin").check()
    page.get_by_role("button", name="Envoyer ma demande").click()
    page.wait_for_load_state("load")
    assert "liste d" in page.content().lower()
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert len(db.exec(select(WaitingEntry)).all()) == 1

    # the practitioner accepts the file; a slot frees up and is offered by e-mail
    _accept_all(carnet_db, world)
    wait_for_jobs(jobs_worker)
    _book_and_cancel(carnet_db, world, plugin_host, next_weekday_at(1, 15))
    wait_for_jobs(jobs_worker)
    offer = live_server + _offer_urls(carnet_settings)["famille.garnier@example.org"]

    # on the phone, the family opens the offer and accepts it
    page.goto(offer)
    _fits(page)
    page.get_by_role("button", name="Je prends ce rendez-vous").click()
    page.wait_for_load_state("load")
    assert "Le rendez-vous est à vous" in page.content()
    _fits(page)
    assert not [e for e in errors if "status of 400" not in e], errors  # the refused form answered 400

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        entry = db.exec(select(WaitingEntry)).one()
        patient = db.get(Patient, entry.patient_id)
        assert open_(db, patient, "birth_date") == "2018-09-14"
        holders = db.exec(select(PatientGuardian).order_by(PatientGuardian.id)).all()
        assert [(g.relation, open_(db, g, "first_name")) for g in holders] == [("mother", "Julie"), ("father", "Marc")]
        booked = db.exec(select(Appointment).where(Appointment.patient_id == patient.id,
                                                   Appointment.status == BOOKED)).all()
        assert len(booked) == 1
