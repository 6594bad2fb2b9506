"""School holidays: the official calendar of the clinic's zone, as dated data shipped with the code
(no network): zones A, B and C from the maintained `vacances-scolaires-france` package (the
Ministry of Education's dates); Corse and the overseas academies, which set their own calendars
(arrêtés rectoraux) and which that package leaves out, from `data/school_holidays.csv` (one row a
period, with the page each was checked against); plus the periods owners enter themselves (a
local closure of schools, a year not shipped yet) in `scheduling_school_holiday`. Series may skip
them; the agenda shows them."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources

from sqlmodel import select

from carnet_core.plugin_api import N_, CarnetSession, record
from carnet_scheduling.models import CalendarSetting, SchoolHoliday
from carnet_scheduling.services.calendar import DateRange
from carnet_scheduling.services.errors import SchedulingError

PACKAGE_ZONES = ("A", "B", "C")  # vacances-scolaires-france
# Zones whose calendar ships in data/school_holidays.csv (codes fit the 8 characters of the
# setting's column; GP, MQ, RE are the ISO 3166 codes of the departments).
OWN_ZONES = ("CORSE", "GP", "MQ", "RE")
ZONES = PACKAGE_ZONES + OWN_ZONES
ZONE_LABELS = {"A": N_("zone A"), "B": N_("zone B"), "C": N_("zone C"), "CORSE": N_("Corse"),
               "GP": N_("Guadeloupe"), "MQ": N_("Martinique"), "RE": N_("La Réunion")}


@lru_cache(maxsize=1)
def _dates() -> object:
    from vacances_scolaires_france import SchoolHolidayDates

    return SchoolHolidayDates()  # reads the package's CSV once per process


def official_years(zone_name: str | None = None) -> tuple[int, int]:
    """The calendar years the shipped calendar covers (first, last): zones A, B and C's without a
    zone, else the zone's own."""
    if zone_name in OWN_ZONES:
        periods = _own_periods()[zone_name]
        return periods[0].first.year, periods[-1].last.year
    data = _dates()
    return data.min_year, data.max_year  # type: ignore[attr-defined]


@lru_cache(maxsize=1)
def _own_periods() -> dict[str, tuple[DateRange, ...]]:
    """data/school_holidays.csv, read and checked once per process: each zone's periods in order,
    none reversed or overlapping another of its zone (a typo in the file stops here, loudly)."""
    found: dict[str, list[DateRange]] = {z: [] for z in OWN_ZONES}
    text = resources.files("carnet_scheduling").joinpath("data", "school_holidays.csv").read_text(encoding="utf-8")
    for n, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        if row["zone"] not in found or not row["name"].strip() or not row["source"].startswith("https://"):
            raise ValueError(f"data/school_holidays.csv line {n}: a known zone, a name and its source are required")
        found[row["zone"]].append(DateRange(date.fromisoformat(row["first_day"]), date.fromisoformat(row["last_day"]),
                                            row["name"]))
    for zone_name, periods in found.items():
        periods.sort(key=lambda p: p.first)
        for before, after in zip(periods, periods[1:], strict=False):
            if after.first <= before.last:
                raise ValueError(f"data/school_holidays.csv: {zone_name} periods {before} and {after} overlap")
        if not periods:
            raise ValueError(f"data/school_holidays.csv: no period for zone {zone_name}")
    return {z: tuple(p) for z, p in found.items()}


def zone(db: CarnetSession) -> str:
    found = db.exec(select(CalendarSetting.school_zone)).first()  # the column, not the row's object
    return found or ""


def set_zone(db: CarnetSession, value: str) -> CalendarSetting:
    """Choose the clinic's zone ("" for none)."""
    value = (value or "").strip().upper()
    if value and value not in ZONES:
        raise SchedulingError("school_zone", "choose a zone of the list, or none")
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
    if zone_name in OWN_ZONES:
        zone_periods = _own_periods()[zone_name]
    elif zone_name in PACKAGE_ZONES:
        zone_periods = _zone_periods(zone_name)
    else:
        return []
    return [p for p in zone_periods if p.last >= first and p.first <= last]


@lru_cache(maxsize=len(PACKAGE_ZONES))
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
    own = [DateRange(*h) for h in db.exec(select(SchoolHoliday.first_day, SchoolHoliday.last_day, SchoolHoliday.label)
                                          .where(SchoolHoliday.last_day >= first, SchoolHoliday.first_day <= last))]
    zone_name = zone(db) if zone_name is None else zone_name
    return sorted(official_periods(zone_name, first, last) + own, key=lambda p: (p.first, p.last))


def on_day(ranges: list[DateRange], day: date) -> list[str]:
    return [r.label for r in ranges if r.first <= day <= r.last]
