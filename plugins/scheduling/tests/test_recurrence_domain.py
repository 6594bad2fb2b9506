"""Series planning: weekly and twice-weekly patterns, skipped and conflicting dates reported."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from carnet_scheduling.services.calendar import DateRange, local_to_utc
from carnet_scheduling.services.recurrence import (
    CLOSURE,
    EXCEPTION,
    NONEXISTENT_TIME,
    PATIENT_SAME_DAY,
    PRACTITIONER_BUSY,
    PUBLIC_HOLIDAY,
    ROOM_BUSY,
    SCHOOL_HOLIDAY,
    SeriesContext,
    SeriesRule,
    SeriesRuleError,
    WeeklySlot,
    plan_series,
)
from carnet_scheduling.services.slots import Interval

TUESDAY = 1
THURSDAY = 3
HALF_HOUR = timedelta(minutes=30)
# Zone A winter holidays 2027 (as data, like a clinic would enter them)
WINTER_2027 = DateRange(date(2027, 2, 6), date(2027, 2, 21), "Vacances d'hiver")


def tuesday_rule(sessions=30, first=date(2026, 9, 1), **kw):
    return SeriesRule((WeeklySlot(TUESDAY, time(17, 0)),), HALF_HOUR, first, sessions, **kw)


def test_thirty_weekly_sessions_on_tuesdays_at_local_1700():
    plan = plan_series(tuesday_rule(), SeriesContext(skip_public_holidays=False))
    assert len(plan.occurrences) == 30 and plan.complete
    assert not plan.skipped and not plan.conflicts
    for occ in plan.occurrences:
        local = occ.start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
        assert local.weekday() == TUESDAY and local.time() == time(17, 0)
        assert occ.end - occ.start == HALF_HOUR
    # DST ends 25 Oct 2026: UTC hour moves from 15:00 to 16:00
    assert plan.occurrences[0].start == datetime(2026, 9, 1, 15, 0, tzinfo=UTC)
    assert plan.occurrences[9].start == datetime(2026, 11, 3, 16, 0, tzinfo=UTC)


def test_series_over_holidays_reports_skipped_dates_and_still_holds_all_sessions():
    ctx = SeriesContext(
        closures=[DateRange(date(2026, 12, 21), date(2027, 1, 3), "Fermeture de Noël")],
        school_holidays=[WINTER_2027],
        skip_school_holidays=True,
    )
    plan = plan_series(tuesday_rule(), ctx)
    assert len(plan.occurrences) == 30
    reasons = {(s.day, s.reason) for s in plan.skipped}
    assert (date(2026, 12, 22), CLOSURE) in reasons
    assert (date(2026, 12, 29), CLOSURE) in reasons
    assert (date(2027, 2, 9), SCHOOL_HOLIDAY) in reasons
    assert (date(2027, 2, 16), SCHOOL_HOLIDAY) in reasons
    assert len(plan.skipped) == 4
    skipped_days = {s.day for s in plan.skipped}
    assert not skipped_days & {o.start.date() for o in plan.occurrences}
    # four weeks skipped: the series ends four weeks later than an uninterrupted one
    assert plan.occurrences[-1].start.date() == date(2026, 9, 1) + timedelta(weeks=33)


def test_public_holiday_on_a_tuesday_is_skipped_with_its_name():
    rule = SeriesRule((WeeklySlot(TUESDAY, time(17, 0)),), HALF_HOUR, date(2029, 4, 24), 1)
    plan = plan_series(rule, SeriesContext())
    assert plan.skipped == []  # the first Tuesday is free
    rule = SeriesRule((WeeklySlot(TUESDAY, time(17, 0)),), HALF_HOUR, date(2029, 5, 1), 1)
    plan = plan_series(rule, SeriesContext())
    assert (plan.skipped[0].reason, plan.skipped[0].label) == (PUBLIC_HOLIDAY, "Fête du Travail")


def test_victory_day_tuesday_is_also_skipped():
    rule = SeriesRule((WeeklySlot(TUESDAY, time(17, 0)),), HALF_HOUR, date(2029, 4, 24), 3)
    plan = plan_series(rule, SeriesContext())
    assert [s.day for s in plan.skipped] == [date(2029, 5, 1), date(2029, 5, 8)]
    assert [o.start.date() for o in plan.occurrences] == [date(2029, 4, 24), date(2029, 5, 15), date(2029, 5, 22)]


def test_twice_a_week_alternates_days_in_order():
    rule = SeriesRule(
        (WeeklySlot(THURSDAY, time(9, 0)), WeeklySlot(TUESDAY, time(17, 0))), HALF_HOUR, date(2026, 9, 3), 5
    )
    plan = plan_series(rule, SeriesContext())
    assert [o.start.date() for o in plan.occurrences] == [
        date(2026, 9, 3), date(2026, 9, 8), date(2026, 9, 10), date(2026, 9, 15), date(2026, 9, 17)
    ]


def test_fortnightly_series():
    plan = plan_series(tuesday_rule(sessions=3, every_weeks=2), SeriesContext())
    assert [o.start.date() for o in plan.occurrences] == [date(2026, 9, 1), date(2026, 9, 15), date(2026, 9, 29)]


def test_conflicts_are_reported_with_the_occupying_appointment():
    taken = local_to_utc(date(2026, 9, 8), time(17, 15))
    room_taken = local_to_utc(date(2026, 9, 15), time(16, 45))
    ctx = SeriesContext(
        practitioner_busy=[Interval(taken, taken + HALF_HOUR, ref=41)],
        room_busy=[Interval(room_taken, room_taken + HALF_HOUR, ref=42)],
    )
    plan = plan_series(tuesday_rule(sessions=4), ctx)
    assert [(c.reason, c.ref) for c in plan.conflicts] == [(PRACTITIONER_BUSY, 41), (ROOM_BUSY, 42)]
    assert [o.start.date() for o in plan.occurrences] == [
        date(2026, 9, 1), date(2026, 9, 22), date(2026, 9, 29), date(2026, 10, 6)
    ]


def test_touching_appointment_is_not_a_conflict():
    before = local_to_utc(date(2026, 9, 1), time(16, 30))
    plan = plan_series(tuesday_rule(sessions=1), SeriesContext(practitioner_busy=[Interval(before, before + HALF_HOUR, 1)]))
    assert not plan.conflicts and len(plan.occurrences) == 1


def test_practitioner_exception_skips_and_patient_same_day_conflicts():
    training = local_to_utc(date(2026, 9, 1), time(8, 0))
    ctx = SeriesContext(
        exceptions=[Interval(training, training + timedelta(hours=11))],
        patient_days=frozenset({date(2026, 9, 8)}),
    )
    plan = plan_series(tuesday_rule(sessions=2), ctx)
    assert [(s.day, s.reason) for s in plan.skipped] == [(date(2026, 9, 1), EXCEPTION)]
    assert [c.reason for c in plan.conflicts] == [PATIENT_SAME_DAY]
    assert [o.start.date() for o in plan.occurrences] == [date(2026, 9, 15), date(2026, 9, 22)]


def test_last_day_stops_the_series_and_counts_missing_sessions():
    plan = plan_series(tuesday_rule(sessions=10, last_day=date(2026, 9, 30)), SeriesContext())
    assert len(plan.occurrences) == 5 and plan.missing == 5 and not plan.complete


def test_nonexistent_local_time_is_reported():
    rule = SeriesRule((WeeklySlot(6, time(2, 30)),), HALF_HOUR, date(2026, 3, 22), 2)
    plan = plan_series(rule, SeriesContext())
    assert [(s.day, s.reason) for s in plan.skipped] == [(date(2026, 3, 29), NONEXISTENT_TIME)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"sessions": 0}, "sessions"), ({"sessions": 500}, "sessions"), ({"every_weeks": 9}, "every_weeks"),
     ({"last_day": date(2026, 1, 1)}, "last_day")],
)
def test_invalid_rules_name_the_field(kwargs, message):
    with pytest.raises(SeriesRuleError, match=message):
        plan_series(tuesday_rule(**kwargs), SeriesContext())


def test_same_slot_twice_is_refused():
    rule = SeriesRule((WeeklySlot(1, time(17)), WeeklySlot(1, time(17))), HALF_HOUR, date(2026, 9, 1), 2)
    with pytest.raises(SeriesRuleError, match="twice"):
        plan_series(rule, SeriesContext())
