"""Waiting list: the public intake form (one file, several lists, sealed), triage with visible
priority rules, offers of a freed slot (first to accept gets it, database-enforced), expiry,
"still interested?" removing silent files, and no health data in any message."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from patientside import assert_no_health_data, mail_text, mails, make_patient, next_weekday_at
from sqlmodel import select

from carnet_core.testing import csrf_token, wait_for_jobs
from carnet_scheduling.models import BOOKED, CANCELLED, Appointment
from carnet_scheduling.patient_models import Offer, WaitingEntry, WaitingListing
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import setup, waitlist

SITUATION = "Bégaiement-Canari-9902 depuis la rentrée"


@pytest.fixture
def hours(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        for who in (world.practitioner.id, world.colleague.id):
            setup.set_working_hours(db, who, [(d, time(9), time(18), world.place_id, None) for d in range(5)])
    return world


def _join(client, world, name: str, email: str, practitioners, **extra):
    base = f"/p/{world.clinic.slug}/scheduling"
    data = {"_csrf_token": csrf_token(client, f"{base}/waitlist"), "full_name": name, "email": email,
            "situation": SITUATION, "prescription": "Dr Canari, 30 séances", "age_years": extra.pop("age", "9"),
            "practitioners": [str(p) for p in practitioners], **extra}
    return client.post(f"{base}/waitlist", data=data)


def _accept_all(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        for listing in db.exec(select(WaitingListing)).all():
            waitlist.triage(db, listing.id, listing.practitioner_id, "accept")


def test_one_file_joins_several_lists_and_its_fields_are_sealed(client, hours, carnet_db, carnet_settings, jobs_worker):
    response = _join(client, hours, "Tom Martin", "parent.martin@example.org",
                     [hours.practitioner.id, hours.colleague.id], availability=["1:afternoon", "3:afternoon"])
    assert response.status_code == 200
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        entry = db.exec(select(WaitingEntry)).one()
        assert sorted(lst.practitioner_id for lst in db.exec(select(WaitingListing))) == sorted(
            [hours.practitioner.id, hours.colleague.id])
    with carnet_db.engine.connect() as conn:
        raw = repr(conn.exec_driver_sql("SELECT * FROM scheduling_waiting_entry").fetchall())
    assert "Bégaiement" not in raw and "Tom Martin" not in raw and entry.availability.startswith("[[1")
    wait_for_jobs(jobs_worker)
    assert len(mails(carnet_settings)) == 1
    assert_no_health_data(carnet_settings, "Bégaiement", "Canari")


def test_bad_intake_is_refused_and_writes_nothing(client, hours, carnet_db):
    assert _join(client, hours, "", "x@example.org", [hours.practitioner.id]).status_code == 400
    assert _join(client, hours, "A B", "not-mail", [hours.practitioner.id]).status_code == 400
    assert _join(client, hours, "A B", "a@example.org", [999]).status_code == 400
    assert _join(client, hours, "A B", "a@example.org", [hours.practitioner.id], age="abc").status_code == 400
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        assert db.exec(select(WaitingEntry)).all() == []


def test_priority_rules_order_the_list_visibly(client, hours, carnet_db):
    _join(client, hours, "Adulte Patient", "a@example.org", [hours.practitioner.id], age="40")
    _join(client, hours, "Enfant Patient", "b@example.org", [hours.practitioner.id], age="7")
    _join(client, hours, "Urgent Patient", "c@example.org", [hours.practitioner.id], age="40", urgent="1")
    rules = waitlist.PriorityRules()
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        ranked = waitlist.ranked(db, hours.practitioner.id, rules)
        from carnet_core.plugin_api import open_

        names = [open_(db, entry, "full_name") for _l, entry, _p, _parts in ranked]
        assert names == ["Urgent Patient", "Enfant Patient", "Adulte Patient"]
        adult = ranked[2][0]
        waitlist.triage(db, adult.id, hours.practitioner.id, "priority", priority=3)
        ranked = waitlist.ranked(db, hours.practitioner.id, rules)
        assert open_(db, ranked[0][1], "full_name") == "Adulte Patient" and ranked[0][3]["triage"] == 90


def _book_and_cancel(carnet_db, world, plugin_host, start: datetime) -> Appointment:
    patient_id = make_patient(carnet_db, world, email_addr="occupant@example.org", last="Occupant")
    hooks = plugin_host.for_clinic({"scheduling"})
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        appt = appts.book(db, practitioner_id=world.practitioner.id, patient_id=patient_id,
                          appointment_type_id=world.session_type_id, starts_at=start, hooks=hooks)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        appts.cancel(db, appts.get_appointment(db, appt.id), "malade", hooks=hooks)
    return appt


def _offer_urls(settings) -> dict[str, str]:
    urls = {}
    for msg in mails(settings):
        found = re.search(r"(http://\S+/scheduling/o/\S+)", mail_text(msg))
        if found:
            urls[msg["To"]] = found.group(1).replace(settings.base_url, "")
    return urls


def test_a_freed_slot_is_offered_and_the_first_to_accept_gets_it(
        client, hours, carnet_db, carnet_settings, plugin_host, jobs_worker):
    start = next_weekday_at(1, 15)  # a Tuesday afternoon
    _join(client, hours, "Premier Patient", "premier@example.org", [hours.practitioner.id], availability="1:afternoon")
    _join(client, hours, "Second Patient", "second@example.org", [hours.practitioner.id])
    _join(client, hours, "Matin Seulement", "matin@example.org", [hours.practitioner.id], availability="1:morning")
    _accept_all(carnet_db, hours)
    wait_for_jobs(jobs_worker)
    _book_and_cancel(carnet_db, hours, plugin_host, start)
    wait_for_jobs(jobs_worker)
    urls = _offer_urls(carnet_settings)
    assert sorted(urls) == ["premier@example.org", "second@example.org"]  # not the morning-only file
    first, second = urls["second@example.org"], urls["premier@example.org"]
    assert client.get(first).status_code == 200
    accepted = client.post(f"{first}/accept", data={"_csrf_token": csrf_token(client, first)})
    assert accepted.status_code == 200 and "est à vous" in accepted.text
    late = client.post(f"{second}/accept", data={"_csrf_token": csrf_token(client, "/")})
    assert late.status_code in (404, 409, 410)
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        booked = db.exec(select(Appointment).where(Appointment.status == BOOKED)).all()
        offers = {o.status for o in db.exec(select(Offer))}
    assert len(booked) == 1 and booked[0].starts_at == start and booked[0].source == "waitlist"
    assert offers == {"accepted", "taken"}
    wait_for_jobs(jobs_worker)
    assert_no_health_data(carnet_settings, "Bégaiement", "Canari")


def test_offers_expire_and_the_slot_goes_to_the_next_files(client, hours, carnet_db, carnet_settings, plugin_host,
                                                            jobs_worker):
    for i in range(4):
        _join(client, hours, f"Patient {i}", f"p{i}@example.org", [hours.practitioner.id])
    _accept_all(carnet_db, hours)
    _book_and_cancel(carnet_db, hours, plugin_host, next_weekday_at(2, 10))
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        first_round = db.exec(select(Offer)).all()
        assert len(first_round) == 3
        expired = waitlist.expire_offers(db, waitlist.WaitRules(), waitlist.PriorityRules(),
                                         now=first_round[0].expires_at + timedelta(seconds=1))
        assert expired == 3
        statuses = sorted(o.status for o in db.exec(select(Offer)))
    assert statuses == ["expired", "expired", "expired", "offered"]


def test_an_existing_patient_can_ask_for_an_earlier_slot_and_moves_when_accepting(
        client, hours, carnet_db, carnet_settings, plugin_host, jobs_worker):
    patient_id = make_patient(carnet_db, hours, email_addr="tard@example.org", last="Tard")
    hooks = plugin_host.for_clinic({"scheduling"})
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        db.info["principal"] = "system:tests"
        later = appts.book(db, practitioner_id=hours.practitioner.id, patient_id=patient_id,
                           appointment_type_id=hours.session_type_id, starts_at=next_weekday_at(3, 11, weeks=4),
                           hooks=hooks)
        waitlist.ask_for_earlier(db, later)
    _book_and_cancel(carnet_db, hours, plugin_host, next_weekday_at(3, 11, weeks=1))
    wait_for_jobs(jobs_worker)
    url = _offer_urls(carnet_settings)["tard@example.org"]
    assert client.post(f"{url}/accept", data={"_csrf_token": csrf_token(client, url)}).status_code == 200
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        mine = db.exec(select(Appointment).where(Appointment.patient_id == patient_id)
                       .order_by(Appointment.starts_at)).all()
    assert [a.status for a in mine] == [BOOKED, CANCELLED]


def test_still_interested_asks_then_removes_silent_files(client, hours, carnet_db, carnet_settings, jobs_worker):
    _join(client, hours, "Silencieux", "silence@example.org", [hours.practitioner.id])
    _join(client, hours, "Répond", "repond@example.org", [hours.practitioner.id])
    rules = waitlist.WaitRules()
    later = datetime.now(UTC) + rules.reconfirm_every + timedelta(days=1)
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        db.info["principal"] = "system:tests"
        assert waitlist.still_interested_round(db, rules, now=later) == (2, 0)
    wait_for_jobs(jobs_worker)
    answer = [re.search(r"(http://\S+/scheduling/w/\S+)", mail_text(m)).group(1).replace(carnet_settings.base_url, "")
              for m in mails(carnet_settings) if m["To"] == "repond@example.org" and "/w/" in mail_text(m)][0]
    response = client.post(answer, data={"_csrf_token": csrf_token(client, answer), "answer": "yes"})
    assert response.status_code == 200
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        # the silent file is removed; the one who answered is asked again only at the next interval
        assert waitlist.still_interested_round(db, rules, now=later + rules.reply_within) == (1, 1)
        states = {e.status for e in db.exec(select(WaitingEntry))}
    assert states == {"active", "removed"}


def test_the_waiting_list_file_its_offers_and_reminders_are_in_the_patients_export(
        client, hours, carnet_db, carnet_settings, plugin_host, jobs_worker):
    """The RGPD export holds what the family wrote on the waiting list (decrypted), the lists and
    offers of that file, and the reminders and online bookings of the patient's appointments."""
    from carnet_scheduling.services.exports import export_for_patient

    _join(client, hours, "Export Patient", "export@example.org", [hours.practitioner.id])
    _accept_all(carnet_db, hours)
    _book_and_cancel(carnet_db, hours, plugin_host, next_weekday_at(1, 15))
    wait_for_jobs(jobs_worker)
    url = _offer_urls(carnet_settings)["export@example.org"]
    assert client.post(f"{url}/accept", data={"_csrf_token": csrf_token(client, url)}).status_code == 200
    with carnet_db.session(clinic_id=hours.clinic.id) as db:
        db.info["principal"] = "system:tests"
        entry = db.exec(select(WaitingEntry)).one()
        export = export_for_patient(db, entry.patient_id)
    (waiting,) = export["waiting_list"]
    assert waiting["full_name"] == "Export Patient" and waiting["situation"] == SITUATION
    assert waiting["email"] == "export@example.org" and waiting["status"] == "booked"
    assert [lst["practitioner_id"] for lst in waiting["lists"]] == [hours.practitioner.id]
    (offer,) = waiting["offers"]
    assert offer["status"] == "accepted" and offer["booked_appointment_id"] == export["appointments"][0]["id"]
    assert {r["appointment_id"] for r in export["reminders"]} <= {a["id"] for a in export["appointments"]}
    assert export["reminder_opt_outs"] == [] and export["online_bookings"] == []
