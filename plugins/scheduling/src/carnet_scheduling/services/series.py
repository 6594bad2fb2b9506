"""Treatment series: prescriptions, series planned from a weekly rule, moving one occurrence or
this-and-following, counters done / planned / remaining and the end-of-prescription warning."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import CarnetSession, record, seal, utcnow
from carnet_scheduling.models import (
    ABSENT,
    BOOKED,
    CANCELLED,
    EXCUSED,
    HONOURED,
    Appointment,
    AvailabilityException,
    Prescription,
    Series,
)
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import school
from carnet_scheduling.services.calendar import DateRange, local_date, local_day_bounds
from carnet_scheduling.services.context import clinic_tz, is_practitioner, notify, patient_exists
from carnet_scheduling.services.errors import NotFound, SchedulingError, free_text
from carnet_scheduling.services.recurrence import (
    CLOSURE,
    SeriesContext,
    SeriesPlan,
    SeriesRule,
    SeriesRuleError,
    Skipped,
    WeeklySlot,
    plan_series,
)
from carnet_scheduling.services.slots import Interval


def create_prescription(
    db: CarnetSession, *, patient_id: int, practitioner_id: int, prescribed_on: date, sessions_prescribed: int,
    prescriber: str = "", acts: str = "",
) -> Prescription:
    if not patient_exists(db, patient_id):
        raise SchedulingError("patient_id", "no such patient in this clinic")
    if not is_practitioner(db, practitioner_id):
        raise SchedulingError("practitioner_id", "no such practitioner in this clinic")
    if not 2000 <= prescribed_on.year <= 2099 or prescribed_on > utcnow().date() + timedelta(days=1):
        raise SchedulingError("prescribed_on", "give the prescription's date (not in the future)")
    if not 1 <= sessions_prescribed <= 200:
        raise SchedulingError("sessions_prescribed", "give 1 to 200 sessions")
    row = Prescription(patient_id=patient_id, practitioner_id=practitioner_id, prescribed_on=prescribed_on,
                       sessions_prescribed=sessions_prescribed)
    db.add(row)
    db.flush()
    # who prescribed and the acts tell what the patient is treated for: sealed with their key
    seal(db, row, "prescriber", free_text("prescriber", prescriber)[:200] or None)
    seal(db, row, "acts", free_text("acts", acts)[:200] or None)
    db.flush()
    record(db, action="create", resource_type="prescription", resource_id=row.id, patient_id=patient_id)
    return row


def rule_json(slots: tuple[WeeklySlot, ...], every_weeks: int) -> str:
    return json.dumps({"slots": [[s.weekday, s.at.strftime("%H:%M")] for s in slots], "every_weeks": every_weeks})


def parse_rule(text: str) -> tuple[tuple[WeeklySlot, ...], int]:
    data = json.loads(text)
    slots = tuple(WeeklySlot(int(w), time.fromisoformat(t)) for w, t in data["slots"])
    return slots, int(data.get("every_weeks", 1))


def series_context(
    db: CarnetSession, *, practitioner_id: int, patient_id: int, room_id: int | None, first_day: date,
    skip_school_holidays: bool, exclude: tuple[int, ...] = (), holiday_region: str = "metropole",
) -> SeriesContext:
    """Everything the planner must respect, from the database (over the series' maximum span)."""
    tz = clinic_tz(db)
    start, _ = local_day_bounds(first_day, tz)
    end = start + timedelta(days=3 * 366)
    occupied = [a for a in appts.in_range(db, start, end, practitioner_id=practitioner_id) if a.id not in exclude]
    room_occupied = (
        [a for a in appts.in_range(db, start, end, room_id=room_id) if a.id not in exclude] if room_id else []
    )
    patient_days = frozenset(
        a.local_day for a in appts.in_range(db, start, end, patient_id=patient_id)
        if a.billable and a.id not in exclude
    )
    exceptions = list(db.exec(select(AvailabilityException).where(
        AvailabilityException.ends_at > start,
        (AvailabilityException.practitioner_id == practitioner_id) | (AvailabilityException.practitioner_id == None),  # noqa: E711
    )))
    closures = [DateRange(local_date(x.starts_at, tz), local_date(x.ends_at - timedelta(seconds=1), tz), x.label)
                for x in exceptions if x.practitioner_id is None]
    holidays = school.periods(db, first_day, first_day + timedelta(days=3 * 366))  # the zone's and the clinic's own
    return SeriesContext(
        tz=tz, closures=closures, school_holidays=holidays, skip_school_holidays=skip_school_holidays,
        holiday_region=holiday_region,
        exceptions=[Interval(x.starts_at, x.ends_at, x.id) for x in exceptions if x.practitioner_id is not None],
        practitioner_busy=[Interval(a.starts_at, a.ends_at, a.id) for a in occupied],
        room_busy=[Interval(a.starts_at, a.ends_at, a.id) for a in room_occupied],
        patient_days=patient_days,
    )


@dataclass
class SeriesResult:
    series: Series
    plan: SeriesPlan
    appointments: list[Appointment]


def create_series(
    db: CarnetSession, *, patient_id: int, practitioner_id: int, appointment_type_id: int,
    slots: tuple[WeeklySlot, ...], first_day: date, sessions: int, every_weeks: int = 1,
    room_id: int | None = None, prescription_id: int | None = None, last_day: date | None = None,
    skip_school_holidays: bool = False, actor_user_id: int | None = None, hooks: Any = None,
    holiday_region: str = "metropole", dry_run: bool = False,
) -> SeriesResult:
    """Plan and book a series. Skipped and conflicting dates are in `plan`; nothing is dropped
    silently. With `dry_run`, nothing is written (a preview)."""
    kind = appts.get_type(db, appointment_type_id)
    if not patient_exists(db, patient_id):
        raise SchedulingError("patient_id", "no such patient in this clinic")
    if not is_practitioner(db, practitioner_id):
        raise SchedulingError("practitioner_id", "no such practitioner in this clinic")
    if not 2000 <= first_day.year <= 2099:
        raise SchedulingError("first_day", "give a date between 2000 and 2099")
    if prescription_id is not None:
        prescription = db.exec(select(Prescription).where(Prescription.id == prescription_id)).first()
        if prescription is None or prescription.patient_id != patient_id:
            raise SchedulingError("prescription_id", "no such prescription for this patient")
    rule = SeriesRule(slots, timedelta(minutes=kind.duration_minutes), first_day, sessions, every_weeks, last_day)
    ctx = series_context(db, practitioner_id=practitioner_id, patient_id=patient_id, room_id=room_id,
                         first_day=first_day, skip_school_holidays=skip_school_holidays,
                         holiday_region=holiday_region)
    try:
        plan = plan_series(rule, ctx)
    except SeriesRuleError as exc:
        field, _, message = str(exc).partition(": ")
        raise SchedulingError(field, message) from None
    series = Series(prescription_id=prescription_id, patient_id=patient_id, practitioner_id=practitioner_id,
                    appointment_type_id=kind.id, room_id=room_id, rule=rule_json(slots, every_weeks),
                    sessions_target=sessions, first_day=first_day)
    if dry_run:
        return SeriesResult(series, plan, [])
    db.add(series)
    db.flush()
    booked = [
        appts.book(db, practitioner_id=practitioner_id, patient_id=patient_id, appointment_type_id=kind.id,
                   starts_at=occ.start, ends_at=occ.end, room_id=room_id, series_id=series.id, source="series",
                   actor_user_id=actor_user_id, hooks=hooks, audit=False)
        for occ in plan.occurrences
    ]
    record(db, action="create", resource_type="series", resource_id=series.id, patient_id=patient_id,
           details={"sessions": len(booked), "skipped": len(plan.skipped), "conflicts": len(plan.conflicts)})
    return SeriesResult(series, plan, booked)


def get_series(db: CarnetSession, series_id: int) -> Series:
    found = db.exec(select(Series).where(Series.id == series_id)).first()
    if found is None:
        raise NotFound("series")
    return found


def series_appointments(db: CarnetSession, series_id: int, include_cancelled: bool = False) -> list[Appointment]:
    query = select(Appointment).where(Appointment.series_id == series_id)
    if not include_cancelled:
        query = query.where(Appointment.status != CANCELLED)
    return list(db.exec(query.order_by(Appointment.starts_at)))


def move_following(
    db: CarnetSession, appt: Appointment, *, slots: tuple[WeeklySlot, ...], first_day: date,
    every_weeks: int | None = None, skip_school_holidays: bool = False, hooks: Any = None,
    holiday_region: str = "metropole",
) -> tuple[list[Appointment], SeriesPlan]:
    """Move this booked occurrence and every following booked one of its series to a new weekly
    rule starting on `first_day`. Occurrences that find no date are reported, not cancelled."""
    if appt.series_id is None:
        raise SchedulingError("series_id", "this appointment is not part of a series")
    if appt.status != BOOKED:
        raise SchedulingError("status", "only a booked appointment can be moved")
    series = get_series(db, appt.series_id)
    following = [a for a in series_appointments(db, series.id) if a.status == BOOKED and a.starts_at >= appt.starts_at]
    duration = appt.ends_at - appt.starts_at
    _, old_every = parse_rule(series.rule)
    every = every_weeks or old_every
    rule = SeriesRule(slots, duration, first_day, len(following), every)
    ctx = series_context(db, practitioner_id=series.practitioner_id, patient_id=series.patient_id,
                         room_id=series.room_id, first_day=first_day, skip_school_holidays=skip_school_holidays,
                         exclude=tuple(a.id for a in following), holiday_region=holiday_region)
    try:
        plan = plan_series(rule, ctx)
    except SeriesRuleError as exc:
        field, _, message = str(exc).partition(": ")
        raise SchedulingError(field, message) from None
    previous = {a.id: (a.starts_at, a.ends_at) for a in following}
    # Two phases so that occurrences sliding onto each other's old times never overlap mid-way:
    # release every time first, then take the new ones (the database checks each row).
    for a in following:
        a.status = CANCELLED
        db.add(a)
    db.flush()
    moved: list[Appointment] = []
    tz = clinic_tz(db)
    for a, occ in zip(following, plan.occurrences, strict=False):
        a.status, a.starts_at, a.ends_at = BOOKED, occ.start, occ.end
        a.local_day, a.updated_at = local_date(occ.start, tz), utcnow()
        db.add(a)
        appts._flush_or_slot_taken(db, a)
        moved.append(a)
    for a in following[len(plan.occurrences):]:
        # No date found for these: give them back their old time rather than lose them silently.
        a.status = BOOKED
        db.add(a)
        appts._flush_or_slot_taken(db, a)
    series.rule = rule_json(slots, every)
    db.add(series)
    db.flush()
    record(db, action="update", resource_type="series", resource_id=series.id, patient_id=series.patient_id,
           details={"moved": len(moved), "skipped": len(plan.skipped), "conflicts": len(plan.conflicts)})
    for a in moved:
        notify(hooks, "scheduling_appointment_moved", appointment=a, previous_start=previous[a.id][0],
               previous_end=previous[a.id][1], db=db)
    return moved, plan


@dataclass
class Counters:
    prescribed: int | None
    target: int
    done: int  # honoured
    planned: int  # booked (future or not yet marked)
    missed: int  # absent non excusé or excused
    remaining: int  # prescribed (or target) minus done
    unplanned: int  # remaining minus planned (sessions still to place)
    warning: bool  # near the end of the prescription


def counters(db: CarnetSession, series: Series, warn_at: int = 3) -> Counters:
    rows = series_appointments(db, series.id)
    done = sum(1 for a in rows if a.status == HONOURED)
    planned = sum(1 for a in rows if a.status == BOOKED)
    missed = sum(1 for a in rows if a.status in (ABSENT, EXCUSED))
    prescribed = None
    if series.prescription_id is not None:
        prescription = db.exec(select(Prescription).where(Prescription.id == series.prescription_id)).first()
        prescribed = prescription.sessions_prescribed if prescription else None
    allowed = prescribed if prescribed is not None else series.sessions_target
    remaining = max(0, allowed - done)
    return Counters(prescribed, series.sessions_target, done, planned, missed, remaining,
                    max(0, remaining - planned), prescribed is not None and remaining <= warn_at)


def patient_series(db: CarnetSession, patient_id: int) -> list[Series]:
    return list(db.exec(select(Series).where(Series.patient_id == patient_id).order_by(Series.first_day.desc())))  # type: ignore[attr-defined]


def plan_payload(plan: SeriesPlan) -> dict[str, Any]:
    def skipped(s: Skipped) -> dict[str, Any]:
        return {"date": s.day.isoformat(), "start": s.start.isoformat() if s.start else None,
                "reason": s.reason, "label": s.label}

    return {
        "planned": [{"start": o.start.isoformat(), "end": o.end.isoformat()} for o in plan.occurrences],
        "skipped": [skipped(s) for s in plan.skipped],
        "conflicts": [{"start": c.start.isoformat(), "end": c.end.isoformat(), "reason": c.reason,
                       "appointment_id": c.ref} for c in plan.conflicts],
        "missing": plan.missing,
    }


__all__ = ["CLOSURE", "Counters", "SeriesResult", "counters", "create_prescription", "create_series",
           "move_following", "plan_payload", "series_appointments"]
