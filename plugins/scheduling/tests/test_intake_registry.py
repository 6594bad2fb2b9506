"""Public intake forms refuse what core's registry would refuse later (issue 13, "a waiting family
that can never accept an offer"): the same phone, e-mail and name rules at intake, and a file the
registry still refuses when an offer is accepted is told as it is, to the family, to staff (the
offer's state) and in the log (no patient data)."""

from __future__ import annotations

import logging

import pytest
from patientside import next_weekday_at
from sqlmodel import select
from test_online_booking import _first_slot
from test_waitlist import _accept_all, _book_and_cancel, _join, _offer_urls

from carnet_core.plugin_api import seal
from carnet_core.testing import csrf_token, wait_for_jobs
from carnet_scheduling.models import BOOKED, Appointment
from carnet_scheduling.patient_models import Offer, OnlineBooking, WaitingEntry
from carnet_scheduling.services import setup

# Nine digits or more (the old check's rule) but not a number the registry accepts (libphonenumber).
NOT_A_NUMBER = ("01 23 45 67 8", "06 12 34 56 78 90 12", "+33 6 12 34")


@pytest.fixture
def hours(carnet_db, world):
    from datetime import time

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        setup.set_working_hours(db, world.practitioner.id, [(d, time(9), time(18), world.place_id, None)
                                                            for d in range(5)])
        kind = setup.create_appointment_type(db, "Bilan en ligne", 30, bookable_online=True)
    world.other["type_id"] = kind.id
    return world


@pytest.mark.parametrize("phone", NOT_A_NUMBER)
def test_the_waiting_list_refuses_at_intake_a_phone_the_registry_refuses(client, hours, carnet_db, phone):
    refused = _join(client, hours, "Tom Martin", "parent.martin@example.org", [hours.practitioner.id], phone=phone)
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html")
    assert "indiquez un numéro comme 06 12 34 56 78" in refused.text
    assert 'value="Tom Martin"' in refused.text  # the form again, what was typed kept
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        assert db.exec(select(WaitingEntry)).all() == []
    accepted = _join(client, hours, "Tom Martin", "parent.martin@example.org", [hours.practitioner.id],
                     phone="06 12 34 56 78")
    assert accepted.status_code == 200


@pytest.mark.parametrize("phone", NOT_A_NUMBER)
def test_online_booking_refuses_at_intake_a_phone_the_registry_refuses(client, hours, carnet_db, phone):
    _, start = _first_slot(client, hours)
    base = f"/p/{hours.clinic.slug}/scheduling"
    refused = client.post(f"{base}/book/{hours.practitioner.id}/{hours.other['type_id']}", data={
        "_csrf_token": csrf_token(client, f"{base}/book"), "start": start, "first_name": "Léa",
        "last_name": "Dupont", "email": "lea.dupont@example.org", "phone": phone}, follow_redirects=False)
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html")
    assert "indiquez un numéro comme 06 12 34 56 78" in refused.text
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        assert db.exec(select(OnlineBooking)).all() == []
        assert db.exec(select(Appointment).where(Appointment.status == BOOKED)).all() == []


def test_an_offer_the_registry_refuses_tells_the_family_staff_and_the_log(
        client, hours, carnet_db, carnet_settings, plugin_host, jobs_worker, caplog, staff, login_as):
    """A file taken before the intake checked like the registry (or changed since): accepting
    cannot register the patient. The family is told why and what to do, not "closed"; the offer
    says so on the staff's list; the log names the offer and the field, never the value."""
    _join(client, hours, "Tom Martin", "parent.martin@example.org", [hours.practitioner.id])
    bad = "0123456789012"
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        db.info["principal"] = "system:tests"
        entry = db.exec(select(WaitingEntry)).one()
        seal(db, entry, "phone", bad)
        db.add(entry)
    _accept_all(carnet_db, hours)
    wait_for_jobs(jobs_worker)
    _book_and_cancel(carnet_db, hours, plugin_host, next_weekday_at(1, 15))
    wait_for_jobs(jobs_worker)
    url = _offer_urls(carnet_settings)["parent.martin@example.org"]
    with caplog.at_level(logging.WARNING, logger="carnet.scheduling.waitlist"):
        answer = client.post(f"{url}/accept", data={"_csrf_token": csrf_token(client, url)})
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("text/html")
    assert "Nous n’avons pas pu réserver ce rendez-vous en ligne" in answer.text
    assert "numéro de téléphone" in answer.text and "appeler le cabinet" in answer.text
    assert "Cette proposition est close" not in answer.text
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        offer = db.exec(select(Offer)).one()
        assert offer.status == "contact_refused" and offer.answered_at is not None
        assert db.exec(select(Appointment).where(Appointment.status == BOOKED)).all() == []
    logged = [r for r in caplog.records if r.name == "carnet.scheduling.waitlist"]
    assert logged and f"offer {offer.id}" in logged[0].getMessage() and "phone" in logged[0].getMessage()
    text = " ".join(r.getMessage() for r in caplog.records)
    assert bad not in text and "Martin" not in text and "parent.martin" not in text
    login_as(client, staff("secretary", clinic=hours.clinic, name="Sonia Secrétaire"))
    listed = client.get(f"/scheduling/waitlist?practitioner_id={hours.practitioner.id}")
    assert listed.status_code == 200 and "coordonnées refusées : à corriger avec la famille" in listed.text



PARENTS = {
    "g0_relation": "mother", "g0_last_name": "Martin", "g0_first_name": "Anne", "g0_email": "anne.martin@example.org",
    "g0_phone": "06 12 34 56 01", "g0_messages": "1",
    "g1_relation": "father", "g1_last_name": "Martin", "g1_first_name": "Paul", "g1_phone": "06 98 76 54 32",
}


def test_the_waiting_list_records_the_child_and_both_parents_up_to_the_registry(
        client, hours, carnet_db, carnet_settings, plugin_host, jobs_worker):
    """Issue 13: the family registers the child (with birth date) and each holder of parental
    authority; a holder the registry would refuse is refused at intake; accepting an offer
    registers the child with both parents through core's registry."""
    from carnet_core.plugin_api import open_
    from carnet_core.testing import Patient, PatientGuardian

    refused = _join(client, hours, "Tom Martin", "anne.martin@example.org", [hours.practitioner.id],
                    birth_date="2017-04-23", **{**PARENTS, "g1_phone": "06 98"})
    assert refused.status_code == 400 and 'value="Anne"' in refused.text and 'value="2017-04-23"' in refused.text
    assert "indiquez un numéro comme 06 12 34 56 78" in refused.text
    no_relation = _join(client, hours, "Tom Martin", "anne.martin@example.org", [hours.practitioner.id],
                        **{**PARENTS, "g1_relation": ""})
    assert no_relation.status_code == 400 and "choisissez le lien avec le patient" in no_relation.text
    future = _join(client, hours, "Tom Martin", "anne.martin@example.org", [hours.practitioner.id],
                   birth_date="2999-01-01")
    assert future.status_code == 400 and "date de naissance" in future.text
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        assert db.exec(select(WaitingEntry)).all() == []
    joined = _join(client, hours, "Tom Martin", "anne.martin@example.org", [hours.practitioner.id],
                   birth_date="2017-04-23", **PARENTS)
    assert joined.status_code == 200
    with carnet_db.engine.connect() as conn:
        raw = repr(conn.exec_driver_sql("SELECT * FROM scheduling_waiting_entry").fetchall())
    assert "2017-04-23" not in raw and "Paul" not in raw  # sealed
    _accept_all(carnet_db, hours)
    wait_for_jobs(jobs_worker)
    _book_and_cancel(carnet_db, hours, plugin_host, next_weekday_at(1, 15))
    wait_for_jobs(jobs_worker)
    url = _offer_urls(carnet_settings)["anne.martin@example.org"]
    accepted = client.post(f"{url}/accept", data={"_csrf_token": csrf_token(client, url)})
    assert accepted.status_code == 200 and "est à vous" in accepted.text
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        db.info["principal"] = "system:tests"
        entry = db.exec(select(WaitingEntry)).one()
        assert entry.patient_id is not None and open_(db, entry, "birth_date") == "2017-04-23"
        patient = db.get(Patient, entry.patient_id)
        assert open_(db, patient, "birth_date") == "2017-04-23" and open_(db, patient, "first_name") == "Tom"
        holders = db.exec(select(PatientGuardian).order_by(PatientGuardian.id)).all()
        assert [(g.relation, open_(db, g, "first_name"), open_(db, g, "phone"), g.may_receive_messages)
                for g in holders] == [("mother", "Anne", "+33612345601", True),
                                      ("father", "Paul", "+33698765432", False)]
