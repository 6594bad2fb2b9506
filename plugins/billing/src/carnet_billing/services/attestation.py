"""The yearly payment attestation of a patient (on request): per practitioner, the payments the
patient (not the Assurance Maladie nor a complémentaire) made in the year on that practitioner's
notes — date, note number, method, amount — and the total, with the practitioner's mentions as
frozen on their latest note. Amounts and numbers only: no act (a secretary may print it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import select

from carnet_billing.models import ISSUED, NOTE, Note, Payment
from carnet_billing.services import notes
from carnet_billing.services.errors import NotFound
from carnet_core.plugin_api import CarnetSession, PatientError, patient_access
from carnet_core.plugin_api import record as audit_record


@dataclass
class Sheet:
    practitioner_id: int
    issuer: dict[str, Any]
    payments: list[tuple[Payment, Note]] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(p.amount_cents for p, _ in self.payments)


def for_patient(db: CarnetSession, principal: Any, patient_id: int, year: int) -> tuple[list[Sheet], str | None]:
    """The attestation's sheets (one per practitioner the patient paid) and the patient's name;
    NotFound for a patient this person may not see. Audited as a read of the patient's billing."""
    rows = db.exec(select(Note).where(Note.patient_id == patient_id, Note.kind == NOTE, Note.status == ISSUED,
                                      notes.visible_filter(principal))).all()
    own = any(n.practitioner_id == principal.user_id for n in rows)
    try:
        patient_access(db, principal).get(patient_id, cares=own)
    except PatientError:
        raise NotFound("no such patient") from None
    name = patient_access(db, principal).name(patient_id, cares=own)
    by_id = {n.id: n for n in rows}
    paid = db.exec(select(Payment).where(Payment.note_id.in_(list(by_id)), Payment.payer == "patient",  # type: ignore[attr-defined]
                                         Payment.paid_on >= date(year, 1, 1), Payment.paid_on <= date(year, 12, 31))
                   .order_by(Payment.paid_on, Payment.id)).all() if by_id else []
    sheets: dict[int, Sheet] = {}
    for payment in paid:
        note = by_id[payment.note_id]
        sheet = sheets.get(note.practitioner_id)
        if sheet is None:
            latest = max((n for n in rows if n.practitioner_id == note.practitioner_id),
                         key=lambda n: (n.year or 0, n.seq or 0))
            sheet = sheets[note.practitioner_id] = Sheet(note.practitioner_id, json.loads(latest.issuer or "{}"))
        sheet.payments.append((payment, note))
    audit_record(db, action="read", resource_type="billing_attestation", patient_id=patient_id,
                 details={"year": year, "payments": len(paid)})
    return list(sheets.values()), name
