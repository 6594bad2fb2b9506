"""Values shown to people, the French way: phone numbers as `06 12 34 56 01` (the
`phonenumbers` library's national format, international for numbers outside France and its
overseas departments and collectivities) and dates as `mardi 1er décembre 2026` (Babel's CLDR
names, with the ordinal French typography writes for the first of the month)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import phonenumbers
from babel.dates import format_date, format_datetime

# France and the overseas regions that dial their numbers in the French national format.
FRENCH_NUMBERING = {"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF"}


def phone_display(value: str | None) -> str:
    """`+33612345601` as `06 12 34 56 01`; a foreign number in its international form; a value
    that is not a number as it is (a damaged or legacy value is still shown, never dropped)."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(str(value), "FR")
    except phonenumbers.NumberParseException:
        return str(value)
    if not phonenumbers.is_possible_number(number):
        return str(value)
    if phonenumbers.region_code_for_number(number) in FRENCH_NUMBERING:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def long_date(value: date | datetime | None, locale: str = "fr", *, weekday: bool = True, year: bool = True,
              tz: str | ZoneInfo | None = None) -> str:
    """`mardi 1er décembre 2026` (French), `Tuesday 1 December 2026` (English); `weekday` and
    `year` may be left out (`1er décembre`). A moment (an aware datetime, stored in UTC) is dated
    in the time zone `tz` (the clinic's) when given: 23:30 UTC on 30 November is 1 December in
    Paris."""
    if value is None:
        return ""
    day = _local(value, tz).date() if isinstance(value, datetime) else value
    return format_date(day, _day_pattern(day, locale, weekday, year), locale=locale)


def long_datetime(value: datetime | None, tz: str | ZoneInfo | None, locale: str = "fr", *, weekday: bool = True,
                  year: bool = True) -> str:
    """`mardi 1er décembre 2026 à 10:00` (French), `Tuesday 1 December 2026 at 10:00` (English):
    an appointment's or a session's moment in the clinic's time zone `tz` (Europe/Paris when
    none), for what patients read (mail subjects and bodies, SMS, public pages)."""
    if value is None:
        return ""
    local = _local(value, tz or DEFAULT_TZ)
    at = "'à'" if _french(locale) else "'at'"
    return format_datetime(local, f"{_day_pattern(local, locale, weekday, year)} {at} HH:mm", locale=locale)


def local_datetime(value: datetime | str | None, tz: str | ZoneInfo | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """`05/12/2026 10:00`: a stored moment (UTC; or its ISO text, as sealed event lists keep it)
    written in the clinic's time zone `tz` (Europe/Paris when none), without saying UTC; the Jinja
    filter `datetime_local` takes the page's clinic by default. A text that is no moment is shown
    as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return _local(value, tz or DEFAULT_TZ).strftime(fmt)


DEFAULT_TZ = "Europe/Paris"


def _french(locale: str) -> bool:
    return locale.split("_")[0] == "fr"


def _local(value: datetime, tz: str | ZoneInfo | None) -> datetime:
    """`value` in the time zone `tz`; a naive value is taken as UTC (how moments are stored)."""
    if tz is None:
        return value
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz))


def _day_pattern(day: date, locale: str, weekday: bool, year: bool) -> str:
    """Babel's pattern for the day: French typography writes the first of the month `1er`."""
    day_part = "'1er'" if _french(locale) and day.day == 1 else "d"
    return " ".join(p for p in ("EEEE" if weekday else "", day_part, "MMMM", "y" if year else "") if p)


def short_date(value: date | datetime | str | None) -> str:
    """`23/04/2014` (birth dates, lists). An ISO text (sealed dates are stored as text) is read
    first; anything else (a damaged value's marker) is shown as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    day = value.date() if isinstance(value, datetime) else value
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
