"""Treatment series planning (pure): "every Tuesday 17:00 for 30 sessions", twice a week,
skipping closures, practitioner exceptions, public holidays and optionally school holidays.

Nothing is dropped silently: each date that could not hold a session is reported as skipped
(calendar reasons) or as a conflict (something already occupies the time), and the series runs on
until it holds the prescribed number of sessions or reaches its last allowed day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from carnet_scheduling.services.calendar import (
    DEFAULT_TZ,
    DateRange,
    NonexistentLocalTime,
    find_range,
    local_date,
    local_to_utc,
    public_holiday,
    week_start,
)
from carnet_scheduling.services.slots import Interval, first_overlap

MAX_SESSIONS = 200
MAX_SPAN = timedelta(days=3 * 366)

# Reasons, stable strings shown to people through gettext and returned by the API.
PUBLIC_HOLIDAY = "public_holiday"
CLOSURE = "closure"
SCHOOL_HOLIDAY = "school_holiday"
EXCEPTION = "practitioner_unavailable"
NONEXISTENT_TIME = "nonexistent_time"
PRACTITIONER_BUSY = "practitioner_busy"
ROOM_BUSY = "room_busy"
PATIENT_SAME_DAY = "patient_already_booked_that_day"


class SeriesRuleError(ValueError):
    """A series rule that cannot be planned; the message says what to change."""


@dataclass(frozen=True)
class WeeklySlot:
    weekday: int  # 0 = Monday
    at: time


@dataclass(frozen=True)
class SeriesRule:
    slots: tuple[WeeklySlot, ...]
    duration: timedelta
    first_day: date
    sessions: int
    every_weeks: int = 1
    last_day: date | None = None  # e.g. the prescription's validity

    def validate(self) -> None:
        if not self.slots:
            raise SeriesRuleError("slots: give at least one weekday and time")
        if len({(s.weekday, s.at) for s in self.slots}) != len(self.slots):
            raise SeriesRuleError("slots: the same weekday and time is given twice")
        for s in self.slots:
            if not 0 <= s.weekday <= 6:
                raise SeriesRuleError("slots: weekday must be 0 (Monday) to 6 (Sunday)")
        if not 1 <= self.sessions <= MAX_SESSIONS:
            raise SeriesRuleError(f"sessions: give a number from 1 to {MAX_SESSIONS}")
        if not timedelta(minutes=5) <= self.duration <= timedelta(hours=8):
            raise SeriesRuleError("duration: give 5 minutes to 8 hours")
        if not 1 <= self.every_weeks <= 4:
            raise SeriesRuleError("every_weeks: give 1 (weekly) to 4")
        if self.last_day is not None and self.last_day < self.first_day:
            raise SeriesRuleError("last_day: must not be before first_day")


@dataclass(frozen=True)
class Skipped:
    day: date
    start: datetime | None
    reason: str
    label: str = ""


@dataclass(frozen=True)
class Conflict:
    start: datetime
    end: datetime
    reason: str
    ref: Any = None  # the occupying appointment's id


@dataclass
class SeriesPlan:
    occurrences: list[Interval] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.occurrences) and not self.missing

    missing: int = 0  # sessions that found no date before last_day


@dataclass
class SeriesContext:
    """The calendar and the occupied times the plan must respect (loaded by the caller)."""

    tz: str = DEFAULT_TZ
    closures: Sequence[DateRange] = ()
    school_holidays: Sequence[DateRange] = ()
    skip_school_holidays: bool = False
    skip_public_holidays: bool = True
    holiday_region: str = "metropole"
    exceptions: Sequence[Interval] = ()  # practitioner unavailable (UTC)
    practitioner_busy: Sequence[Interval] = ()  # sorted by start
    room_busy: Sequence[Interval] = ()  # sorted by start
    patient_days: frozenset[date] = frozenset()  # local dates the patient already has a billable session


def candidate_times(rule: SeriesRule, tz: str) -> Any:
    """Yield (local date, UTC start or None, error) in order, following the weekly pattern."""
    slots = sorted(rule.slots, key=lambda s: (s.weekday, s.at))
    monday = week_start(rule.first_day)
    horizon = rule.first_day + MAX_SPAN
    week = 0
    while True:
        base = monday + timedelta(weeks=week * rule.every_weeks)
        if base > horizon:
            return
        for s in slots:
            day = base + timedelta(days=s.weekday)
            if day < rule.first_day:
                continue
            try:
                yield day, s.at, local_to_utc(day, s.at, tz)
            except NonexistentLocalTime:
                yield day, s.at, None
        week += 1


def plan_series(rule: SeriesRule, ctx: SeriesContext) -> SeriesPlan:
    """Place `rule.sessions` sessions, reporting every date skipped or in conflict."""
    rule.validate()
    plan = SeriesPlan()
    exceptions = sorted(ctx.exceptions, key=lambda i: i.start)
    prac = sorted(ctx.practitioner_busy, key=lambda i: i.start)
    rooms = sorted(ctx.room_busy, key=lambda i: i.start)
    patient_days = set(ctx.patient_days)
    for day, _at, start in candidate_times(rule, ctx.tz):
        if len(plan.occurrences) >= rule.sessions:
            break
        if rule.last_day is not None and day > rule.last_day:
            break
        if start is None:
            plan.skipped.append(Skipped(day, None, NONEXISTENT_TIME))
            continue
        end = start + rule.duration
        if ctx.skip_public_holidays and (label := public_holiday(day, ctx.holiday_region)):
            plan.skipped.append(Skipped(day, start, PUBLIC_HOLIDAY, label))
            continue
        if closure := find_range(day, ctx.closures):
            plan.skipped.append(Skipped(day, start, CLOSURE, closure.label))
            continue
        if ctx.skip_school_holidays and (holiday := find_range(day, ctx.school_holidays)):
            plan.skipped.append(Skipped(day, start, SCHOOL_HOLIDAY, holiday.label))
            continue
        candidate = Interval(start, end)
        if first_overlap(candidate, exceptions) is not None:
            plan.skipped.append(Skipped(day, start, EXCEPTION))
            continue
        if (hit := first_overlap(candidate, prac)) is not None:
            plan.conflicts.append(Conflict(start, end, PRACTITIONER_BUSY, hit.ref))
            continue
        if (hit := first_overlap(candidate, rooms)) is not None:
            plan.conflicts.append(Conflict(start, end, ROOM_BUSY, hit.ref))
            continue
        local_day = local_date(start, ctx.tz)
        if local_day in patient_days:
            plan.conflicts.append(Conflict(start, end, PATIENT_SAME_DAY))
            continue
        plan.occurrences.append(candidate)
        patient_days.add(local_day)
    plan.missing = rule.sessions - len(plan.occurrences)
    return plan
