"""Values shown to people, the French way: phone numbers as `06 12 34 56 01` (the
`phonenumbers` library's national format, international for numbers outside France and its
overseas departments and collectivities) and dates as `mardi 1er décembre 2026` (Babel's CLDR
names, with the ordinal French typography writes for the first of the month)."""

from __future__ import annotations

from datetime import date, datetime

import phonenumbers
from babel.dates import format_date

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


def long_date(value: date | datetime | None, locale: str = "fr", *, weekday: bool = True, year: bool = True) -> str:
    """`mardi 1er décembre 2026` (French), `Tuesday 1 December 2026` (English); `weekday` and
    `year` may be left out (`1er décembre`)."""
    if value is None:
        return ""
    day = value.date() if isinstance(value, datetime) else value
    french = locale.split("_")[0] == "fr"
    day_part = "'1er'" if french and day.day == 1 else "d"
    pattern = " ".join(p for p in ("EEEE" if weekday else "", day_part, "MMMM", "y" if year else "") if p)
    return format_date(day, pattern, locale=locale)


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
