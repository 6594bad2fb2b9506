"""Property-based tests (hypothesis) of the series planner: for any weekly rule, calendar and busy
times, every session is on one of the rule's weekdays at its time, the count is respected, holidays,
closures and busy times are avoided, nothing is duplicated or out of order, and every date the rule
passed over is reported (skipped or in conflict) — never dropped silently."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet_scheduling.services.calendar import DateRange, local_to_utc, public_holiday, week_start
from carnet_scheduling.services.recurrence import (
    CLOSURE,
    EXCEPTION,
    PATIENT_SAME_DAY,
    PRACTITIONER_BUSY,
    PUBLIC_HOLIDAY,
    ROOM_BUSY,
    SCHOOL_HOLIDAY,
    SeriesContext,
    SeriesRule,
    WeeklySlot,
    candidate_times,
    plan_series,
)
from carnet_scheduling.services.slots import Interval

TZ = "Europe/Paris"
ZONE = ZoneInfo(TZ)
# 60 examples a property keeps the six under half a minute on a quiet 2-core machine; raise it to explore.
PROPERTIES = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))
times = st.builds(time, st.integers(7, 20), st.sampled_from([0, 15, 30, 45]))
slots = st.lists(st.builds(WeeklySlot, st.integers(0, 6), times), min_size=1, max_size=4,
                 unique_by=lambda s: (s.weekday, s.at))


@st.composite
def ranges(draw, around: date) -> list[DateRange]:
    found = []
    for _ in range(draw(st.integers(0, 4))):
        first = around + timedelta(days=draw(st.integers(0, 200)))
        found.append(DateRange(first, first + timedelta(days=draw(st.integers(0, 20))), "fermé"))
    return found


@st.composite
def busy(draw, around: date) -> list[Interval]:
    found = []
    for n in range(draw(st.integers(0, 6))):
        day = around + timedelta(days=draw(st.integers(0, 150)))
        start = local_to_utc(day, draw(times), TZ)
        found.append(Interval(start, start + timedelta(minutes=draw(st.sampled_from([15, 30, 60, 120]))), ref=n))
    return sorted(found, key=lambda i: i.start)


@st.composite
def cases(draw) -> tuple[SeriesRule, SeriesContext]:
    first_day = draw(days)
    last_day = draw(st.none() | st.integers(0, 400).map(lambda n: first_day + timedelta(days=n)))
    rule = SeriesRule(
        slots=tuple(draw(slots)), duration=timedelta(minutes=draw(st.sampled_from([15, 30, 45, 60]))),
        first_day=first_day, sessions=draw(st.integers(1, 60)), every_weeks=draw(st.integers(1, 4)),
        last_day=last_day,
    )
    ctx = SeriesContext(
        tz=TZ, closures=draw(ranges(first_day)), school_holidays=draw(ranges(first_day)),
        skip_school_holidays=draw(st.booleans()), skip_public_holidays=draw(st.booleans()),
        exceptions=draw(busy(first_day)), practitioner_busy=draw(busy(first_day)), room_busy=draw(busy(first_day)),
        patient_days=frozenset(first_day + timedelta(days=n) for n in draw(st.lists(st.integers(0, 100), max_size=5))),
    )
    return rule, ctx


def _local(moment: datetime) -> datetime:
    return moment.astimezone(ZONE)


def _overlaps(a: Interval, others: list[Interval]) -> bool:
    return any(a.start < o.end and o.start < a.end for o in others)


@PROPERTIES
@given(cases())
def test_every_session_is_on_a_rule_weekday_at_its_time(case):
    rule, ctx = case
    wanted = {(s.weekday, s.at) for s in rule.slots}
    for occurrence in plan_series(rule, ctx).occurrences:
        local = _local(occurrence.start)
        assert (local.weekday(), local.time().replace(tzinfo=None)) in wanted
        assert occurrence.end - occurrence.start == rule.duration


@PROPERTIES
@given(cases())
def test_the_count_is_respected_and_missing_sessions_are_counted(case):
    rule, ctx = case
    plan = plan_series(rule, ctx)
    assert len(plan.occurrences) + plan.missing == rule.sessions
    assert 0 <= plan.missing <= rule.sessions
    if rule.last_day is None:
        # Without an end date the planner looks three years ahead (MAX_SPAN). What falls short is
        # only what those three years cannot hold: fewer candidate times than sessions (60 sessions
        # every 3 or 4 weeks need more than three years), or candidates taken by what `cases` can
        # generate, each at most once per slot: 8 closure or school-holiday ranges of up to 3 weeks,
        # 18 busy times, 5 patient days, 33 public holidays in three years.
        available = sum(1 for _ in candidate_times(rule, TZ))
        assert plan.missing >= rule.sessions - available
        blockable = (8 * 3 + 18 + 5 + 33) * len(rule.slots)
        if available - blockable >= rule.sessions:
            assert plan.missing == 0 and plan.complete


@PROPERTIES
@given(cases())
def test_sessions_are_in_order_without_duplicates_within_the_allowed_days(case):
    rule, ctx = case
    starts = [o.start for o in plan_series(rule, ctx).occurrences]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    local_days = [_local(s).date() for s in starts]
    assert len(set(local_days)) == len(local_days)  # one billable session a day at most
    assert all(d >= rule.first_day for d in local_days)
    assert rule.last_day is None or all(d <= rule.last_day for d in local_days)
    # every N weeks: each session's week is a multiple of N weeks after the first week
    first_week = week_start(rule.first_day)
    assert all((week_start(d) - first_week).days // 7 % rule.every_weeks == 0 for d in local_days)


@PROPERTIES
@given(cases())
def test_holidays_closures_time_off_and_busy_times_are_avoided(case):
    rule, ctx = case
    for occurrence in plan_series(rule, ctx).occurrences:
        day = _local(occurrence.start).date()
        if ctx.skip_public_holidays:
            assert public_holiday(day) is None
        assert not any(r.first <= day <= r.last for r in ctx.closures)
        if ctx.skip_school_holidays:
            assert not any(r.first <= day <= r.last for r in ctx.school_holidays)
        assert day not in ctx.patient_days
        for others in (ctx.exceptions, ctx.practitioner_busy, ctx.room_busy):
            assert not _overlaps(occurrence, list(others))


@PROPERTIES
@given(cases())
def test_every_date_passed_over_is_reported_with_a_true_reason(case):
    rule, ctx = case
    plan = plan_series(rule, ctx)
    reported = [o.start for o in plan.occurrences] + [s.start for s in plan.skipped] + [c.start for c in plan.conflicts]
    assert len(reported) == len(set(reported))  # each candidate once
    # the candidates the planner went through, in order, are exactly what it reported
    seen = len(reported)
    expected = [start for _day, _at, start in _first(candidate_times(rule, ctx.tz), seen)]
    assert sorted(reported, key=str) == sorted(expected, key=str)
    for s in plan.skipped:
        if s.reason == PUBLIC_HOLIDAY:
            assert ctx.skip_public_holidays and public_holiday(s.day) == s.label
        elif s.reason == CLOSURE:
            assert any(r.first <= s.day <= r.last for r in ctx.closures)
        elif s.reason == SCHOOL_HOLIDAY:
            assert ctx.skip_school_holidays and any(r.first <= s.day <= r.last for r in ctx.school_holidays)
        elif s.reason == EXCEPTION:
            assert _overlaps(Interval(s.start, s.start + rule.duration), list(ctx.exceptions))
    for c in plan.conflicts:
        slot = Interval(c.start, c.end)
        others = {PRACTITIONER_BUSY: ctx.practitioner_busy, ROOM_BUSY: ctx.room_busy}.get(c.reason)
        if others is not None:
            assert _overlaps(slot, list(others))
        else:
            assert c.reason == PATIENT_SAME_DAY


@PROPERTIES
@given(cases())
def test_planning_is_deterministic(case):
    rule, ctx = case
    assert plan_series(rule, ctx) == plan_series(rule, ctx)


def _first(iterator, n):
    for i, item in enumerate(iterator):
        if i >= n:
            return
        yield item
