"""School holidays: the official calendar of the clinic's zone (A, B or C), from the maintained
`vacances-scolaires-france` package (the Ministry of Education's dated data, shipped with the
package, no network), plus the periods owners enter themselves (Corse, overseas, a local
closure of schools) in `scheduling_school_holiday`. Series may skip them; the agenda shows them."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from sqlmodel import select

from carnet_core.plugin_api import CarnetSession, record
from carnet_scheduling.models import CalendarSetting, SchoolHoliday
from carnet_scheduling.services.calendar import DateRange
from carnet_scheduling.services.errors import SchedulingError

ZONES = ("A", "B", "C")


@lru_cache(maxsize=1)
def _dates() -> object:
    from vacances_scolaires_france import SchoolHolidayDates

    return SchoolHolidayDates()  # reads the package's CSV once per process


def official_years() -> tuple[int, int]:
    """The school years the shipped calendar covers (first, last calendar year)."""
    data = _dates()
    return data.min_year, data.max_year  # type: ignore[attr-defined]


def zone(db: CarnetSession) -> str:
    row = db.exec(select(CalendarSetting)).first()
    return row.school_zone if row is not None else ""


def set_zone(db: CarnetSession, value: str) -> CalendarSetting:
    """Choose the clinic's zone ("" for none)."""
    value = (value or "").strip().upper()
    if value and value not in ZONES:
        raise SchedulingError("school_zone", "choose zone A, B or C, or none")
    row = db.exec(select(CalendarSetting)).first() or CalendarSetting()
    row.school_zone = value
    db.add(row)
    db.flush()
    record(db, action="update", resource_type="scheduling_calendar_setting", resource_id=row.id,
           details={"school_zone": value})
    return row


def official_periods(zone_name: str, first: date, last: date) -> list[DateRange]:
    """The zone's official holiday periods meeting [first, last], each as one range with its name
    ("Vacances de Noël"); [] without a zone or outside the shipped years."""
    if zone_name not in ZONES:
        return []
    return [p for p in _zone_periods(zone_name) if p.last >= first and p.first <= last]


@lru_cache(maxsize=len(ZONES))
def _zone_periods(zone_name: str) -> tuple[DateRange, ...]:
    """Every official period of the zone over the shipped years, days merged into ranges, once
    per process (the package's data does not change while it runs): the agenda asks for them on
    every page, and walking the years' days took about 5 ms a page."""
    data = _dates()
    low, high = official_years()
    periods: list[DateRange] = []
    for year in range(low, high + 1):  # in order, so that a period crossing new year is one range
        days = sorted(data.holidays_for_year_and_zone(year, zone_name).items())  # type: ignore[attr-defined]
        for day, info in days:
            name = info.get("nom_vacances") or ""
            if periods and periods[-1].label == name and periods[-1].last + timedelta(days=1) == day:
                periods[-1] = DateRange(periods[-1].first, day, name)
            else:
                periods.append(DateRange(day, day, name))
    return tuple(periods)


def periods(db: CarnetSession, first: date, last: date, zone_name: str | None = None) -> list[DateRange]:
    """The clinic's school holidays meeting [first, last]: its zone's official ones and the ones
    entered by hand. `zone_name`: the clinic's zone when the caller has read it already."""
    own = [DateRange(h.first_day, h.last_day, h.label) for h in db.exec(select(SchoolHoliday).where(
        SchoolHoliday.last_day >= first, SchoolHoliday.first_day <= last))]
    zone_name = zone(db) if zone_name is None else zone_name
    return sorted(official_periods(zone_name, first, last) + own, key=lambda p: (p.first, p.last))


def on_day(ranges: list[DateRange], day: date) -> list[str]:
    return [r.label for r in ranges if r.first <= day <= r.last]
