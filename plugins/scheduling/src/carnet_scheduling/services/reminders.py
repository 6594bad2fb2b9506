"""Reminders: per-clinic rules, switches (practitioner, appointment type, patient opt-out), and
one message per rule and appointment with a visible status.

Planning happens in the transaction that books, moves or cancels the appointment (through the
plugin's own `scheduling_appointment_*` hook implementations): the reminder rows and their
outbox jobs commit with the appointment or not at all. The job (`jobs.send_reminder`) reloads
everything and sends only for a booked appointment still in the future.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from carnet_core.db.base import utcnow
from carnet_core.db.session import CarnetSession
from carnet_core.jobs import enqueue_with_options
from carnet_scheduling.models import BOOKED, Appointment, AppointmentType
from carnet_scheduling.patient_models import (
    CANCELLED,
    CHANNELS,
    OFF_SCOPES,
    SCHEDULED,
    Reminder,
    ReminderRule,
    ReminderSwitch,
)
from carnet_scheduling.services.errors import SchedulingError

SEND_ACTOR = "scheduling.send_reminder"
MAX_MINUTES_BEFORE = 60 * 24 * 30
DEFAULT_RULES = (("email", 7 * 24 * 60), ("email", 24 * 60), ("sms", 2 * 24 * 60))


def add_rule(db: CarnetSession, channel: str, minutes_before: int) -> ReminderRule:
    if channel not in CHANNELS:
        raise SchedulingError("channel", "use 'email' or 'sms'")
    if not 30 <= minutes_before <= MAX_MINUTES_BEFORE:
        raise SchedulingError("minutes_before", "between 30 minutes and 30 days before the appointment")
    rule = ReminderRule(channel=channel, minutes_before=minutes_before)
    db.add(rule)
    db.flush()
    return rule


def ensure_default_rules(db: CarnetSession) -> list[ReminderRule]:
    """E-mail 7 days and 1 day before, SMS 2 days before, unless the clinic has rules already."""
    existing = list(db.exec(select(ReminderRule)))
    if existing:
        return existing
    return [add_rule(db, channel, minutes) for channel, minutes in DEFAULT_RULES]


def set_switch(db: CarnetSession, scope: str, subject_id: int, enabled: bool, channel: str | None = None) -> None:
    """Switch reminders on or off for a practitioner, an appointment type or a patient."""
    if scope not in OFF_SCOPES:
        raise SchedulingError("scope", f"use one of {', '.join(OFF_SCOPES)}")
    if channel is not None and channel not in CHANNELS:
        raise SchedulingError("channel", "use 'email' or 'sms'")
    current = db.exec(select(ReminderSwitch).where(
        ReminderSwitch.scope == scope, ReminderSwitch.subject_id == subject_id,
        ReminderSwitch.channel == channel if channel else col(ReminderSwitch.channel).is_(None),
    )).first()
    if enabled and current is not None:
        db.delete(current)
    elif not enabled and current is None:
        db.add(ReminderSwitch(scope=scope, subject_id=subject_id, channel=channel))
    db.flush()


def opt_out(db: CarnetSession, patient_id: int) -> int:
    """The patient asked for no reminders: switch them off and cancel those not sent yet."""
    set_switch(db, "patient", patient_id, enabled=False)
    count = 0
    for reminder in db.exec(select(Reminder).join(Appointment, Appointment.id == Reminder.appointment_id).where(
        Appointment.patient_id == patient_id, Reminder.status == SCHEDULED,
    )):
        _set(reminder, CANCELLED, "patient opted out")
        db.add(reminder)
        count += 1
    db.flush()
    return count


def switched_off(db: CarnetSession, appt: Appointment, channel: str) -> bool:
    kind = db.exec(select(AppointmentType).where(AppointmentType.id == appt.appointment_type_id)).first()
    if kind is not None and not kind.reminders:
        return True
    subjects = [("practitioner", appt.practitioner_id), ("appointment_type", appt.appointment_type_id),
                ("patient", appt.patient_id)]
    found = db.exec(select(ReminderSwitch.id).where(
        sa.or_(*[sa.and_(ReminderSwitch.scope == s, ReminderSwitch.subject_id == i) for s, i in subjects]),
        sa.or_(col(ReminderSwitch.channel).is_(None), ReminderSwitch.channel == channel),
    )).first()
    return found is not None


def _enqueue(db: CarnetSession, reminder: Reminder, appt: Appointment) -> None:
    # Too late to be useful once the appointment starts: the broker drops it (max_age), the job
    # checks again anyway.
    enqueue_with_options(
        db, SEND_ACTOR, args=[reminder.id, reminder.due_at.isoformat()], not_before=reminder.due_at,
        max_age=max(appt.starts_at - reminder.due_at, timedelta(minutes=1)),
    )


def plan(db: CarnetSession, appt: Appointment, now: datetime | None = None) -> list[Reminder]:
    """Create (or re-time, after a move) the reminders of a booked appointment."""
    now = now or utcnow()
    if appt.status != BOOKED or appt.starts_at <= now:
        return []
    planned = []
    existing = {r.rule_id: r for r in db.exec(select(Reminder).where(Reminder.appointment_id == appt.id))}
    for rule in db.exec(select(ReminderRule).where(ReminderRule.active == True)):  # noqa: E712
        due = appt.starts_at - timedelta(minutes=rule.minutes_before)
        reminder = existing.get(rule.id)
        if due <= now or switched_off(db, appt, rule.channel):
            if reminder is not None and reminder.status == SCHEDULED:
                _set(reminder, CANCELLED, "not due any more" if due <= now else "switched off")
                db.add(reminder)
            continue
        if reminder is None:
            reminder = Reminder(appointment_id=appt.id, rule_id=rule.id, channel=rule.channel, due_at=due)
        elif reminder.status in (SCHEDULED, CANCELLED) and reminder.due_at != due:
            reminder.due_at = due
            _set(reminder, SCHEDULED, None)
        else:
            continue  # already sent (or failed) for this rule: never a second one
        db.add(reminder)
        db.flush()
        _enqueue(db, reminder, appt)
        planned.append(reminder)
    return planned


def _set(reminder: Reminder, status: str, detail: str | None) -> None:
    reminder.status = status
    reminder.detail = detail
    reminder.updated_at = utcnow()


def cancel_for(db: CarnetSession, appointment_id: int, detail: str = "appointment cancelled") -> int:
    """Cancel the scheduled reminders of an appointment (the job would skip them anyway)."""
    count = 0
    for reminder in db.exec(select(Reminder).where(
        Reminder.appointment_id == appointment_id, Reminder.status == SCHEDULED
    )):
        _set(reminder, CANCELLED, detail)
        db.add(reminder)
        count += 1
    db.flush()
    return count


def for_appointment(db: CarnetSession, appointment_id: int) -> list[Reminder]:
    return list(db.exec(select(Reminder).where(Reminder.appointment_id == appointment_id).order_by(Reminder.due_at)))
