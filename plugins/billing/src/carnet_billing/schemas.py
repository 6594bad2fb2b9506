"""JSON shapes of the billing API (pydantic: unknown fields are refused). Amounts travel as
decimal strings in euros ("26.26") next to whole cents — never as JSON floats."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from carnet_billing.models import Note
from carnet_billing.money import from_cents
from carnet_core.plugin_api import Day, Id, OptionalText, readable

AMOUNT = r"^\d{1,5}([.,]\d{1,2})?$"
COEFFICIENT = r"^\d{1,3}([.,]\d{1,2})?$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoteIn(Strict):
    practitioner_id: Id = Field(description="The practitioner who bills (in their own name)")
    patient_id: Id
    name_withheld: bool = Field(default=False, description="The patient objects to their name on the note")


class LineIn(Strict):
    act_day: Day = Field(description="The act's date: not in the future, not before its key letter's first value")
    act_id: Id | None = Field(default=None, description="An act of the clinic's catalogue")
    letter: str | None = Field(default=None, max_length=8, pattern=r"^[A-Za-z0-9]{1,8}$",
                               description="NGAP key letter (AMO, AMK…); its value on act_day is kept on the line")
    coefficient: str | None = Field(default=None, pattern=COEFFICIENT, description="NGAP coefficient, e.g. \"10.1\"")
    price: str | None = Field(default=None, pattern=AMOUNT, description="Free-tariff amount in euros, e.g. \"50.00\"")
    label: Annotated[str, OptionalText, Field(max_length=200)] = ""
    place: Annotated[str, OptionalText, Field(max_length=200)] = ""
    quantity: int = Field(default=1, ge=1, le=99)


class CreditIn(Strict):
    amount: str | None = Field(default=None, pattern=AMOUNT, description=(
        "Amount to cancel in euros; absent: all that remains of the note (at most what remains: 422)"))


class PaymentIn(Strict):
    amount: str = Field(pattern=AMOUNT, description="Amount in euros, at most what is still due (422 otherwise)")
    paid_on: Day = Field(description="The day it was paid: not in the future")
    method: Literal["card", "cash", "cheque", "transfer"]
    payer: Literal["patient", "amo", "amc"] = Field(
        default="patient", description="Who paid: the patient, the Assurance Maladie (amo) or a complémentaire (amc)")


def euros_text(cents: int) -> str:
    return str(from_cents(cents))


def note_out(note: Note, lines: list[dict[str, Any]] | None = None, remaining: int | None = None,
             balance: Any = None, payments: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": note.id, "kind": note.kind, "status": note.status, "number": note.number,
        "practitioner_id": note.practitioner_id, "patient_id": note.patient_id, "credit_of_id": note.credit_of_id,
        "issued_on": note.issued_on.isoformat() if note.issued_on else None,
        "total": euros_text(note.total_cents), "total_cents": note.total_cents, "name_withheld": note.name_withheld,
    }
    if remaining is not None:
        body["remaining"], body["remaining_cents"] = euros_text(remaining), remaining
    if balance is not None:
        body["state"] = balance.status
        body["paid"], body["due"] = euros_text(balance.paid_cents), euros_text(balance.due_cents)
    if payments is not None:
        body["payments"] = [{"id": p.id, "paid_on": p.paid_on.isoformat(), "method": p.method, "payer": p.payer,
                             "amount": euros_text(p.amount_cents)} for p in payments]
    if lines is not None:
        # a secretary's view: the acts' codes, labels and places (clinical) are null
        body["acts_hidden"] = any(line.get("hidden") for line in lines)
        body["lines"] = [{
            "id": line["id"], "act_day": line["act_day"].isoformat(), "code": readable(line["code"]),
            "label": readable(line["label"]), "place": readable(line["place"]), "quantity": line["quantity"],
            "unit": euros_text(line["unit_cents"]), "amount": euros_text(line["amount_cents"]),
            "amount_cents": line["amount_cents"],
        } for line in lines]
    return body


def patient_balance_out(found: Any) -> dict[str, Any]:
    """A patient's balance: the sums of their issued notes, then each note's own."""
    return {
        "patient_id": found.patient_id,
        "total": euros_text(found.total_cents), "credited": euros_text(found.credited_cents),
        "paid": euros_text(found.paid_cents), "due": euros_text(found.due_cents), "due_cents": found.due_cents,
        "notes": [{"id": n.id, "number": n.number, "issued_on": n.issued_on.isoformat() if n.issued_on else None,
                   "practitioner_id": n.practitioner_id, "state": b.status, "total": euros_text(b.total_cents),
                   "credited": euros_text(b.credited_cents), "paid": euros_text(b.paid_cents),
                   "due": euros_text(b.due_cents)} for n, b in found.notes],
    }
