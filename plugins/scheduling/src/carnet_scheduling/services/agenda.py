"""The agenda as a grid: time rows (15 minutes) × columns (days of one practitioner or room, or
the rooms of the clinic on one day), appointments placed by row and span, working hours and time
off shaded. Pure data for the templates: no Litestar, no Jinja."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import select

from carnet_core.plugin_api import CarnetSession
from carnet_scheduling.models import (
    CANCELLED,
    Appointment,
    AppointmentType,
    AvailabilityException,
    Room,
    WorkingHours,
    overlapping_window,
)
from carnet_scheduling.services.calendar import local_day_bounds, public_holiday, to_local, week_start, zone

STEP = 15  # minutes per grid row
DEFAULT_FIRST = time(8)
DEFAULT_LAST = time(19)
MAX_COLUMNS = 12


@dataclass
class Column:
    key: str  # "2026-09-01" for a day, "room:3" for a room
    label: str
    day: date
    room_id: int | None = None
    index: int = 0  # CSS grid column (2 = first after the time labels)
    today: bool = False
    holiday: str | None = None
    off: list[str] = field(default_factory=list)  # labels of time off covering the column


@dataclass
class Cell:
    row: int
    column: Column
    start: datetime  # UTC
    open: bool  # within working hours, not in time off
    label: str = ""  # local "HH:MM"


@dataclass
class Block:
    appointment: Appointment
    column: Column
    row: int
    span: int
    start_local: datetime
    end_local: datetime


@dataclass
class Grid:
    columns: list[Column]
    hours: list[tuple[int, str, bool]]  # (row, "08:00", full hour?)
    cells: list[Cell]
    blocks: list[Block]
    first: time
    rows: int


def week_days(anchor: date) -> list[date]:
    first = week_start(anchor)
    return [first + timedelta(days=i) for i in range(7)]


def window(days: Sequence[date], tz: str) -> tuple[datetime, datetime]:
    return local_day_bounds(days[0], tz)[0], local_day_bounds(days[-1], tz)[1]


def load_hours(db: CarnetSession, practitioner_id: int | None = None) -> list[WorkingHours]:
    query = select(WorkingHours)
    if practitioner_id is not None:
        query = query.where(WorkingHours.practitioner_id == practitioner_id)
    return list(db.exec(query))


def load_exceptions(
    db: CarnetSession, start: datetime, end: datetime, practitioner_id: int | None = None,
) -> list[AvailabilityException]:
    query = select(AvailabilityException).where(AvailabilityException.starts_at < end,
                                                AvailabilityException.ends_at > start)
    if practitioner_id is not None:
        query = query.where(or_(AvailabilityException.practitioner_id == practitioner_id,
                                AvailabilityException.practitioner_id == None))  # noqa: E711
    else:
        query = query.where(AvailabilityException.practitioner_id == None)  # noqa: E711
    return list(db.exec(query))


def load_appointments(
    db: CarnetSession, start: datetime, end: datetime, *, practitioner_id: int | None = None,
    room_id: int | None = None, include_cancelled: bool = True,
) -> list[Appointment]:
    query = select(Appointment).where(overlapping_window(start, end))
    if practitioner_id is not None:
        query = query.where(Appointment.practitioner_id == practitioner_id)
    if room_id is not None:
        query = query.where(Appointment.room_id == room_id)
    if not include_cancelled:
        query = query.where(Appointment.status != CANCELLED)
    return list(db.exec(query.order_by(Appointment.starts_at, Appointment.id)))


def favourite_type(db: CarnetSession, practitioner_id: int, sample: int = 60) -> int | None:
    """The active appointment type this practitioner booked most among their latest appointments."""
    recent = db.exec(select(Appointment.appointment_type_id).where(Appointment.practitioner_id == practitioner_id)
                     .order_by(Appointment.starts_at.desc()).limit(sample)).all()  # type: ignore[attr-defined]
    active = {t.id for t in db.exec(select(AppointmentType).where(AppointmentType.active == True))}  # noqa: E712
    counts: dict[int, int] = {}
    for type_id in recent:
        if type_id in active:
            counts[type_id] = counts.get(type_id, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def types_by_id(db: CarnetSession) -> dict[int, AppointmentType]:
    return {t.id: t for t in db.exec(select(AppointmentType))}  # type: ignore[misc]


def rooms_by_id(db: CarnetSession) -> dict[int, Room]:
    return {r.id: r for r in db.exec(select(Room))}  # type: ignore[misc]


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _bounds(hours: Sequence[WorkingHours], locals_: Sequence[tuple[datetime, datetime]]) -> tuple[int, int]:
    """First and last minute of the day shown: the default day widened by hours and appointments."""
    first, last = _minutes(DEFAULT_FIRST), _minutes(DEFAULT_LAST)
    for h in hours:
        first, last = min(first, _minutes(h.start_time)), max(last, _minutes(h.end_time))
    for s, e in locals_:
        first = min(first, s.hour * 60 + s.minute)
        end_minutes = 24 * 60 if e.date() > s.date() else e.hour * 60 + e.minute
        last = max(last, end_minutes)
    first = first // 60 * 60
    last = min(24 * 60, -(-last // 60) * 60)
    return first, last


def build_grid(
    *, columns: list[Column], appointments: Sequence[Appointment], hours: Sequence[WorkingHours],
    exceptions: Sequence[AvailabilityException], tz: str, today: date, by_room: bool = False,
) -> Grid:
    """Place everything on the grid. With `by_room`, columns are rooms of one day (working hours
    of any practitioner in that room open the cell); otherwise columns are days."""
    zone_ = zone(tz)
    locals_ = [(to_local(a.starts_at, zone_), to_local(a.ends_at, zone_)) for a in appointments]
    first, last = _bounds(hours, locals_)
    rows = (last - first) // STEP
    for i, col in enumerate(columns):
        col.index = i + 2
        col.today = col.day == today
        col.holiday = public_holiday(col.day)
    hour_rows = [(2 + (m - first) // STEP, f"{m // 60:02d}:{m % 60:02d}", m % 60 == 0)
                 for m in range(first, last, 30)]
    # Opening per column: minutes ranges from working hours, minus time off.
    cells: list[Cell] = []
    for col in columns:
        weekday = col.day.weekday()
        blocks = [h for h in hours if h.weekday == weekday and (not by_room or h.room_id == col.room_id)]
        day_start = datetime.combine(col.day, time(0), tzinfo=zone_)
        day_end = (day_start + timedelta(days=1)).astimezone(UTC)
        off = [x for x in exceptions if x.starts_at < day_end and x.ends_at > day_start.astimezone(UTC)]
        col.off = sorted({x.label or x.kind for x in off})
        for r in range(rows):
            minute = first + r * STEP
            start_local = day_start + timedelta(minutes=minute)
            start = start_local.astimezone(UTC)
            is_open = col.holiday is None and any(
                _minutes(h.start_time) <= minute < _minutes(h.end_time) for h in blocks
            ) and not any(x.starts_at <= start < x.ends_at for x in off)
            cells.append(Cell(row=2 + r, column=col, start=start, open=is_open,
                              label=f"{minute // 60:02d}:{minute % 60:02d}"))
    placed: list[Block] = []
    by_key = {c.key: c for c in columns}
    for appt, (s, e) in zip(appointments, locals_, strict=True):
        key = f"room:{appt.room_id or 0}" if by_room else s.date().isoformat()
        col = by_key.get(key)
        if col is None:
            continue
        start_min = max(first, s.hour * 60 + s.minute)
        end_min = 24 * 60 if e.date() > s.date() else e.hour * 60 + e.minute
        end_min = min(last, max(end_min, start_min + STEP))
        row = 2 + (start_min - first) // STEP
        span = max(1, -(-(end_min - start_min) // STEP))
        placed.append(Block(appt, col, row, span, s, e))
    return Grid(columns=columns, hours=hour_rows, cells=cells, blocks=placed,
                first=time(first // 60, first % 60), rows=rows)


def day_columns(days: Sequence[date], labels: Sequence[str]) -> list[Column]:
    return [Column(key=d.isoformat(), label=label, day=d) for d, label in zip(days, labels, strict=True)]


def room_columns(day: date, rooms: Sequence[Room], no_room_label: str) -> list[Column]:
    cols = [Column(key=f"room:{r.id}", label=r.name, day=day, room_id=r.id) for r in rooms[:MAX_COLUMNS - 1]]
    cols.append(Column(key="room:0", label=no_room_label, day=day, room_id=None))
    return cols


def visible_days(days: Sequence[date], hours: Sequence[WorkingHours], appointments: Sequence[Appointment],
                 tz: str) -> list[date]:
    """A week shows Monday to Friday, and the weekend only when someone works or is booked then."""
    used = {h.weekday for h in hours} | {to_local(a.starts_at, tz).weekday() for a in appointments}
    return [d for d in days if d.weekday() < 5 or d.weekday() in used]


def summary(appointments: Sequence[Appointment]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for a in appointments:
        counts[a.status] = counts.get(a.status, 0) + 1
    return counts
