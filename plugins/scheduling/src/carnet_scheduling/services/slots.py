"""Free-slot computation (pure): weekly working hours per place, exceptions, existing
appointments, minimum notice and booking horizon, in the clinic's time zone.

Every instant here is UTC-aware; wall-clock times (working hours) are turned into UTC per date,
so 09:00 stays 09:00 on both sides of a daylight-saving change. Online booking and the waiting
list reuse `free_slots` with their own notice and horizon.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from carnet_scheduling.services.calendar import (
    DEFAULT_TZ,
    DateRange,
    NonexistentLocalTime,
    days,
    find_range,
    local_date,
    local_to_utc,
    public_holiday,
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, order=True)
class Interval:
    """Half-open [start, end) in UTC. `ref` identifies what occupies it (an appointment id)."""

    start: datetime
    end: datetime
    ref: Any = field(default=None, compare=False)

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class WeeklyHours:
    """A block of working hours: every `weekday` (0 = Monday) from `start` to `end`, at a place."""

    weekday: int
    start: time
    end: time
    place_id: int | None = None
    room_id: int | None = None


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    place_id: int | None = None
    room_id: int | None = None


class HoursError(ValueError):
    """Working hours that cannot be right; the message names the block to fix."""


def validate_weekly_hours(hours: Sequence[WeeklyHours]) -> None:
    """Each block ends after it starts and no two blocks of a day overlap (one practitioner
    cannot be in two places at once)."""
    by_day: dict[int, list[WeeklyHours]] = {}
    for h in hours:
        if not 0 <= h.weekday <= 6:
            raise HoursError(f"weekday must be 0 (Monday) to 6 (Sunday), not {h.weekday}")
        if h.end <= h.start:
            raise HoursError(
                f"{WEEKDAYS[h.weekday]} {h.start:%H:%M}-{h.end:%H:%M}: the end must be after the start"
            )
        by_day.setdefault(h.weekday, []).append(h)
    for weekday, blocks in by_day.items():
        blocks.sort(key=lambda b: b.start)
        for a, b in zip(blocks, blocks[1:], strict=False):
            if b.start < a.end:
                raise HoursError(
                    f"{WEEKDAYS[weekday]} {a.start:%H:%M}-{a.end:%H:%M} overlaps "
                    f"{b.start:%H:%M}-{b.end:%H:%M}; merge or shorten one of them"
                )


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union (touching intervals are merged)."""
    out: list[Interval] = []
    for iv in sorted(intervals, key=lambda i: (i.start, i.end)):
        if out and iv.start <= out[-1].end:
            if iv.end > out[-1].end:
                out[-1] = Interval(out[-1].start, iv.end)
        else:
            out.append(Interval(iv.start, iv.end))
    return out


def subtract(free: Interval, busy: Sequence[Interval]) -> list[Interval]:
    """`free` minus the merged, sorted `busy` intervals."""
    pieces: list[Interval] = []
    cursor = free.start
    starts = [b.end for b in busy]
    i = bisect.bisect_right(starts, free.start)
    while i < len(busy) and busy[i].start < free.end:
        b = busy[i]
        if b.start > cursor:
            pieces.append(Interval(cursor, min(b.start, free.end)))
        cursor = max(cursor, b.end)
        i += 1
    if cursor < free.end:
        pieces.append(Interval(cursor, free.end))
    return pieces


def first_overlap(candidate: Interval, busy: Sequence[Interval]) -> Interval | None:
    """The first interval of sorted `busy` (not necessarily merged) overlapping `candidate`."""
    for b in busy:
        if b.start >= candidate.end:
            return None
        if b.overlaps(candidate):
            return b
    return None


@dataclass
class AvailabilityQuery:
    """Everything `free_slots` needs; the caller loads it from the database."""

    hours: Sequence[WeeklyHours]
    duration: timedelta
    window_start: datetime
    window_end: datetime
    now: datetime
    tz: str = DEFAULT_TZ
    busy: Sequence[Interval] = ()  # the practitioner's appointments and exceptions
    room_busy: Mapping[int, Sequence[Interval]] = field(default_factory=dict)
    closures: Sequence[DateRange] = ()
    min_notice: timedelta = timedelta(0)
    horizon: timedelta | None = None
    step: timedelta | None = None  # grid of start times from the block start; default: duration
    closed_on_public_holidays: bool = True
    holiday_region: str = "metropole"
    places: frozenset[int] | None = None  # only these places (matching the type's modality)


def free_slots(q: AvailabilityQuery) -> list[Slot]:
    """Bookable slots of `q.duration` inside the window, in chronological order."""
    if q.duration <= timedelta(0):
        raise ValueError("duration must be positive")
    step = q.step or q.duration
    earliest = max(q.window_start, q.now + q.min_notice)
    latest = q.window_end if q.horizon is None else min(q.window_end, q.now + q.horizon)
    if latest <= earliest:
        return []
    busy = merge(q.busy)
    room_busy = {room: merge(ivs) for room, ivs in q.room_busy.items()}
    by_day: dict[int, list[WeeklyHours]] = {}
    for h in q.hours:
        if q.places is None or h.place_id in q.places:
            by_day.setdefault(h.weekday, []).append(h)
    slots: list[Slot] = []
    first_day = local_date(earliest, q.tz)
    last_day = local_date(latest, q.tz)
    for day in days(first_day, last_day):
        blocks = by_day.get(day.weekday())
        if not blocks:
            continue
        if q.closed_on_public_holidays and public_holiday(day, q.holiday_region):
            continue
        if find_range(day, q.closures):
            continue
        for block in sorted(blocks, key=lambda b: b.start):
            slots.extend(_block_slots(day, block, q, busy, room_busy, step, earliest, latest))
    return slots


def _block_slots(
    day: date,
    block: WeeklyHours,
    q: AvailabilityQuery,
    busy: list[Interval],
    room_busy: dict[int, list[Interval]],
    step: timedelta,
    earliest: datetime,
    latest: datetime,
) -> list[Slot]:
    try:
        start = local_to_utc(day, block.start, q.tz)
        end = local_to_utc(day, block.end, q.tz)
    except NonexistentLocalTime:
        return []
    occupied = busy
    if block.room_id is not None and room_busy.get(block.room_id):
        occupied = merge([*busy, *room_busy[block.room_id]])
    out: list[Slot] = []
    for piece in subtract(Interval(start, end), occupied):
        lower = max(piece.start, earliest)
        k = max(0, -(-(lower - start) // step))  # ceil: first grid point at or after `lower`
        candidate = start + k * step
        while candidate + q.duration <= piece.end and candidate + q.duration <= latest:
            out.append(Slot(candidate, candidate + q.duration, block.place_id, block.room_id))
            candidate += step
    return out
