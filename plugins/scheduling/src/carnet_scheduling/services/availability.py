"""Availability from the database: loads working hours, exceptions and appointments for one
practitioner, then runs the pure `free_slots`. Online booking and waiting-list offers call
`find_slots` with their own notice, horizon and `online_only`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import or_
from sqlmodel import col, select

from carnet_core.plugin_api import CarnetSession, utcnow
from carnet_scheduling.models import (
    CANCELLED,
    Appointment,
    AvailabilityException,
    Place,
    WorkingHours,
    overlapping_window,
)
from carnet_scheduling.services.appointments import check_start, get_type
from carnet_scheduling.services.context import clinic_tz, is_practitioner
from carnet_scheduling.services.errors import SchedulingError
from carnet_scheduling.services.slots import AvailabilityQuery, Interval, Slot, WeeklyHours, free_slots

MAX_WINDOW = timedelta(days=92)


def busy_intervals(
    db: CarnetSession, practitioner_id: int, start: datetime, end: datetime,
    room_ids: Iterable[int] | None = None,
) -> tuple[list[Interval], dict[int, list[Interval]]]:
    """(practitioner's busy times incl. exceptions and closures, busy times per room) in the window;
    rooms limited to `room_ids` when given (those the practitioner's hours use)."""
    whose = Appointment.practitioner_id == practitioner_id
    if room_ids is not None:
        whose = or_(whose, col(Appointment.room_id).in_(sorted(set(room_ids))))
    rows = db.exec(
        select(Appointment.id, Appointment.practitioner_id, Appointment.room_id, Appointment.starts_at,
               Appointment.ends_at)
        .where(Appointment.status != CANCELLED, overlapping_window(start, end), whose if room_ids is not None
               else sa.true())
    ).all()
    busy: list[Interval] = []
    rooms: dict[int, list[Interval]] = {}
    for appt_id, prac, room, s, e in rows:
        if prac == practitioner_id:
            busy.append(Interval(s, e, appt_id))
        if room is not None:
            rooms.setdefault(room, []).append(Interval(s, e, appt_id))
    exceptions = db.exec(
        select(AvailabilityException).where(
            AvailabilityException.starts_at < end, AvailabilityException.ends_at > start,
            or_(AvailabilityException.practitioner_id == practitioner_id,
                AvailabilityException.practitioner_id == None),  # noqa: E711
        )
    )
    busy.extend(Interval(x.starts_at, x.ends_at, f"exception:{x.id}") for x in exceptions)
    return busy, rooms


def find_slots(
    db: CarnetSession,
    practitioner_id: int,
    appointment_type_id: int,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
    min_notice: timedelta = timedelta(0),
    horizon: timedelta | None = None,
    step: timedelta | None = None,
    online_only: bool = False,
    holiday_region: str = "metropole",
) -> list[Slot]:
    """Free slots for one practitioner and appointment type in [start, end)."""
    # Friendly errors for naive or absurd dates (the window itself may span weeks).
    check_start(start)
    if end.tzinfo is None:
        raise SchedulingError("to", "give a time with its offset, e.g. 2026-09-30T00:00:00+02:00")
    if end <= start:
        raise SchedulingError("to", "the end of the search must be after its start")
    if end - start > MAX_WINDOW:
        raise SchedulingError("to", "search at most 92 days at a time")
    kind = get_type(db, appointment_type_id)
    if not kind.active or (online_only and not kind.bookable_online):
        raise SchedulingError("appointment_type_id", "this appointment type cannot be booked here")
    if not is_practitioner(db, practitioner_id):
        raise SchedulingError("practitioner_id", "no such practitioner in this clinic")
    places = frozenset(p.id for p in db.exec(select(Place).where(Place.kind == kind.modality)))
    hours = [
        WeeklyHours(h.weekday, h.start_time, h.end_time, h.place_id, h.room_id)
        for h in db.exec(select(WorkingHours).where(WorkingHours.practitioner_id == practitioner_id))
    ]
    busy, rooms = busy_intervals(db, practitioner_id, start, end,
                                 room_ids=[h.room_id for h in hours if h.room_id is not None])
    query = AvailabilityQuery(
        hours=hours, duration=timedelta(minutes=kind.duration_minutes), window_start=start, window_end=end,
        now=now or utcnow(), tz=clinic_tz(db), busy=busy, room_busy=rooms, min_notice=min_notice,
        horizon=horizon, step=step, places=places, holiday_region=holiday_region,
    )
    return free_slots(query)


def slot_payload(slot: Slot) -> dict[str, Any]:
    return {"start": slot.start.isoformat(), "end": slot.end.isoformat(), "place_id": slot.place_id,
            "room_id": slot.room_id}
