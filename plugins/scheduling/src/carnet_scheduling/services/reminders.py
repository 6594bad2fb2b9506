"""Reminders: per-clinic rules, switches (practitioner, appointment type, patient opt-out), and
one message per rule and appointment with a visible status.

Planning happens in the transaction that books, moves or cancels the appointment (through the
plugin's own `scheduling_appointment_*` hook implementations): the reminder rows and their
outbox jobs commit with the appointment or not at all. The job (`jobs.send_reminder`) reloads
everything and sends only for a booked appointment still in the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from carnet_core.plugin_api import (
    CarnetSession,
    Clinic,
    User,
    already_done_clause,
    enqueue,
    enqueue_with_options,
    record,
    utcnow,
)
from carnet_scheduling.models import BOOKED, Appointment, AppointmentType, Place
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


MIN_MINUTES_BEFORE = 30
CHANNEL_ERROR = "choose e-mail or SMS"
DELAY_ERROR = "between 30 minutes and 30 days before the appointment"
DUPLICATE_ERROR = "this reminder exists already"
SUBJECT_ERROR = "choose a practitioner or an appointment type of this practice"
USED_RULE_ERROR = "reminders were already planned with this rule: switch it off instead"
LAST_RULE_ERROR = "the practice keeps at least one reminder rule: switch it off instead"


def _check_rule(db: CarnetSession, channel: str, minutes_before: int, *, other_than: int | None = None) -> None:
    if channel not in CHANNELS:
        raise SchedulingError("channel", CHANNEL_ERROR)
    if not MIN_MINUTES_BEFORE <= minutes_before <= MAX_MINUTES_BEFORE:
        raise SchedulingError("minutes_before", DELAY_ERROR)
    twin = db.exec(select(ReminderRule.id).where(
        ReminderRule.channel == channel, ReminderRule.minutes_before == minutes_before,
        ReminderRule.active == True, ReminderRule.id != (other_than or 0),  # noqa: E712
    )).first()
    if twin is not None:
        raise SchedulingError("minutes_before", DUPLICATE_ERROR)


def add_rule(db: CarnetSession, channel: str, minutes_before: int, *, now: datetime | None = None,
             actor: Any = None, replan_booked: bool = True) -> ReminderRule:
    """A new rule of the clinic (or an identical deactivated one switched back on). Appointments
    already booked get their reminder for it (unless `replan_booked` is False)."""
    _check_rule(db, channel, minutes_before)
    rule = db.exec(select(ReminderRule).where(
        ReminderRule.channel == channel, ReminderRule.minutes_before == minutes_before)).first()
    if rule is None:
        rule = ReminderRule(channel=channel, minutes_before=minutes_before)
    created = rule.id is None
    rule.active = True
    db.add(rule)
    db.flush()
    if replan_booked:
        request_replan(db)
    record(db, action="create" if created else "update", resource_type="scheduling_reminder_rule",
           resource_id=rule.id, details={"channel": channel, "minutes_before": minutes_before, "active": True},
           actor=actor)
    return rule


def rules(db: CarnetSession) -> list[ReminderRule]:
    """The clinic's rules, active first, the earliest reminder first."""
    return list(db.exec(select(ReminderRule).order_by(
        col(ReminderRule.active).desc(), col(ReminderRule.minutes_before).desc(), ReminderRule.channel)))


def rule_usage(db: CarnetSession) -> dict[int, int]:
    """How many messages each rule has produced (a used rule is kept, only deactivated)."""
    rows = db.exec(select(Reminder.rule_id, sa.func.count()).group_by(Reminder.rule_id)).all()
    return {rule_id: count for rule_id, count in rows}


def _rule(db: CarnetSession, rule_id: int) -> ReminderRule:
    from carnet_scheduling.services.errors import NotFound

    rule = db.exec(select(ReminderRule).where(ReminderRule.id == rule_id)).first()
    if rule is None:
        raise NotFound("reminder rule")
    return rule


def set_rule_active(db: CarnetSession, rule_id: int, active: bool, *, now: datetime | None = None) -> ReminderRule:
    """Switch a rule off (its messages not sent yet are cancelled) or back on (booked appointments
    get their reminder for it)."""
    rule = _rule(db, rule_id)
    if active == rule.active:
        return rule
    if active:
        _check_rule(db, rule.channel, rule.minutes_before, other_than=rule.id)
    rule.active = active
    db.add(rule)
    db.flush()
    cancelled = 0
    if active:
        request_replan(db)
    else:
        cancelled = db.execute(
            sa.update(Reminder).where(Reminder.rule_id == rule.id, Reminder.status == SCHEDULED)
            .values(status=CANCELLED, detail="rule switched off", updated_at=utcnow())
        ).rowcount
    record(db, action="update", resource_type="scheduling_reminder_rule", resource_id=rule.id,
           details={"active": active, "cancelled": cancelled})
    return rule


def remove_rule(db: CarnetSession, rule_id: int) -> None:
    """Delete a rule that never produced a message; one that did keeps its history (switch it off)."""
    rule = _rule(db, rule_id)
    if rule_usage(db).get(rule.id):
        raise SchedulingError("rule", USED_RULE_ERROR)
    if db.exec(select(sa.func.count()).select_from(ReminderRule)).one() <= 1:
        # no rule at all means "never set up", which gets the usual rules (see plan)
        raise SchedulingError("rule", LAST_RULE_ERROR)
    db.delete(rule)
    db.flush()
    record(db, action="delete", resource_type="scheduling_reminder_rule", resource_id=rule_id)


REPLAN_ACTOR = "scheduling.replan_reminders"
REPLAN_BATCH = 200
REPLAN_SCOPES = ("practitioner_id", "appointment_type_id", "patient_id")


# Why a reminder was cancelled when the patient does not allow it on its channel (consent's
# "SMS reminders" withdrawn): planning again never revives such a reminder.
CONSENT_WITHDRAWN = "no consent to SMS reminders"


def request_replan(db: CarnetSession, **subject: int) -> None:
    """Plan again, in a job after this transaction commits, the reminders of the booked future
    appointments (all of them, or one practitioner's, appointment type's or patient's): a rule or
    a switch changed. A clinic may have thousands of such appointments; a request never holds
    the database that long. Until the job runs, a switched-off reminder is refused at sending."""
    unknown = set(subject) - set(REPLAN_SCOPES)
    if unknown:
        raise ValueError(f"replan by {', '.join(sorted(unknown))}: use one of {', '.join(REPLAN_SCOPES)}")
    enqueue(db, REPLAN_ACTOR, subject)


def replan(db: CarnetSession, *, practitioner_id: int | None = None, appointment_type_id: int | None = None,
           patient_id: int | None = None, now: datetime | None = None, after_id: int = 0,
           limit: int | None = None) -> tuple[int, int]:
    """Plan again the reminders of the booked future appointments (after a rule or a switch
    changed): new ones are created, switched-off ones cancelled, sent ones never repeated. Works
    through appointments by id after `after_id`, at most `limit` of them; returns (how many, the
    last id) for the next batch."""
    now = now or utcnow()
    query = select(Appointment).where(Appointment.status == BOOKED, Appointment.starts_at > now,
                                      Appointment.id > after_id)
    if practitioner_id is not None:
        query = query.where(Appointment.practitioner_id == practitioner_id)
    if appointment_type_id is not None:
        query = query.where(Appointment.appointment_type_id == appointment_type_id)
    if patient_id is not None:
        query = query.where(Appointment.patient_id == patient_id)
    query = query.order_by(Appointment.id)
    if limit is not None:
        query = query.limit(limit)
    count, last = 0, after_id
    rules = active_rules(db)
    for appt in list(db.exec(query)):
        plan(db, appt, now, rules)
        count, last = count + 1, appt.id or last
    return count, last


def switched_off_ids(db: CarnetSession, scope: str, subject_ids: list[int] | None = None) -> set[int]:
    """Subjects of `scope` with every reminder switched off (the channel-wide switches)."""
    query = select(ReminderSwitch.subject_id).where(ReminderSwitch.scope == scope,
                                                    col(ReminderSwitch.channel).is_(None))
    if subject_ids is not None:
        query = query.where(col(ReminderSwitch.subject_id).in_(subject_ids))
    return set(db.exec(query))


def switch(db: CarnetSession, scope: str, subject_id: int, enabled: bool, *, now: datetime | None = None) -> None:
    """Reminders on or off for one practitioner, appointment type or patient of the clinic; the
    booked future appointments concerned are planned again (off: their pending messages are
    cancelled)."""
    from carnet_scheduling.services.context import patient_exists, practitioners

    if scope == "practitioner":
        known = any(p.id == subject_id for p in practitioners(db))
    elif scope == "appointment_type":
        known = db.exec(select(AppointmentType.id).where(AppointmentType.id == subject_id)).first() is not None
    elif scope == "patient":
        known = patient_exists(db, subject_id)
    else:
        raise SchedulingError("scope", f"use one of {', '.join(OFF_SCOPES)}")
    if not known:
        raise SchedulingError("subject", SUBJECT_ERROR)
    set_switch(db, scope, subject_id, enabled)
    if scope == "appointment_type" and enabled:
        # "on" means on: also the type's own set-up flag (which reminders apply to the motif)
        kind = db.exec(select(AppointmentType).where(AppointmentType.id == subject_id)).one()
        if not kind.reminders:
            kind.reminders = True
            db.add(kind)
            db.flush()
    details: dict[str, Any] = {"scope": scope, "enabled": enabled}
    if scope == "patient":  # one patient's few appointments: at once
        details["appointments"] = replan(db, now=now, patient_id=subject_id)[0]
    else:
        request_replan(db, **{f"{scope}_id": subject_id})
    record(db, action="update", resource_type="scheduling_reminder_switch", resource_id=subject_id,
           patient_id=subject_id if scope == "patient" else None, details=details)


def ensure_default_rules(db: CarnetSession, actor: Any = "system:scheduling.reminders",
                         replan_booked: bool = True) -> list[ReminderRule]:
    """E-mail 7 days and 1 day before, SMS 2 days before, unless the clinic has rules already."""
    existing = list(db.exec(select(ReminderRule)))
    if existing:
        return existing
    added = [add_rule(db, channel, minutes, actor=actor, replan_booked=False) for channel, minutes in DEFAULT_RULES]
    if replan_booked:
        request_replan(db)  # one job for the three rules
    return added


def set_switch(db: CarnetSession, scope: str, subject_id: int, enabled: bool, channel: str | None = None) -> None:
    """Switch reminders on or off for a practitioner, an appointment type or a patient."""
    if scope not in OFF_SCOPES:
        raise SchedulingError("scope", f"use one of {', '.join(OFF_SCOPES)}")
    if channel is not None and channel not in CHANNELS:
        raise SchedulingError("channel", CHANNEL_ERROR)
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


def cancel_channel_for_patient(db: CarnetSession, patient_id: int, channel: str, detail: str) -> int:
    """Cancel the patient's reminders on `channel` not sent yet (e.g. SMS once the patient withdrew
    their consent to SMS reminders). Returns how many."""
    count = 0
    for reminder in db.exec(select(Reminder).join(Appointment, Appointment.id == Reminder.appointment_id).where(
        Appointment.patient_id == patient_id, Reminder.status == SCHEDULED, Reminder.channel == channel,
    )):
        _set(reminder, CANCELLED, detail)
        db.add(reminder)
        count += 1
    db.flush()
    return count


@dataclass(frozen=True)
class Sending:
    """What the reminder job needs to decide and write a reminder, read in one query."""

    reminder: Reminder
    appointment: Appointment | None
    wanted: bool  # its rule is still on and no switch turned its channel off
    done: bool  # an effect is recorded under the job's idempotency key
    clinic: Clinic
    practitioner: str  # the practitioner's display name
    place: Place | None


@lru_cache(maxsize=1)
def _to_send_query() -> Any:
    """`to_send`'s statement, built once (its parameters bound at each run): building it each
    time cost as much as running it."""
    switch = ReminderSwitch
    switched_off = sa.exists().where(
        switch.clinic_id == Reminder.clinic_id,
        sa.or_(switch.channel.is_(None), switch.channel == Reminder.channel),  # type: ignore[union-attr]
        sa.or_(*[sa.and_(switch.scope == scope, switch.subject_id == subject) for scope, subject in (
            ("practitioner", Appointment.practitioner_id), ("appointment_type", Appointment.appointment_type_id),
            ("patient", Appointment.patient_id))]),
    )
    wanted = sa.and_(ReminderRule.active == True, sa.func.coalesce(AppointmentType.reminders, True) == True,  # noqa: E712
                     sa.not_(switched_off))
    return (
        select(Reminder, Appointment, sa.case((wanted, True), else_=False), already_done_clause(sa.bindparam("key")),
               Clinic, User.display_name, Place)
        .select_from(Reminder)
        .outerjoin(Appointment, Appointment.id == Reminder.appointment_id)
        .outerjoin(ReminderRule, ReminderRule.id == Reminder.rule_id)
        .outerjoin(AppointmentType, AppointmentType.id == Appointment.appointment_type_id)
        .outerjoin(Place, Place.id == Appointment.place_id)
        .outerjoin(User, User.id == Appointment.practitioner_id)
        .join(Clinic, Clinic.id == Reminder.clinic_id)
        .where(Reminder.id == sa.bindparam("reminder_id"))
    )


def to_send(db: CarnetSession, reminder_id: int, key: str) -> Sending | None:
    """The reminder with its appointment, whether it is still wanted (its rule on, its
    appointment type's reminders on, no practitioner, type or patient switch off for its
    channel, as `off_channels` decides), whether `key`'s effect is recorded, and the clinic,
    practitioner and place its message names: one round trip instead of nine. None when no such
    reminder is in the session's clinic."""
    row = db.exec(_to_send_query(), params={"reminder_id": reminder_id, "key": key}).first()
    if row is None:
        return None
    reminder, appt, wanted_now, done, clinic, practitioner, place = row
    return Sending(reminder, appt, bool(wanted_now), bool(done), clinic, practitioner or "", place)


def off_channels(db: CarnetSession, appt: Appointment) -> frozenset[str]:
    """The channels on which this appointment gets no reminder: all of them when its type has
    reminders off, else those a practitioner, type or patient switch turned off."""
    kind = db.exec(select(AppointmentType.reminders).where(AppointmentType.id == appt.appointment_type_id)).first()
    if kind is False:
        return frozenset(CHANNELS)
    subjects = [("practitioner", appt.practitioner_id), ("appointment_type", appt.appointment_type_id),
                ("patient", appt.patient_id)]
    found = set(db.exec(select(ReminderSwitch.channel).where(
        sa.or_(*[sa.and_(ReminderSwitch.scope == s, ReminderSwitch.subject_id == i) for s, i in subjects]),
    )))
    return frozenset(CHANNELS) if None in found else frozenset(found)


def _enqueue(db: CarnetSession, reminder: Reminder, appt: Appointment) -> None:
    # Too late to be useful once the appointment starts: the broker drops it (max_age), the job
    # checks again anyway.
    enqueue_with_options(
        db, SEND_ACTOR, args=[reminder.id, reminder.due_at.isoformat()], not_before=reminder.due_at,
        max_age=max(appt.starts_at - reminder.due_at, timedelta(minutes=1)),
    )


def active_rules(db: CarnetSession) -> list[ReminderRule]:
    """The clinic's rules that send. A practice that never set its rules gets the usual ones here,
    with its first booking (its owner changes them in the set-up; a practice keeps at least one
    rule, on or off). Only that booking is planned: a booking never re-plans the whole agenda."""
    every = list(db.exec(select(ReminderRule)))
    if not every:
        every = ensure_default_rules(db, replan_booked=False)
    return [rule for rule in every if rule.active]


def plan(db: CarnetSession, appt: Appointment, now: datetime | None = None,
         rules: list[ReminderRule] | None = None) -> list[Reminder]:
    """Create (or re-time, after a move) the reminders of a booked appointment. `rules`: the
    active rules, when the caller plans many appointments (read once)."""
    now = now or utcnow()
    if appt.status != BOOKED or appt.starts_at <= now:
        return []
    planned = []
    existing = {r.rule_id: r for r in db.exec(select(Reminder).where(Reminder.appointment_id == appt.id))}
    off = off_channels(db, appt)
    for rule in active_rules(db) if rules is None else rules:
        due = appt.starts_at - timedelta(minutes=rule.minutes_before)
        reminder = existing.get(rule.id)
        if due <= now or rule.channel in off:
            if reminder is not None and reminder.status == SCHEDULED:
                _set(reminder, CANCELLED, "not due any more" if due <= now else "switched off")
                db.add(reminder)
            continue
        if reminder is None:
            reminder = Reminder(appointment_id=appt.id, rule_id=rule.id, channel=rule.channel, due_at=due)
        elif (reminder.status == CANCELLED and reminder.detail != CONSENT_WITHDRAWN) or (
                reminder.status == SCHEDULED and reminder.due_at != due):
            # re-timed after a move, or wanted again (a rule or a switch back on)
            reminder.due_at = due
            _set(reminder, SCHEDULED, None)
        else:
            continue  # already sent (or failed), or refused by the patient: never planned again
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
