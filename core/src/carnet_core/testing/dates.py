"""Dates for tests of what patients read: a coming first of the month, the day French
typography writes `1er` (`mardi 1er décembre 2026`), where a plain `d` pattern wrote `1`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FRENCH_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
                 "octobre", "novembre", "décembre")


def first_of_a_month(hour: int = 10, minute: int = 0, *, after_days: int = 10, weekday_only: bool = True,
                     tz: str = "Europe/Paris") -> datetime:
    """The first day of a coming month (at least `after_days` from today, a Monday to Friday
    unless not `weekday_only`) at `hour`:`minute` in `tz`, as an aware UTC datetime."""
    day = datetime.now(ZoneInfo(tz)).date() + timedelta(days=after_days)
    while True:
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        if not weekday_only or day.weekday() < 5:
            return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def first_in_french(moment: datetime, tz: str = "Europe/Paris") -> re.Pattern[str]:
    """What a French text says of that first of the month: `1er <month> <year>` (the weekday
    may stand before), never `1 <month>`."""
    local = moment.astimezone(ZoneInfo(tz))
    assert local.day == 1, local
    return re.compile(rf"\b1er {FRENCH_MONTHS[local.month - 1]}( {local.year})?\b")
