"""Free slots: working hours per place, exceptions, appointments, notice, horizon, DST."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from carnet_scheduling.services.calendar import DateRange, local_to_utc
from carnet_scheduling.services.slots import (
    AvailabilityQuery,
    HoursError,
    Interval,
    WeeklyHours,
    free_slots,
    merge,
    subtract,
    validate_weekly_hours,
)

H = timedelta(hours=1)
M30 = timedelta(minutes=30)
MONDAY = 0
NOW = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)  # Tuesday 08:00 in Paris


def paris(day, hh, mm=0):
    return local_to_utc(day, time(hh, mm))


def query(**kw):
    base = dict(
        hours=[WeeklyHours(1, time(9), time(12), place_id=1)],  # Tuesdays 9-12
        duration=M30,
        window_start=paris(date(2026, 9, 1), 0),
        window_end=paris(date(2026, 9, 2), 0),
        now=NOW,
    )
    base.update(kw)
    return AvailabilityQuery(**base)


def starts(slots):
    return [s.start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris")).strftime("%H:%M") for s in slots]


def test_empty_morning_gives_six_half_hour_slots():
    assert starts(free_slots(query())) == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]


def test_appointments_and_exceptions_are_removed():
    day = date(2026, 9, 1)
    busy = [Interval(paris(day, 9, 30), paris(day, 10, 15), 7), Interval(paris(day, 11, 30), paris(day, 12), 8)]
    assert starts(free_slots(query(busy=busy))) == ["09:00", "10:30", "11:00"]


def test_step_can_be_finer_than_duration():
    day = date(2026, 9, 1)
    busy = [Interval(paris(day, 9), paris(day, 10, 15))]
    assert starts(free_slots(query(busy=busy, step=timedelta(minutes=15))))[:3] == ["10:15", "10:30", "10:45"]


def test_room_of_the_block_must_be_free_too():
    day = date(2026, 9, 1)
    hours = [WeeklyHours(1, time(9), time(10), place_id=1, room_id=5)]
    room_busy = {5: [Interval(paris(day, 9), paris(day, 9, 30), 9)], 6: [Interval(paris(day, 9, 30), paris(day, 10))]}
    assert starts(free_slots(query(hours=hours, room_busy=room_busy))) == ["09:30"]


def test_minimum_notice_and_horizon():
    now = paris(date(2026, 9, 1), 9, 10)
    slots = free_slots(query(now=now, min_notice=H))
    assert starts(slots)[0] == "10:30"  # 9:10 + 1h = 10:10 -> next grid point 10:30
    week = query(window_end=paris(date(2026, 9, 30), 0), horizon=timedelta(days=7))
    assert max(s.start for s in free_slots(week)).date() == date(2026, 9, 1)


def test_closures_and_public_holidays_close_the_day():
    hours = [WeeklyHours(d, time(9), time(10), 1) for d in range(5)]
    q = query(hours=hours, window_start=paris(date(2026, 11, 9), 0), window_end=paris(date(2026, 11, 14), 0),
              now=paris(date(2026, 11, 1), 0), closures=[DateRange(date(2026, 11, 13), date(2026, 11, 13), "Formation")])
    days = sorted({s.start.date() for s in free_slots(q)})
    assert days == [date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 12)]  # 11th Armistice, 13th closed
    q.closed_on_public_holidays = False
    assert date(2026, 11, 11) in {s.start.date() for s in free_slots(q)}


def test_place_filter_keeps_matching_blocks_only():
    hours = [WeeklyHours(1, time(9), time(10), place_id=1), WeeklyHours(1, time(14), time(15), place_id=2)]
    slots = free_slots(query(hours=hours, places=frozenset({2})))
    assert starts(slots) == ["14:00", "14:30"] and {s.place_id for s in slots} == {2}


def test_working_hours_follow_wall_time_across_dst():
    hours = [WeeklyHours(MONDAY, time(9), time(9, 30), 1)]
    q = query(hours=hours, window_start=datetime(2026, 10, 19, tzinfo=UTC), window_end=datetime(2026, 10, 28, tzinfo=UTC),
              now=datetime(2026, 10, 1, tzinfo=UTC))
    assert [s.start for s in free_slots(q)] == [datetime(2026, 10, 19, 7, tzinfo=UTC), datetime(2026, 10, 26, 8, tzinfo=UTC)]


def test_four_weeks_of_slots_are_chronological():
    hours = [WeeklyHours(d, time(8), time(19), 1) for d in range(5)]
    q = query(hours=hours, window_end=paris(date(2026, 9, 29), 0))
    slots = free_slots(q)
    assert slots == sorted(slots, key=lambda s: s.start)
    assert len(slots) == 20 * 22  # 20 weekdays from 1 to 28 September, 22 half hours a day


def test_overlapping_working_hours_are_refused():
    with pytest.raises(HoursError, match="overlaps"):
        validate_weekly_hours([WeeklyHours(1, time(9), time(12), 1), WeeklyHours(1, time(11), time(13), 2)])
    with pytest.raises(HoursError, match="after the start"):
        validate_weekly_hours([WeeklyHours(1, time(12), time(9), 1)])
    validate_weekly_hours([WeeklyHours(1, time(9), time(12), 1), WeeklyHours(1, time(12), time(13), 2)])


def test_merge_and_subtract():
    t = datetime(2026, 1, 1, tzinfo=UTC)
    merged = merge([Interval(t + 2 * H, t + 3 * H), Interval(t, t + H), Interval(t + H, t + 2 * H)])
    assert merged == [Interval(t, t + 3 * H)]
    pieces = subtract(Interval(t, t + 5 * H), [Interval(t + H, t + 2 * H), Interval(t + 3 * H, t + 4 * H)])
    assert pieces == [Interval(t, t + H), Interval(t + 2 * H, t + 3 * H), Interval(t + 4 * H, t + 5 * H)]
