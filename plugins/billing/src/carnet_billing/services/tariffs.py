"""Key-letter values as dated data: the values shipped in `data/ngap_key_letters.json`, plus the
clinic's own dated values (an owner's), which add to them or replace them on the same date. A line
keeps the value in force on its act's date: a later change of tariff never touches it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlmodel import select

from carnet_billing.models import ZONES, KeyLetterValue
from carnet_billing.money import to_cents
from carnet_billing.services.errors import refuse
from carnet_core.plugin_api import N_, CarnetSession

LETTER_MAX = 8


@dataclass(frozen=True)
class DatedValue:
    letter: str
    zone: str
    effective_from: date
    cents: int
    shipped: bool


@lru_cache(maxsize=1)
def shipped() -> dict[str, Any]:
    """The data file shipped with the package (read once)."""
    text = resources.files("carnet_billing").joinpath("data/ngap_key_letters.json").read_text(encoding="utf-8")
    return json.loads(text)


def shipped_values() -> list[DatedValue]:
    return [DatedValue(v["letter"], v["zone"], date.fromisoformat(v["from"]), to_cents(Decimal(v["value"])), True)
            for v in shipped()["values"]]


def letters() -> dict[str, dict[str, str]]:
    return dict(shipped()["letters"])


def all_values(db: CarnetSession) -> list[DatedValue]:
    """Shipped and clinic values, a clinic value replacing a shipped one of the same date."""
    merged: dict[tuple[str, str, date], DatedValue] = {
        (v.letter, v.zone, v.effective_from): v for v in shipped_values()}
    for row in db.exec(select(KeyLetterValue)).all():
        merged[(row.letter, row.zone, row.effective_from)] = DatedValue(
            row.letter, row.zone, row.effective_from, row.value_cents, False)
    return sorted(merged.values(), key=lambda v: (v.letter, v.zone, v.effective_from))


def known_letters(db: CarnetSession) -> list[str]:
    return sorted({v.letter for v in all_values(db)})


def value_on(db: CarnetSession, letter: str, zone: str, day: date) -> int:
    """The value (cents) of `letter` in `zone` in force on `day`; refused when none was yet."""
    candidates = [v for v in all_values(db) if v.letter == letter and v.zone == zone]
    if not candidates:
        raise refuse("letter", "unknown_letter", N_("Unknown key letter: %(letter)s."), letter=letter)
    in_force = [v for v in candidates if v.effective_from <= day]
    if not in_force:
        first = min(v.effective_from for v in candidates)
        raise refuse("act_day", "before_tariff",
                     N_("No value of %(letter)s was in force on that date (the first starts on %(first)s)."),
                     letter=letter, first=first.isoformat())
    return max(in_force, key=lambda v: v.effective_from).cents


def add_value(db: CarnetSession, letter: str, zone: str, effective_from: date, amount: Decimal,
              user_id: int | None) -> KeyLetterValue:
    """An owner's dated value of a key letter (replacing the clinic's own value of that date)."""
    letter = letter.strip().upper()
    if not letter or len(letter) > LETTER_MAX or not letter.isalnum() or not letter.isascii():
        raise refuse("letter", "invalid", N_("A key letter is 1 to 8 letters or digits, such as AMO."))
    if zone not in ZONES:
        raise refuse("zone", "invalid_choice", N_("Choose a zone from the list."))
    if not Decimal("0.01") <= amount <= Decimal("1000"):
        raise refuse("value", "out_of_range", N_("Enter an amount between 0,01 € and 1 000 €."))
    if not 2000 <= effective_from.year <= 2099:
        raise refuse("effective_from", "out_of_range", N_("Enter a date between 2000 and 2099."))
    row = db.exec(select(KeyLetterValue).where(
        KeyLetterValue.letter == letter, KeyLetterValue.zone == zone,
        KeyLetterValue.effective_from == effective_from)).first()
    if row is None:
        row = KeyLetterValue(letter=letter, zone=zone, effective_from=effective_from, value_cents=0,
                             created_by=user_id)
    row.value_cents = to_cents(amount)
    db.add(row)
    db.flush()
    return row
