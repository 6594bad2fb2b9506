"""Amounts: `Decimal` in euros in the code, whole cents in the database, never a float.

Rounding: an amount is rounded once, to the cent, half up (0.005 -> 0.01), when a line's amount is
computed (key letter value × coefficient × quantity, or price × quantity); totals are exact sums
of rounded lines, so the printed lines always add up to the printed total.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
NBSP = "\u00a0"
THIN_SPACE = "\u202f"


def to_cents(amount: Decimal) -> int:
    """Euros (any precision) to whole cents, half up."""
    if not isinstance(amount, Decimal):
        raise TypeError("amounts are Decimal, never float")
    return int((amount.quantize(CENT, rounding=ROUND_HALF_UP) * 100).to_integral_value())


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def line_cents(unit_cents: int, coefficient_hundredths: int | None, quantity: int = 1) -> int:
    """A line's amount: the unit (a key letter's value or a price) × the coefficient × quantity,
    rounded to the cent once, half up."""
    unit = Decimal(unit_cents) / 100
    coefficient = Decimal(coefficient_hundredths) / 100 if coefficient_hundredths is not None else Decimal(1)
    return to_cents(unit * coefficient * quantity)


def parse_amount(raw: str) -> Decimal | None:
    """A typed amount in euros ("26,26", "26.26", "26") with two decimals at most, or None."""
    text = raw.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".").removesuffix("€")
    if not text or text.count(".") > 1 or not text.replace(".", "").isdigit():
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        return None
    return value


def parse_coefficient(raw: str) -> int | None:
    """An NGAP coefficient ("10.1", "7,5") in hundredths, or None."""
    value = parse_amount(raw)
    return None if value is None else int(value * 100)


def euros(cents: int) -> str:
    """French display: 1 234,50 €."""
    value = from_cents(cents)
    whole, _, fraction = f"{value:.2f}".partition(".")
    sign = "-" if whole.startswith("-") else ""
    digits = whole.lstrip("-")
    groups = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return sign + THIN_SPACE.join(groups or ["0"]) + "," + fraction + NBSP + "€"
