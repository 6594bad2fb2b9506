"""Payments of issued notes and each note's status.

A payment is recorded against an issued note (never a draft, a credit note or a cancelled note),
for at most what is still due: the note's total, less its credit notes, less what was paid.
The part the Assurance Maladie (`amo`) or a complémentaire (`amc`) pays is recorded as such
(SESAM-Vitale transmission is out of scope: an adapter would record its payments here).
Payments are accounting records: never changed or deleted (the database refuses it too).

Status of a note: `draft`; `cancelled` when credit notes cover it all; `paid` when payments
cover what is due; `partly_paid` when some is paid; `issued` (unpaid) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from carnet_billing import permissions as perm
from carnet_billing.models import DRAFT, METHODS, NOTE, PAYERS, Note, Payment
from carnet_billing.money import to_cents
from carnet_billing.services import notes
from carnet_billing.services.errors import BillingInvalid, refuse
from carnet_core.plugin_api import N_, CarnetSession, FieldError
from carnet_core.plugin_api import record as audit_record

METHOD_LABELS = {"card": N_("Card"), "cash": N_("Cash"), "cheque": N_("Cheque"), "transfer": N_("Transfer")}
PAYER_LABELS = {"patient": N_("Patient"), "amo": N_("Assurance Maladie"), "amc": N_("Complémentaire")}

UNPAID, PARTLY_PAID, PAID, CANCELLED = "issued", "partly_paid", "paid", "cancelled"
NOTE_STATUSES = (DRAFT, UNPAID, PARTLY_PAID, PAID, CANCELLED)


@dataclass(frozen=True)
class Balance:
    total_cents: int  # the note's total
    credited_cents: int  # cancelled by credit notes
    paid_cents: int
    status: str

    @property
    def due_cents(self) -> int:
        return max(self.total_cents - self.credited_cents - self.paid_cents, 0)


def paid_cents(db: CarnetSession, note: Note) -> int:
    total = db.execute(sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_cents), 0))
                       .where(Payment.note_id == note.id)).scalar()
    return int(total or 0)


def balance(db: CarnetSession, note: Note) -> Balance:
    if note.status == DRAFT:
        return Balance(note.total_cents, 0, 0, DRAFT)
    remaining = notes.remaining_cents(db, note) if note.kind == NOTE else note.total_cents
    credited = note.total_cents - remaining
    paid = paid_cents(db, note)
    if note.kind == NOTE and remaining <= 0:
        status = CANCELLED
    elif paid >= remaining:
        status = PAID
    elif paid > 0:
        status = PARTLY_PAID
    else:
        status = UNPAID
    return Balance(note.total_cents, credited, paid, status)


def of_note(db: CarnetSession, note: Note) -> list[Payment]:
    return list(db.exec(select(Payment).where(Payment.note_id == note.id).order_by(Payment.paid_on, Payment.id)))


def record(db: CarnetSession, principal: Any, note_id: int, *, amount: Decimal, paid_on: date, method: str,
           payer: str = "patient", hooks: Any = None) -> Payment:
    """Record a payment; refused (field errors, nothing written) on a draft, a credit note, a
    cancelled or paid note, or beyond what is due."""
    note = notes.get(db, principal, note_id)
    if not principal.can(perm.PAYMENTS):
        raise refuse("note", "forbidden", N_("You may not record payments."))
    if note.status == DRAFT or note.kind != NOTE:
        raise refuse("note", "not_issued", N_("Payments are recorded on issued notes only."))
    state = balance(db, note)
    if state.status == CANCELLED:
        raise refuse("note", "cancelled", N_("This note is cancelled: no payment can be recorded on it."))
    errors: dict[str, FieldError] = {}
    if method not in METHODS:
        errors["method"] = FieldError("invalid_choice", N_("Choose a payment method from the list."))
    if payer not in PAYERS:
        errors["payer"] = FieldError("invalid_choice", N_("Choose a payer from the list."))
    if paid_on > notes.clinic_today(db):
        errors["paid_on"] = FieldError("future", N_("A payment cannot be dated in the future."))
    elif paid_on.year < 2000:
        errors["paid_on"] = FieldError("out_of_range", N_("Enter a date between 2000 and 2099."))
    if amount != amount.quantize(Decimal("0.01")) or amount <= 0:
        errors["amount"] = FieldError("invalid", N_("Enter an amount in euros with two decimals at most."))
    elif to_cents(amount) > state.due_cents:
        errors["amount"] = FieldError("too_large", N_("The payment exceeds what is due (%(due)s)."),
                                      due=f"{Decimal(state.due_cents) / 100:.2f}".replace(".", ",") + " €")
    if errors:
        raise BillingInvalid(errors)
    payment = Payment(note_id=note.id, paid_on=paid_on, method=method, payer=payer,  # type: ignore[arg-type]
                      amount_cents=to_cents(amount), created_by=principal.user_id)
    db.add(payment)
    db.flush()
    audit_record(db, action="create", resource_type="billing_payment", resource_id=payment.id,
                 patient_id=note.patient_id, details={"note": note.id})
    if balance(db, note).status == PAID:
        notes.notify(hooks, "billing_note_paid", note=note, payment=payment, db=db)
    return payment


@dataclass(frozen=True)
class PatientBalance:
    """A patient's balance: their issued notes this person sees, each with its own balance."""

    patient_id: int
    notes: list[tuple[Note, Balance]]

    def _sum(self, field: str) -> int:
        return sum(getattr(b, field) for _, b in self.notes)

    @property
    def total_cents(self) -> int:
        return self._sum("total_cents")

    @property
    def credited_cents(self) -> int:
        return self._sum("credited_cents")

    @property
    def paid_cents(self) -> int:
        return self._sum("paid_cents")

    @property
    def due_cents(self) -> int:
        return self._sum("due_cents")


def patient_balance(db: CarnetSession, principal: Any, patient_id: int) -> PatientBalance:
    """What the patient was billed, credited, paid and still owes on the issued notes this person
    sees (owners and secretaries: every practitioner's; a practitioner: their own); NotFound for
    a patient they may not see. Audited as a read."""
    from carnet_billing.models import ISSUED
    from carnet_billing.services.errors import NotFound
    from carnet_core.plugin_api import PatientError, patient_access

    rows = list(db.exec(select(Note).where(Note.patient_id == patient_id, Note.kind == NOTE, Note.status == ISSUED,
                                           notes.visible_filter(principal)).order_by(Note.id)).all())
    try:
        patient_access(db, principal).get(patient_id, cares=any(n.practitioner_id == principal.user_id for n in rows))
    except PatientError:
        raise NotFound("no such patient") from None
    audit_record(db, action="read", resource_type="billing_note", patient_id=patient_id,
                 details={"view": "balance", "count": len(rows)})
    return PatientBalance(patient_id, [(n, balance(db, n)) for n in rows])
