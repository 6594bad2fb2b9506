"""The clinic's catalogue of acts, kept by owners: NGAP acts (a key letter × coefficient, valued on
each act's date) and free-tariff acts at a set price (psychologues, bilans not reimbursed,
non-conventionnés). An act in use on notes is switched off rather than deleted."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import select

from carnet_billing.models import ACT_KINDS, FREE, NGAP, Act
from carnet_billing.money import to_cents
from carnet_billing.services.errors import BillingInvalid, NotFound
from carnet_billing.services.tariffs import known_letters
from carnet_core.plugin_api import N_, CarnetSession, FieldError, text_problem

LABEL_MAX = 200
MAX_PRICE = Decimal("10000")


def listing(db: CarnetSession, *, active_only: bool = False) -> list[Act]:
    query = select(Act).order_by(Act.label, Act.id)
    if active_only:
        query = query.where(Act.active == True)  # noqa: E712
    return list(db.exec(query).all())


def create(db: CarnetSession, *, label: str, kind: str, letter: str | None = None,
           coefficient_hundredths: int | None = None, price: Decimal | None = None) -> Act:
    errors: dict[str, FieldError] = {}
    label = label.strip()
    problem = text_problem(label)
    if problem:
        errors["act_label"] = FieldError(problem.code, problem.message)
    elif len(label) > LABEL_MAX:
        errors["act_label"] = FieldError("too_long", N_("%(limit)s characters at most."), limit=LABEL_MAX)
    if kind not in ACT_KINDS:
        errors["kind"] = FieldError("invalid_choice", N_("Choose a kind of act from the list."))
    elif kind == NGAP:
        letter = (letter or "").strip().upper()
        if letter not in known_letters(db):
            errors["act_letter"] = FieldError("unknown_letter", N_("Unknown key letter: %(letter)s."),
                                              letter=letter or "—")
        if coefficient_hundredths is None or not 1 <= coefficient_hundredths <= 10000:
            errors["act_coefficient"] = FieldError("out_of_range", N_("Enter a coefficient between 0,01 and 100."))
        price = None
    elif kind == FREE:
        if price is None or not Decimal("0.01") <= price <= MAX_PRICE:
            errors["act_price"] = FieldError("out_of_range", N_("Enter an amount between 0,01 € and 10 000 €."))
        letter, coefficient_hundredths = None, None
    if errors:
        raise BillingInvalid(errors)
    act = Act(label=label, kind=kind, letter=letter or None, coefficient_hundredths=coefficient_hundredths,
              price_cents=to_cents(price) if price is not None else None)
    db.add(act)
    db.flush()
    return act


def set_active(db: CarnetSession, act_id: int, active: bool) -> Act:
    act = db.get(Act, act_id)
    if act is None:
        raise NotFound("no such act")
    act.active = active
    db.add(act)
    db.flush()
    return act
