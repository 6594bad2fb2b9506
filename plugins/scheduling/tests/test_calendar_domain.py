"""Pure calendar rules: Easter, French public holidays, wall time <-> UTC across DST."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from carnet_scheduling.services.calendar import (
    DateRange,
    NonexistentLocalTime,
    french_public_holidays,
    local_day_bounds,
    local_to_utc,
)


@pytest.mark.parametrize(
    ("year", "easter_monday"),
    [(2024, date(2024, 4, 1)), (2025, date(2025, 4, 21)), (2026, date(2026, 4, 6)),
     (2027, date(2027, 3, 29)), (2038, date(2038, 4, 26))],
)
def test_easter_based_days_come_from_the_holidays_library(year, easter_monday):
    days = french_public_holidays(year)
    assert days[easter_monday] == "Lundi de Pâques"
    assert days[easter_monday + timedelta(days=38)] == "Ascension"


def test_french_public_holidays_2026_has_the_eleven_days():
    days = french_public_holidays(2026)
    assert len(days) == 11
    assert days[date(2026, 4, 6)] == "Lundi de Pâques"
    assert days[date(2026, 5, 14)] == "Ascension"
    assert days[date(2026, 5, 25)] == "Lundi de Pentecôte"
    assert date(2026, 7, 14) in days and date(2026, 12, 25) in days
    assert date(2026, 4, 3) not in days  # Good Friday only in Alsace-Moselle


def test_alsace_moselle_adds_good_friday_and_st_stephen():
    days = french_public_holidays(2026, "alsace-moselle")
    assert days[date(2026, 4, 3)] == "Vendredi saint"
    assert date(2026, 12, 26) in days


def test_wall_time_keeps_across_dst():
    # 17:00 in Paris is 16:00 UTC in winter and 15:00 UTC in summer
    assert local_to_utc(date(2026, 3, 24), time(17, 0)) == datetime(2026, 3, 24, 16, 0, tzinfo=UTC)
    assert local_to_utc(date(2026, 3, 31), time(17, 0)) == datetime(2026, 3, 31, 15, 0, tzinfo=UTC)


def test_nonexistent_time_is_refused_not_shifted():
    with pytest.raises(NonexistentLocalTime):
        local_to_utc(date(2026, 3, 29), time(2, 30))


def test_ambiguous_time_takes_first_occurrence():
    assert local_to_utc(date(2026, 10, 25), time(2, 30)) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_day_bounds_on_dst_days_are_23_and_25_hours():
    start, end = local_day_bounds(date(2026, 3, 29))
    assert (end - start).total_seconds() == 23 * 3600
    start, end = local_day_bounds(date(2026, 10, 25))
    assert (end - start).total_seconds() == 25 * 3600


def test_date_range_refuses_reversed_bounds():
    with pytest.raises(ValueError, match="ends"):
        DateRange(date(2026, 2, 10), date(2026, 2, 1), "x")


def test_overseas_regions_have_their_own_days():
    reunion = french_public_holidays(2026, "la-reunion")
    assert date(2026, 12, 20) in reunion and date(2026, 12, 20) not in french_public_holidays(2026)
    assert date(2026, 5, 22) in french_public_holidays(2026, "martinique")  # abolition of slavery
    with pytest.raises(ValueError):
        french_public_holidays(2026, "atlantis")


@pytest.mark.parametrize(("region", "day"), [
    ("guadeloupe", date(2026, 5, 27)), ("martinique", date(2026, 5, 22)), ("guyane", date(2026, 6, 10)),
    ("la-reunion", date(2026, 12, 20)), ("mayotte", date(2026, 4, 27)),
])
def test_each_overseas_academy_has_its_abolition_of_slavery_day_and_the_metropole_does_not(region, day):
    assert french_public_holidays(2026, region)[day] == "Abolition de l'esclavage"
    assert day not in french_public_holidays(2026) and day not in french_public_holidays(2026, "alsace-moselle")
