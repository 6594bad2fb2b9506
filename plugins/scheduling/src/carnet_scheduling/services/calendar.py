"""Calendar facts: French public holidays (the `holidays` library), local wall time <-> UTC, date ranges."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Europe/Paris"


class NonexistentLocalTime(ValueError):
    """A wall-clock time skipped by a daylight-saving change (e.g. 02:30 on the last Sunday of March)."""


# Where the practice is, for its public holidays: `holidays`' subdivision of France (None: the
# national list). Alsace-Moselle adds Good Friday and 26 December; each overseas department and
# collectivity adds its own days (abolition of slavery, Assumption of Mayotte…).
HOLIDAY_REGIONS: dict[str, str | None] = {
    "metropole": None, "alsace-moselle": "57", "guadeloupe": "971", "martinique": "972", "guyane": "973",
    "la-reunion": "974", "mayotte": "976", "saint-barthelemy": "BL", "saint-martin": "MF",
    "saint-pierre-et-miquelon": "PM", "nouvelle-caledonie": "NC", "polynesie-francaise": "PF",
    "wallis-et-futuna": "WF",
}


@lru_cache(maxsize=256)
def french_public_holidays(year: int, region: str = "metropole") -> dict[date, str]:
    """Jours fériés for a year and a region of HOLIDAY_REGIONS, in French, from the maintained
    `holidays` library (Easter-based days, Alsace-Moselle and overseas included) rather than
    arithmetic of our own."""
    import holidays

    if region not in HOLIDAY_REGIONS:
        raise ValueError(f"unknown holiday region {region!r}; one of {', '.join(HOLIDAY_REGIONS)}")
    return dict(holidays.France(years=year, subdiv=HOLIDAY_REGIONS[region], language="fr"))


def public_holiday(day: date, region: str = "metropole") -> str | None:
    return french_public_holidays(day.year, region).get(day)


@dataclass(frozen=True)
class DateRange:
    """Inclusive range of local dates with a label (a school holiday, a clinic closure)."""

    first: date
    last: date
    label: str = ""

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"date range '{self.label}' ends ({self.last}) before it starts ({self.first})")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last


def find_range(day: date, ranges: Iterable[DateRange]) -> DateRange | None:
    for r in ranges:
        if day in r:
            return r
    return None


def zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def local_to_utc(day: date, at: time, tz: str | ZoneInfo = DEFAULT_TZ) -> datetime:
    """The UTC instant of wall time `at` on `day` in `tz`.

    Ambiguous times (the repeated hour in October) take the first occurrence; times that do not
    exist (the skipped hour in March) raise NonexistentLocalTime rather than shifting silently.
    """
    zi = zone(tz)
    local = datetime.combine(day, at).replace(tzinfo=zi, fold=0)
    utc = local.astimezone(UTC)
    if utc.astimezone(zi).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise NonexistentLocalTime(f"{day.isoformat()} {at.strftime('%H:%M')} does not exist in {zi.key}")
    return utc


def to_local(moment: datetime, tz: str | ZoneInfo = DEFAULT_TZ) -> datetime:
    return moment.astimezone(zone(tz))


def local_date(moment: datetime, tz: str | ZoneInfo = DEFAULT_TZ) -> date:
    return moment.astimezone(zone(tz)).date()


def days(first: date, last: date) -> Iterator[date]:
    """Every date from `first` to `last` inclusive."""
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def local_day_bounds(day: date, tz: str | ZoneInfo = DEFAULT_TZ) -> tuple[datetime, datetime]:
    """UTC instants of local midnight at the start of `day` and of the next day (23 or 25 h on DST days)."""
    zi = zone(tz)
    start = datetime.combine(day, time()).replace(tzinfo=zi).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time()).replace(tzinfo=zi).astimezone(UTC)
    return start, end


def week_start(day: date) -> date:
    """The Monday of `day`'s week (ISO weeks, as French calendars show them)."""
    return day - timedelta(days=day.weekday())
