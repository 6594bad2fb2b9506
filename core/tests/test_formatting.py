"""Dates patients read, written the French way by core's one helper (carnet_core.formatting):
`1er` for the first of the month in French only, in the clinic's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

from carnet_core.plugin_api import local_datetime, long_date, long_datetime


def test_the_first_of_the_month_is_written_1er_in_french_only():
    first = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 10:00 in Paris (winter)
    assert long_datetime(first, "Europe/Paris") == "mardi 1er décembre 2026 à 10:00"
    assert long_datetime(first, "Europe/Paris", "en") == "Tuesday 1 December 2026 at 10:00"
    assert long_datetime(datetime(2026, 12, 2, 9, 0, tzinfo=UTC), "Europe/Paris") == "mercredi 2 décembre 2026 à 10:00"
    assert long_datetime(first, "Europe/Paris", weekday=False, year=False) == "1er décembre à 10:00"
    assert long_date(date(2026, 12, 1)) == "mardi 1er décembre 2026"
    assert long_date(first, weekday=False, tz="Europe/Paris") == "1er décembre 2026"
    assert long_date(date(2026, 12, 1), "en", weekday=False) == "1 December 2026"


def test_moments_are_dated_in_the_clinic_time_zone():
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # already 1 December in Paris, still 30 November in UTC
    assert long_datetime(late, "Europe/Paris") == "mardi 1er décembre 2026 à 00:30"
    assert long_date(late, weekday=False, tz="Europe/Paris") == "1er décembre 2026"
    assert long_datetime(late, "America/Martinique") == "lundi 30 novembre 2026 à 19:30"
    assert long_datetime(late, None) == "mardi 1er décembre 2026 à 00:30"  # no zone known: the French one
    summer = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert local_datetime(summer, "Europe/Paris") == "01/07/2026 11:00"
    assert local_datetime(datetime(2026, 12, 5, 9, 0), "Europe/Paris") == "05/12/2026 10:00"  # naive: UTC
    assert long_datetime(None, "Europe/Paris") == local_datetime(None, None) == ""


def test_a_moment_kept_as_iso_text_is_written_in_the_clinic_time_zone():
    assert local_datetime("2026-01-15T09:00:00+00:00", "Europe/Paris") == "15/01/2026 10:00"
    assert local_datetime("2026-01-15T09:00:00", "Europe/Paris", "%H:%M") == "10:00"  # naive: UTC
    assert local_datetime("pas une date", "Europe/Paris") == "pas une date"
