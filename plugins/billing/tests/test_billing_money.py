"""Amounts are Decimal in euros, whole cents in the database; rounding to the cent, half up, once
per line (documented in carnet_billing.money)."""

from decimal import Decimal

import pytest

from carnet_billing.money import euros, line_cents, parse_amount, parse_coefficient, to_cents


def test_rounding_is_to_the_cent_half_up_once_per_line():
    assert to_cents(Decimal("16.575")) == 1658  # half up, not banker's (16.57)
    assert to_cents(Decimal("16.5749")) == 1657
    assert to_cents(Decimal("0.005")) == 1
    assert line_cents(221, 750) == 1658  # AMK 7,5 at 2,21 € = 16,575 € -> 16,58 €
    assert line_cents(260, 1010) == 2626  # AMO 10,1 at 2,60 € = 26,26 €
    assert line_cents(221, 750, quantity=2) == 3315  # 33,15 €, rounded once (not 2 × 16,58)
    assert line_cents(5000, None, 1) == 5000


def test_floats_are_refused():
    with pytest.raises(TypeError, match="never float"):
        to_cents(16.575)  # type: ignore[arg-type]


@pytest.mark.parametrize("raw, value", [("26,26", Decimal("26.26")), ("26.26", Decimal("26.26")), ("26", Decimal(26)),
                                        (" 1 000,50 € ", Decimal("1000.50"))])
def test_typed_amounts(raw, value):
    assert parse_amount(raw) == value


@pytest.mark.parametrize("raw", ["", "abc", "-5", "1.234", "1,2,3", "1e3", "NaN", "Infinity"])
def test_bad_amounts_are_none(raw):
    assert parse_amount(raw) is None


def test_coefficients_in_hundredths_and_french_display():
    assert parse_coefficient("10,1") == 1010 and parse_coefficient("7.5") == 750 and parse_coefficient("x") is None
    assert euros(123450) == "1\u202f234,50\u00a0€" and euros(5) == "0,05\u00a0€"
