"""Staff cancel a whole day (the practitioner is ill) and every patient of that day is told; staff
moving or cancelling one appointment may tell the patient ("prévenir le patient", checked by
default) with the same messages and links patients get when they act themselves (issue 13)."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
import sqlalchemy as sa
from patientside import (
    CANARY_CARE,
    SmsGateway,
    assert_no_health_data,
    mail_text,
    mails,
    next_weekday_at,
    sms_files,
)
from sqlmodel import select

from carnet_core.plugin_api import Principal, patient_access
from carnet_core.testing import AuditRecord, OutboxMessage, csrf_token, wait_for_jobs
from carnet_scheduling.models import BOOKED, CANCELLED, Appointment, AvailabilityException
from carnet_scheduling.patient_models import Offer, WaitingListing
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import notices, setup
from carnet_scheduling.services.calendar import local_date

CANARY_REASON = "GrippeCanari-5521"


def _register(carnet_db, world, last, first, **contact) -> int:
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        principal = Principal(kind="user", user_id=world.practitioner.id, clinic_id=world.clinic.id,
                              roles=frozenset({"owner", "practitioner"}), permissions=frozenset())
        return patient_access(db, principal).register({"last_name": last, "first_name": first, **contact})


def _secretary(world) -> Principal:
    """The secretary as a request would carry her (she sees every patient of the clinic)."""
    return Principal(kind="user", user_id=world.secretary.id, clinic_id=world.clinic.id,
                     roles=frozenset({"secretary"}), permissions=frozenset({"core.patients.view_all"}))


@pytest.fixture
def inline_plugins(inline_plugins, request):
    """An SMS provider is installed unless the test says `none` (parametrized indirectly)."""
    if getattr(request, "param", "gateway") == "gateway":
        inline_plugins.add("smsgateway", SmsGateway())
    return inline_plugins


@pytest.fixture
def day(carnet_db, world, plugin_host):
    """Next week's Tuesday for the practitioner: a patient with an e-mail (9:00), one with a phone
    only (10:00), one with no contact (11:00), and a colleague's appointment that stays."""
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        care = setup.create_appointment_type(db, CANARY_CARE, 30)
    people = [
        _register(carnet_db, world, "Durand", "Inès", email="ines.durand@example.org", phone="+33611111111"),
        _register(carnet_db, world, "Petit", "Hugo", phone="+33622222222"),
        _register(carnet_db, world, "Robin", "Zoé"),
    ]
    hooks = plugin_host.for_clinic({"scheduling"})
    first = next_weekday_at(1, 9)
    booked = []
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        for n, patient_id in enumerate(people):
            booked.append(appts.book(db, practitioner_id=world.practitioner.id, patient_id=patient_id,
                                     appointment_type_id=care.id, starts_at=first + timedelta(hours=n),
                                     notes=None, hooks=hooks).id)
        other = appts.book(db, practitioner_id=world.colleague.id, patient_id=world.patients[0],
                           appointment_type_id=world.session_type_id, starts_at=first, hooks=hooks).id
    return {"date": local_date(first, "Europe/Paris"), "ids": booked, "other": other, "patients": people,
            "first": first}


def _cancel_day(carnet_db, world, plugin_host, the_day, **options):
    hooks = plugin_host.for_clinic({"scheduling"})
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = _secretary(world)
        return notices.cancel_day(db, plugin_host, practitioner_id=world.practitioner.id, the_day=the_day,
                                  reason=CANARY_REASON, hooks=hooks, absence_label="Journée annulée", **options)


def test_cancelling_a_day_cancels_it_and_tells_every_patient_once_without_health_data(
        carnet_db, world, plugin_host, carnet_settings, jobs_worker, day):
    # given a day of three appointments; when the secretary cancels it
    done = _cancel_day(carnet_db, world, plugin_host, day["date"])
    assert [a.id for a in done.appointments] == day["ids"]
    assert [done.channels[i][0] for i in day["ids"]] == ["email", "sms", "call"]
    wait_for_jobs(jobs_worker)
    # then the patient with an e-mail got the cancellation mail (with its calendar cancellation) …
    sent = mails(carnet_settings)
    assert [m["To"] for m in sent] == ["ines.durand@example.org"]
    assert "annulé" in str(sent[0]["Subject"]) and "annulé" in mail_text(sent[0])
    assert any(p.get_content_type() == "text/calendar" for p in sent[0].walk())
    # … the one with a phone only got an SMS; nobody could tell the third: staff call
    texts = sms_files(carnet_settings)
    assert len(texts) == 1 and "+33622222222" in texts[0] and "annulé" in texts[0]
    assert_no_health_data(carnet_settings, CANARY_REASON)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        statuses = {a.id: a.status for a in db.exec(select(Appointment))}
        absence = db.exec(select(AvailabilityException)).one()
    assert [statuses[i] for i in day["ids"]] == [CANCELLED] * 3 and statuses[day["other"]] == BOOKED
    assert absence.practitioner_id == world.practitioner.id and absence.label == "Journée annulée"

    # when every job runs again (a redelivery), each message is recorded sent once
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.update(OutboxMessage.__table__).values(status="pending", claimed_until=None))
    wait_for_jobs(jobs_worker)
    assert len(mails(carnet_settings)) == 1 and len(sms_files(carnet_settings)) == 1
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        sends = db.exec(select(AuditRecord).where(AuditRecord.action == "send")).all()
    assert sorted(e.patient_id for e in sends) == sorted(day["patients"][:2])

    # when the day is cancelled again (a second click), nothing more is cancelled or sent
    again = _cancel_day(carnet_db, world, plugin_host, day["date"])
    wait_for_jobs(jobs_worker)
    assert again.appointments == [] and len(mails(carnet_settings)) == 1 and len(sms_files(carnet_settings)) == 1


def test_an_absent_day_is_not_offered_to_the_waiting_list(
        carnet_db, world, plugin_host, carnet_settings, jobs_worker, day):
    from carnet_scheduling.services.waitlist import PriorityRules, WaitRules, offer_freed_slot

    _cancel_day(carnet_db, world, plugin_host, day["date"], tell=False)
    wait_for_jobs(jobs_worker)
    assert mails(carnet_settings) == [] and sms_files(carnet_settings) == []  # not told: nothing sent
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        freed = db.exec(select(Appointment).where(Appointment.id == day["ids"][0])).one()
        assert notices.day_appointments(db, world.practitioner.id, day["date"]) == []
        # the job's service refuses to offer a time the practitioner is away
        assert offer_freed_slot(db, freed, WaitRules(), PriorityRules()) == []
        assert db.exec(select(Offer)).all() == []


def _waiting(carnet_db, world, name: str, email: str) -> int:
    """A family on the practitioner's list, accepted, free on Tuesday mornings."""
    from carnet_scheduling.services import waitlist

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        entry = waitlist.join(db, {"full_name": name, "email": email, "situation": "Bégaiement",
                                   "availability": ["1:morning"]}, [world.practitioner.id])
        for listing in db.exec(select(WaitingListing).where(WaitingListing.entry_id == entry.id)):
            waitlist.triage(db, listing.id, world.practitioner.id, "accept")
        return entry.id


def _offers_to(carnet_settings, address: str) -> list[str]:
    return [re.search(r"(http://\S+/scheduling/o/\S+)", mail_text(m)).group(1).replace(carnet_settings.base_url, "")
            for m in mails(carnet_settings) if m["To"] == address and "/scheduling/o/" in mail_text(m)]


def test_a_day_cancelled_without_an_absence_tells_its_patients_and_offers_each_time_to_the_waiting_list(
        client, carnet_db, world, plugin_host, carnet_settings, jobs_worker, day):
    # given two families waiting for the practitioner, free on Tuesday mornings
    first_family = _waiting(carnet_db, world, "Léa Premier", "famille.premier@example.org")
    second_family = _waiting(carnet_db, world, "Noé Second", "famille.second@example.org")
    wait_for_jobs(jobs_worker)
    # when the secretary cancels the ill practitioner's day without recording an absence
    done = _cancel_day(carnet_db, world, plugin_host, day["date"], absent=False)
    wait_for_jobs(jobs_worker)
    # then each patient of the day is told, as when the absence is recorded
    assert [done.channels[i][0] for i in day["ids"]] == ["email", "sms", "call"]
    assert any(m["To"] == "ines.durand@example.org" and "annulé" in mail_text(m) for m in mails(carnet_settings))
    assert len(sms_files(carnet_settings)) == 1
    # and one freed time (whichever job ran first) is offered to both families: a file holds one
    # offer at a time, so the day's other times find nobody free yet
    times = [day["first"] + timedelta(hours=n) for n in range(3)]
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(AvailabilityException)).all() == []
        offers = db.exec(select(Offer).order_by(Offer.id)).all()
    offered_at = offers[0].starts_at
    assert offered_at in times
    assert {(o.entry_id, o.starts_at) for o in offers} == {(first_family, offered_at), (second_family, offered_at)}
    first_link = _offers_to(carnet_settings, "famille.premier@example.org")
    second_first = _offers_to(carnet_settings, "famille.second@example.org")
    assert len(first_link) == 1 and len(second_first) == 1
    # when the first family takes it, the second is offered the day's next time
    taken = client.post(f"{first_link[0]}/accept", data={"_csrf_token": csrf_token(client, first_link[0])})
    assert taken.status_code == 200, taken.text
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        offered = {(o.entry_id, o.starts_at, o.status) for o in db.exec(select(Offer))}
    assert (second_family, offered_at, "taken") in offered
    again = [start for entry, start, status in offered if entry == second_family and status == "offered"]
    assert len(again) == 1 and again[0] in times and again[0] != offered_at
    second_new = [link for link in _offers_to(carnet_settings, "famille.second@example.org") if link not in second_first]
    assert len(second_new) == 1
    # when the second family declines that one, it is offered the day's last time
    declined = client.post(f"{second_new[0]}/decline", data={"_csrf_token": csrf_token(client, second_new[0])})
    assert declined.status_code == 200, declined.text
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        still = [o.starts_at for o in db.exec(select(Offer).where(Offer.entry_id == second_family,
                                                                   Offer.status == "offered"))]
    assert still == [t for t in times if t not in (offered_at, again[0])]
    assert_no_health_data(carnet_settings, CANARY_REASON, "Bégaiement")


def test_a_past_day_an_unknown_practitioner_or_no_reason_is_refused_and_nothing_changes(
        carnet_db, world, plugin_host, jobs_worker, day):
    from carnet_scheduling.services.errors import SchedulingError

    hooks = plugin_host.for_clinic({"scheduling"})
    cases = [
        {"practitioner_id": world.practitioner.id, "the_day": day["date"] - timedelta(days=30), "reason": "x"},
        {"practitioner_id": world.secretary.id, "the_day": day["date"], "reason": "x"},
        {"practitioner_id": world.practitioner.id, "the_day": day["date"], "reason": "  "},
    ]
    for case in cases:
        with carnet_db.session(clinic_id=world.clinic.id) as db, pytest.raises(SchedulingError):
            db.info["principal"] = _secretary(world)
            notices.cancel_day(db, plugin_host, hooks=hooks, **case)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert {a.status for a in db.exec(select(Appointment))} == {BOOKED}
        assert db.exec(select(AvailabilityException)).all() == []


# --- the pages ----------------------------------------------------------------------------------


def test_the_secretary_sees_who_will_be_told_then_cancels_the_day_and_gets_the_list_to_call(
        client, login_as, staff, carnet_db, world, carnet_settings, jobs_worker, day):
    login_as(client, staff("secretary", clinic=world.clinic))
    today = client.get(f"/scheduling/today?date={day['date']}&practitioner={world.practitioner.id}")
    assert f"/scheduling/day-off?date={day['date']}&amp;practitioner={world.practitioner.id}" in today.text
    form = client.get(f"/scheduling/day-off?date={day['date']}&practitioner={world.practitioner.id}")
    assert form.status_code == 200, form.text
    assert "3 rendez-vous à annuler" in form.text and "DURAND Inès" in form.text
    assert "par e-mail" in form.text and "par SMS" in form.text and "à appeler" in form.text
    # a missing reason: the form again, French error, nothing cancelled
    refused = client.post("/scheduling/day-off", data={"date": str(day["date"]),
                                                       "practitioner": str(world.practitioner.id),
                                                       "tell": "1", "absent": "1", "reason": ""})
    assert refused.status_code == 422 and "text/html" in refused.headers["content-type"]
    assert "dites pourquoi" in refused.text.lower()
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert {a.status for a in db.exec(select(Appointment))} == {BOOKED}
    done = client.post("/scheduling/day-off", data={"date": str(day["date"]), "practitioner": str(world.practitioner.id),
                                                    "tell": "1", "absent": "1", "reason": CANARY_REASON})
    assert done.status_code == 200, done.text
    assert "3 rendez-vous annulés" in done.text and "1 patient prévenu par e-mail" in done.text
    assert "1 par SMS" in done.text and "ROBIN Zoé" in done.text and "À appeler" in done.text
    wait_for_jobs(jobs_worker)
    assert [m["To"] for m in mails(carnet_settings)] == ["ines.durand@example.org"]
    assert_no_health_data(carnet_settings, CANARY_REASON)


def test_a_day_in_the_past_is_refused_with_a_page(client, login_as, staff, world, day):
    login_as(client, staff("secretary", clinic=world.clinic))
    past = client.get(f"/scheduling/day-off?date={day['date'] - timedelta(days=30)}&practitioner={world.practitioner.id}")
    assert past.status_code == 400 and "ne peut pas être annulée" in past.text


def test_staff_cancel_or_move_one_appointment_and_tell_the_patient_when_asked(
        client, login_as, staff, carnet_db, world, carnet_settings, jobs_worker, day):
    first, second, third = day["ids"]
    login_as(client, staff("secretary", clinic=world.clinic))
    dialog = client.get(f"/scheduling/appointments/{first}")
    assert 'name="tell"' in dialog.text and "checked" in dialog.text and "Prévenir le patient" in dialog.text
    no_contact = client.get(f"/scheduling/appointments/{third}")
    assert 'name="tell"' not in no_contact.text and "ne peut pas être prévenu" in no_contact.text
    # moved with "tell": the patient gets the new time and a new manage link
    new_time = day["first"] + timedelta(days=1)
    local = new_time.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    r = client.post(f"/scheduling/appointments/{first}/move", data={
        "date": local.date().isoformat(), "time": local.strftime("%H:%M"), "tell": "1"}, follow_redirects=False)
    assert r.status_code == 303
    wait_for_jobs(jobs_worker)
    moved = mails(carnet_settings)
    assert len(moved) == 1 and "déplacé" in str(moved[0]["Subject"])
    assert "/scheduling/a/" in mail_text(moved[0])
    # cancelled without "tell": nothing sent; with "tell": the SMS for the phone-only patient
    client.post(f"/scheduling/appointments/{first}/cancel", data={"reason": CANARY_REASON}, follow_redirects=False)
    client.post(f"/scheduling/appointments/{second}/cancel", data={"reason": CANARY_REASON, "tell": "1"},
                follow_redirects=False)
    wait_for_jobs(jobs_worker)
    assert len(mails(carnet_settings)) == 1
    texts = sms_files(carnet_settings)
    assert len(texts) == 1 and "+33622222222" in texts[0]
    assert_no_health_data(carnet_settings, CANARY_REASON)


def test_phones_and_dates_are_written_the_french_way():
    from datetime import date

    from carnet_core.plugin_api import long_date, phone_display

    assert phone_display("+33612345601") == "06 12 34 56 01"
    assert phone_display("+262692123456") == "0692 12 34 56"  # La Réunion dials nationally
    assert phone_display("+442079460958") == "+44 20 7946 0958"
    assert phone_display("pas un numéro") == "pas un numéro"
    assert long_date(date(2026, 12, 1)) == "mardi 1er décembre 2026"
    assert long_date(date(2026, 12, 2), weekday=False, year=False) == "2 décembre"
    assert long_date(date(2026, 12, 1), "en") == "Tuesday 1 December 2026"


def test_staff_moving_into_the_past_or_out_of_hours_must_confirm(client, login_as, staff, carnet_db, world, day):
    from zoneinfo import ZoneInfo

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        setup.set_working_hours(db, world.practitioner.id, [(d, time(9), time(18), world.place_id, None)
                                                            for d in range(5)])
    first = day["ids"][0]
    login_as(client, staff("secretary", clinic=world.clinic))
    late = (day["first"] + timedelta(days=1)).astimezone(ZoneInfo("Europe/Paris")).replace(hour=21)
    form = {"date": late.date().isoformat(), "time": "21:00"}
    asked = client.post(f"/scheduling/appointments/{first}/move", data=form)
    # the dialog again, with the typed time kept and a "move anyway" box; nothing moved
    assert asked.status_code == 422 and 'name="override"' in asked.text and 'value="21:00"' in asked.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Appointment).where(Appointment.id == first)).one().starts_at == day["first"]
    moved = client.post(f"/scheduling/appointments/{first}/move", data={**form, "override": "1"},
                        follow_redirects=False)
    assert moved.status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Appointment).where(Appointment.id == first)).one().starts_at == late.astimezone(
            day["first"].tzinfo)


def test_the_appointment_dialog_links_to_the_patient_file_and_shows_the_phone(client, login_as, staff, world, day):
    first, second, _third = day["ids"]
    login_as(client, staff("secretary", clinic=world.clinic))
    dialog = client.get(f"/scheduling/appointments/{second}")
    assert f'href="/patients/{day["patients"][1]}"' in dialog.text and "Dossier du patient" in dialog.text
    assert 'href="tel:+33622222222"' in dialog.text and "06 22 22 22 22" in dialog.text


# --- without an SMS provider: only what really leaves is announced (issue 13) -----------------


@pytest.mark.parametrize("inline_plugins", ["none"], indirect=True)
def test_without_an_sms_provider_no_page_announces_an_sms_and_the_phone_only_patient_is_to_call(
        inline_plugins, plugin_host, client, login_as, staff, carnet_db, world, carnet_settings, jobs_worker, day):
    from carnet_core.plugin_api import sms_transport

    assert sms_transport(plugin_host) is None
    first, second, third = day["ids"]
    login_as(client, staff("secretary", clinic=world.clinic))
    form = client.get(f"/scheduling/day-off?date={day['date']}&practitioner={world.practitioner.id}")
    assert form.status_code == 200
    assert "SMS" not in form.text and "Prévenir les patients par e-mail" in form.text
    channels = re.findall(r"<td>(par e-mail|par SMS|à appeler)", form.text)
    assert channels == ["par e-mail", "à appeler", "à appeler"]  # the phone-only patient is to call
    # the appointment dialog of the phone-only patient: no "Prévenir le patient (par SMS)", a number to call
    dialog = client.get(f"/scheduling/appointments/{second}")
    assert 'name="tell"' not in dialog.text and "par SMS" not in dialog.text
    assert "les SMS ne sont pas configurés : appelez-le au 06 22 22 22 22" in dialog.text
    # the public pages ask for a phone without promising SMS reminders
    public = client.get(f"/p/{world.clinic.slug}/scheduling/waitlist")
    assert "rappels SMS" not in public.text and "Téléphone (facultatif)" in public.text
    done = client.post("/scheduling/day-off", data={"date": str(day["date"]), "practitioner": str(world.practitioner.id),
                                                    "tell": "1", "absent": "1", "reason": CANARY_REASON})
    assert done.status_code == 200
    assert "1 patient prévenu par e-mail." in done.text and "SMS" not in done.text
    assert "HUGO" in done.text.upper() and "06 22 22 22 22" in done.text  # listed to call, with the number
    wait_for_jobs(jobs_worker)
    assert [m["To"] for m in mails(carnet_settings)] == ["ines.durand@example.org"]
    assert sms_files(carnet_settings) == []  # nothing written for a patient who was never going to get it


def test_families_whose_offer_lapsed_are_offered_the_day_s_other_times(
        carnet_db, world, plugin_host, carnet_settings, jobs_worker, day):
    from carnet_scheduling.services.waitlist import PriorityRules, WaitRules, expire_offers

    families = {_waiting(carnet_db, world, "Léa Premier", "famille.premier@example.org"),
                _waiting(carnet_db, world, "Noé Second", "famille.second@example.org")}
    _cancel_day(carnet_db, world, plugin_host, day["date"], absent=False)
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        first = db.exec(select(Offer)).all()
        assert {o.entry_id for o in first} == families and len({o.starts_at for o in first}) == 1
        # when nobody answered in time
        assert expire_offers(db, WaitRules(), PriorityRules(), now=first[0].expires_at + timedelta(minutes=1)) == 2
        open_now = db.exec(select(Offer).where(Offer.status == "offered")).all()
    # then both are offered another time of the day (not the lapsed one again)
    assert {o.entry_id for o in open_now} == families
    assert len({o.starts_at for o in open_now}) == 1 and open_now[0].starts_at != first[0].starts_at
