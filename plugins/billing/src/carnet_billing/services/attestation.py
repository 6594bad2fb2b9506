"""The yearly payment attestation of a patient (on request): per practitioner, the payments the
patient (not the Assurance Maladie nor a complémentaire) made in the year on that practitioner's
notes — date, note number, method, amount — and the total, with the practitioner's mentions as
frozen on their latest note. Amounts and numbers only: no act (a secretary may print it).

The same sheets are shown as a page and downloaded as a PDF/A-3b (`pdf`, core's `render_pdf`, one
template fragment for both). The PDF is rendered while answering: it is built on request from
the payments as they stand (nothing is stored, so nothing sealed to keep), a few rows a year, and
its bytes depend only on the data and the day of issue (no clock in the file)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import select

from carnet_billing.models import ISSUED, NOTE, Note, Payment
from carnet_billing.services import notes
from carnet_billing.services.documents import VAT_MENTION
from carnet_billing.services.errors import NotFound
from carnet_core.plugin_api import CarnetSession, PatientError, patient_access, render_pdf
from carnet_core.plugin_api import record as audit_record


@dataclass
class Sheet:
    practitioner_id: int
    issuer: dict[str, Any]
    payments: list[tuple[Payment, Note]] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(p.amount_cents for p, _ in self.payments)


TEMPLATE = "billing/pdf/attestation.html"


def for_patient(db: CarnetSession, principal: Any, patient_id: int, year: int,
                action: str = "read") -> tuple[list[Sheet], str | None]:
    """The attestation's sheets (one per practitioner the patient paid) and the patient's name;
    NotFound for a patient this person may not see. Audited (`action`: read, or download)."""
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
    audit_record(db, action=action, resource_type="billing_attestation", patient_id=patient_id,
                 details={"year": year, "payments": len(paid)})
    return list(sheets.values()), name


def file_name(year: int) -> str:
    return f"attestation-paiement-{year}.pdf"


def pdf(db: CarnetSession, host: Any, principal: Any, patient_id: int, year: int, today: date,
        context: dict[str, Any]) -> bytes:
    """The attestation as a PDF/A-3b, issued on `today` (its dates in the file); NotFound as
    `for_patient`. Audited as a download. `context` adds the labels the page uses."""
    sheets, name = for_patient(db, principal, patient_id, year, action="download")
    created = datetime(today.year, today.month, today.day, tzinfo=UTC)
    return render_pdf(host, TEMPLATE, {**context, "sheets": sheets, "name": name, "year": year, "today": today,
                                       "vat_mention": VAT_MENTION},
                      locale="fr", title=f"Attestation de paiement {year}", created=created)
