"""Reminders: planned with the booking, one message per rule and appointment, visible status,
none for cancelled or past appointments, switches and opt-out, no health data in bodies."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from patientside import (
    CANARY_CARE,
    CANARY_NOTES,
    assert_no_health_data,
    mail_text,
    mails,
    make_patient,
    next_weekday_at,
    sms_files,
)
from sqlmodel import select

from carnet_core.testing import OutboxMessage, wait_for_jobs
from carnet_scheduling.patient_models import CANCELLED, SCHEDULED, SENT
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import reminders, setup


@pytest.fixture
def booked(carnet_db, world, plugin_host):
    """A patient with e-mail and phone, default rules, one appointment in 8+ days with notes and a
    care name that must never leave the clinic."""
    patient_id = make_patient(carnet_db, world)
    hooks = plugin_host.for_clinic({"scheduling"})
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        reminders.ensure_default_rules(db)
        care = setup.create_appointment_type(db, CANARY_CARE, 45)
        appt = appts.book(db, practitioner_id=world.practitioner.id, patient_id=patient_id,
                          appointment_type_id=care.id, starts_at=next_weekday_at(1, 17), room_id=world.room_id,
                          notes=CANARY_NOTES, hooks=hooks)
    return appt


def _due_now(carnet_db, clinic_id):
    """Make every planned reminder due now (as if the days had passed)."""
    past = sa.func.now() if carnet_db.dialect == "postgresql" else None
    with carnet_db.session(unscoped=True) as db:
        for row in db.exec(select(OutboxMessage)).all():
            row.not_before = None
            db.add(row)
    return past


def test_booking_plans_one_reminder_per_rule_with_its_job_in_the_outbox(carnet_db, world, booked):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        planned = reminders.for_appointment(db, booked.id)
        jobs = db.exec(select(OutboxMessage).where(OutboxMessage.actor == "scheduling.send_reminder")).all()
    assert sorted((r.channel, booked.starts_at - r.due_at) for r in planned) == [
        ("email", timedelta(days=1)), ("email", timedelta(days=7)), ("sms", timedelta(days=2))]
    assert {r.status for r in planned} == {SCHEDULED}
    assert len(jobs) == 3 and all(j.not_before is not None for j in jobs)


def test_due_reminders_are_sent_once_with_time_place_practitioner_and_a_link_only(
        carnet_db, world, booked, jobs_worker, carnet_settings):
    _due_now(carnet_db, world.clinic.id)
    wait_for_jobs(jobs_worker)
    sent_mails, sent_sms = mails(carnet_settings), sms_files(carnet_settings)
    assert len(sent_mails) == 2 and len(sent_sms) == 1
    body = mail_text(sent_mails[0])
    assert "Claire Martin" in body and "1 rue des Tilleuls" in body
    assert f"/p/{world.clinic.slug}/scheduling/a/" in body
    assert "Rappel" in str(sent_mails[0]["Subject"])
    assert_no_health_data(carnet_settings, "Dupont", "Léa")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert {r.status for r in reminders.for_appointment(db, booked.id)} == {SENT}
    # a second run of every job (a redelivery) sends nothing more
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.update(OutboxMessage.__table__).values(status="pending", claimed_until=None))
    wait_for_jobs(jobs_worker)
    assert len(mails(carnet_settings)) == 2 and len(sms_files(carnet_settings)) == 1


def test_no_reminder_for_a_cancelled_appointment(carnet_db, world, booked, jobs_worker, carnet_settings, plugin_host):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        appt = appts.get_appointment(db, booked.id)
        appts.cancel(db, appt, "patient ill", hooks=plugin_host.for_clinic({"scheduling"}))
    _due_now(carnet_db, world.clinic.id)
    wait_for_jobs(jobs_worker)
    assert mails(carnet_settings) == [] and sms_files(carnet_settings) == []
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert {r.status for r in reminders.for_appointment(db, booked.id)} == {CANCELLED}


def test_no_reminder_for_an_appointment_already_past(carnet_db, world, booked, jobs_worker, carnet_settings):
    # the appointment was cancelled in the database behind the service's back: the job reloads it
    from carnet_scheduling.models import Appointment

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.execute(sa.update(Appointment.__table__).where(Appointment.__table__.c.id == booked.id)
                   .values(starts_at=booked.starts_at - timedelta(days=30), ends_at=booked.ends_at - timedelta(days=30)))
    _due_now(carnet_db, world.clinic.id)
    wait_for_jobs(jobs_worker)
    assert mails(carnet_settings) == [] and sms_files(carnet_settings) == []
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert {r.status for r in reminders.for_appointment(db, booked.id)} == {CANCELLED}


def test_a_move_re_times_scheduled_reminders_and_the_old_jobs_send_nothing(
        carnet_db, world, booked, jobs_worker, carnet_settings, plugin_host):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        appt = appts.get_appointment(db, booked.id)
        appts.move(db, appt, booked.starts_at + timedelta(days=1), hooks=plugin_host.for_clinic({"scheduling"}))
        planned = reminders.for_appointment(db, booked.id)
    assert all(r.due_at > booked.starts_at - timedelta(days=7) for r in planned)
    _due_now(carnet_db, world.clinic.id)
    wait_for_jobs(jobs_worker)
    assert len(mails(carnet_settings)) == 2 and len(sms_files(carnet_settings)) == 1


@pytest.mark.parametrize("scope", ["practitioner", "appointment_type", "patient"])
def test_reminders_can_be_switched_off_per_practitioner_type_and_patient(carnet_db, world, plugin_host, scope):
    patient_id = make_patient(carnet_db, world)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        reminders.ensure_default_rules(db)
        subject = {"practitioner": world.practitioner.id, "appointment_type": world.session_type_id,
                   "patient": patient_id}[scope]
        reminders.set_switch(db, scope, subject, enabled=False, channel="sms" if scope == "patient" else None)
        appt = appts.book(db, practitioner_id=world.practitioner.id, patient_id=patient_id,
                          appointment_type_id=world.session_type_id, starts_at=next_weekday_at(2, 10),
                          hooks=plugin_host.for_clinic({"scheduling"}))
        channels = sorted(r.channel for r in reminders.for_appointment(db, appt.id))
    assert channels == (["email", "email"] if scope == "patient" else [])


def test_rules_refuse_nonsense(carnet_db, world):
    from carnet_scheduling.services.errors import SchedulingError

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        with pytest.raises(SchedulingError):
            reminders.add_rule(db, "pigeon", 60)
        with pytest.raises(SchedulingError):
            reminders.add_rule(db, "email", 5)


def _states(db, appointment_id):
    return sorted((r.channel, r.status) for r in reminders.for_appointment(db, appointment_id))


def _audited(db, resource_type):
    from carnet_core.testing import AuditRecord

    return db.exec(select(AuditRecord).where(AuditRecord.resource_type == resource_type)).all()


def test_a_new_rule_reaches_booked_appointments_and_a_twin_or_bad_delay_writes_nothing(
        carnet_db, world, booked, jobs_worker):
    from carnet_scheduling.services.errors import SchedulingError

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        rule = reminders.add_rule(db, "sms", 3 * 60)
        assert len(_states(db, booked.id)) == 3  # re-planned by a job, after the commit
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert ("sms", SCHEDULED) in _states(db, booked.id) and len(_states(db, booked.id)) == 4
        assert [r.resource_id for r in _audited(db, "scheduling_reminder_rule")][-1] == str(rule.id)
    for channel, minutes in (("email", 24 * 60), ("sms", -60), ("sms", 0), ("sms", 61 * 24 * 60), ("fax", 60)):
        with carnet_db.session(clinic_id=world.clinic.id) as db:
            db.info["principal"] = f"user:{world.practitioner.id}"
            with pytest.raises(SchedulingError) as raised:
                reminders.add_rule(db, channel, minutes)
            assert raised.value.field == ("channel" if channel == "fax" else "minutes_before")
            db.rollback()
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert len(reminders.rules(db)) == 4


def test_switching_a_rule_off_cancels_its_pending_messages_and_on_brings_them_back(
        carnet_db, world, booked, jobs_worker):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        sms = next(r for r in reminders.rules(db) if r.channel == "sms")
        reminders.set_rule_active(db, sms.id, False)
        assert _states(db, booked.id) == [("email", SCHEDULED), ("email", SCHEDULED), ("sms", CANCELLED)]
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        # a rule switched off cannot be duplicated by adding it again: the same rule comes back
        again = reminders.add_rule(db, "sms", 2 * 24 * 60)
        assert again.id == sms.id and again.active
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert _states(db, booked.id) == [("email", SCHEDULED), ("email", SCHEDULED), ("sms", SCHEDULED)]
        assert len(reminders.for_appointment(db, booked.id)) == 3  # one message per rule, never a second row
        changes = [json.loads(r.details) for r in _audited(db, "scheduling_reminder_rule")]
        assert {"active": False, "cancelled": 1} in changes


def test_a_used_rule_is_kept_and_an_unused_one_removed(carnet_db, world, booked, plugin_host):
    from carnet_scheduling.services.errors import NotFound, SchedulingError

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        used = reminders.rules(db)[0].id
        with pytest.raises(SchedulingError):
            reminders.remove_rule(db, used)
        db.rollback()
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        appts.cancel(db, appts.get_appointment(db, booked.id), "Empêchement",
                     hooks=plugin_host.for_clinic({"scheduling"}))
        fresh = reminders.add_rule(db, "email", 45).id  # no booked appointment left: it plans nothing
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        assert not reminders.rule_usage(db).get(fresh)
        reminders.remove_rule(db, fresh)
        assert fresh not in [r.id for r in reminders.rules(db)] and used in [r.id for r in reminders.rules(db)]
        assert "delete" in [r.action for r in _audited(db, "scheduling_reminder_rule")]
        with pytest.raises(NotFound):
            reminders.remove_rule(db, fresh)


@pytest.mark.parametrize("scope", ["practitioner", "appointment_type", "patient"])
def test_a_switch_re_plans_booked_appointments_both_ways_and_is_audited(
        carnet_db, world, booked, scope, jobs_worker):
    subject = {"practitioner": booked.practitioner_id, "appointment_type": booked.appointment_type_id,
               "patient": booked.patient_id}[scope]
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        reminders.switch(db, scope, subject, False)
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert {s for _, s in _states(db, booked.id)} == {CANCELLED}
        assert subject in reminders.switched_off_ids(db, scope)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        reminders.switch(db, scope, subject, True)
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert {s for _, s in _states(db, booked.id)} == {SCHEDULED}
        details = [json.loads(r.details) for r in _audited(db, "scheduling_reminder_switch")]
        assert [d["enabled"] for d in details] == [False, True] and details[0]["scope"] == scope


def test_a_switch_refuses_a_subject_of_another_clinic(carnet_db, world, make_team):
    from conftest import make_world

    from carnet_scheduling.services.errors import SchedulingError

    other = make_world(carnet_db, make_team, slug="cabinet-autre")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        for scope, subject in (("practitioner", other.practitioner.id), ("appointment_type", other.session_type_id),
                               ("patient", other.patients[0]), ("room", world.room_id)):
            with pytest.raises(SchedulingError):
                reminders.switch(db, scope, subject, False)
        assert not reminders.switched_off_ids(db, "practitioner") and not reminders.switched_off_ids(db, "patient")


def test_a_practice_that_never_set_its_rules_gets_the_usual_ones_with_its_first_booking(carnet_db, world, plugin_host):
    from carnet_scheduling.patient_models import ReminderRule

    patient_id = make_patient(carnet_db, world)
    hooks = plugin_host.for_clinic({"scheduling"})
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        assert db.exec(select(ReminderRule)).all() == []
        appt = appts.book(db, practitioner_id=world.practitioner.id, patient_id=patient_id,
                          appointment_type_id=world.session_type_id, starts_at=next_weekday_at(1, 17),
                          hooks=hooks)
        rules = sorted((r.channel, r.minutes_before) for r in db.exec(select(ReminderRule)))
        planned = sorted((r.channel, appt.starts_at - r.due_at) for r in reminders.for_appointment(db, appt.id))
    assert rules == sorted(reminders.DEFAULT_RULES)
    assert planned == sorted((c, timedelta(minutes=m)) for c, m in reminders.DEFAULT_RULES)


def test_the_last_rule_is_switched_off_not_removed(carnet_db, world):
    from carnet_scheduling.patient_models import ReminderRule
    from carnet_scheduling.services.errors import SchedulingError

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        first, second, third = reminders.ensure_default_rules(db)
        reminders.remove_rule(db, first.id)
        reminders.remove_rule(db, second.id)
        with pytest.raises(SchedulingError) as refused:
            reminders.remove_rule(db, third.id)
        assert refused.value.message == reminders.LAST_RULE_ERROR
        assert [r.id for r in db.exec(select(ReminderRule))] == [third.id]


def test_a_reminder_switched_off_before_its_re_planning_ran_is_not_sent(
        carnet_db, world, booked, jobs_worker, carnet_settings):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        reminders.set_switch(db, "practitioner", booked.practitioner_id, False)  # no re-planning yet
        pending = [r for r in reminders.for_appointment(db, booked.id) if r.channel == "email"]
    assert pending and all(r.status == SCHEDULED for r in pending)
    _due_now(carnet_db, world.clinic.id)
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert {r.status for r in reminders.for_appointment(db, booked.id)} == {CANCELLED}
    assert mails(carnet_settings) == [] and sms_files(carnet_settings) == []


def test_re_planning_works_in_batches_and_twice_changes_nothing(carnet_db, world, jobs_worker, monkeypatch):
    from carnet_scheduling.patient_models import Reminder

    monkeypatch.setattr(reminders, "REPLAN_BATCH", 2)
    patient_id = make_patient(carnet_db, world)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        first = reminders.add_rule(db, "email", 24 * 60, replan_booked=False)
        booked = [appts.book(db, practitioner_id=world.practitioner.id, patient_id=patient_id,
                             appointment_type_id=world.session_type_id, starts_at=next_weekday_at(1, 9) +
                             timedelta(days=7 * week)).id for week in range(5)]
        assert first.id
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        reminders.add_rule(db, "sms", 2 * 24 * 60)
        reminders.request_replan(db)  # asked twice: the second run finds everything planned
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        rows = db.exec(select(Reminder.appointment_id, Reminder.channel, Reminder.status)).all()
    assert sorted(rows) == sorted((a, c, SCHEDULED) for a in booked for c in ("email", "sms"))


def test_an_appointment_on_the_first_of_a_month_is_written_1er_in_mail_sms_and_manage_page(
        carnet_db, world, plugin_host, jobs_worker, carnet_settings, client):
    """`mardi 1er décembre`, never `mardi 1 décembre` (core's long_datetime), at the clinic's hour."""
    import re
    from html import unescape

    from carnet_core.testing import first_in_french, first_of_a_month

    first = first_of_a_month(10)
    patient_id = make_patient(carnet_db, world)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        reminders.ensure_default_rules(db)
        care = setup.create_appointment_type(db, CANARY_CARE, 45)
        appts.book(db, practitioner_id=world.practitioner.id, patient_id=patient_id, appointment_type_id=care.id,
                   starts_at=first, room_id=world.room_id, hooks=plugin_host.for_clinic({"scheduling"}))
    _due_now(carnet_db, world.clinic.id)
    wait_for_jobs(jobs_worker)
    texts = [mail_text(m) for m in mails(carnet_settings)] + sms_files(carnet_settings)
    assert len(texts) == 3
    for text in texts:
        assert first_in_french(first).search(text) and "à 10:00" in text, text
        assert not re.search(r"\b1 (janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|"
                             r"décembre)\b", text), text
    manage = re.search(rf"/p/{world.clinic.slug}/scheduling/a/\S+", texts[0]).group(0)
    page = unescape(client.get(manage).text)
    assert first_in_french(first).search(page) and "à 10:00" in page


def test_a_reminder_locks_its_clinics_audit_chain_only_after_its_own_writes(
        carnet_db, world, booked, jobs_worker, monkeypatch):
    from carnet_core.testing import spy_on_chain_head

    locked = []  # (reminder status, attempts) seen by the job when it takes the chain head

    def seen(conn, clinic_id, job):
        if job is not None and job.actor == "scheduling.send_reminder":
            args = conn.execute(sa.text("SELECT args FROM core_outbox WHERE message_id = :m"),
                                {"m": job.message_id}).scalar_one()
            locked.append(tuple(conn.execute(sa.text("SELECT status, attempts FROM scheduling_reminder WHERE id = :i"),
                                             {"i": json.loads(args)[0]}).one()))

    spy_on_chain_head(monkeypatch, seen)
    # when the three reminders are sent
    _due_now(carnet_db, world.clinic.id)
    wait_for_jobs(jobs_worker)
    # then each job took its clinic's chain head twice, each time after its own writes (at commit):
    # the read of the address once the attempt is counted, the "send" once the reminder is sent
    assert sorted(locked) == [(SCHEDULED, 1)] * 3 + [(SENT, 1)] * 3
