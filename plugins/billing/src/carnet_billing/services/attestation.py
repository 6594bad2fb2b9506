"""The yearly payment attestation of a patient (on request): per practitioner, the payments the
patient (not the Assurance Maladie nor a complémentaire) made in the year on that practitioner's
notes — date, note number, method, amount — and the total, with the practitioner's mentions as
frozen on their latest note. Amounts and numbers only: no act (a secretary may print it).

The sheets are shown as a page (`for_patient`, built while answering: a few rows a year) and,
on request, as a PDF/A-3b built by the worker, never while answering (one template fragment
for both):

- `request_pdf` (the page's button) checks the person may see the patient, writes a
  `billing_attestation` row — the patient, the year, the day printed on it and the scope the
  asker sees (one practitioner's notes, or every practitioner's) — and enqueues the actor
  `billing.render_attestation` with its id, in the same transaction. A second ask for the same
  attestation while one is being prepared or ready reuses it.
- `render_attestation` (the actor: an id, idempotent — only a pending row is rendered, under an
  idempotency key) reads the payments as they stand, renders the PDF (core's `render_pdf`) and
  keeps it sealed with the patient's key (their name and what they paid a health practitioner:
  health data; an erasure destroys the key and deletes the row). Its bytes depend only on the
  data and `issued_on` (no clock in the file).
- The page polls (htmx) until the PDF is ready; the download (`download`) is audited, open to
  whoever asked for it and owners, for 24 hours; then the sealed body is wiped.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from carnet_billing.models import (
    EXPORT_EXPIRED,
    EXPORT_FAILED,
    EXPORT_PENDING,
    EXPORT_READY,
    ISSUED,
    NOTE,
    Attestation,
    Note,
    Payment,
)
from carnet_billing.money import euros
from carnet_billing.services.documents import VAT_MENTION
from carnet_billing.services.errors import NotFound, refuse
from carnet_billing.services.payments import METHOD_LABELS
from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    JobContext,
    PatientError,
    PdfUnavailable,
    enqueue,
    once,
    open_,
    patient_access,
    render_pdf,
    seal,
    utcnow,
)
from carnet_core.plugin_api import record as audit_record

ACTOR = "billing.render_attestation"
RESOURCE = "billing_attestation"
TEMPLATE = "billing/pdf/attestation.html"
LIFETIME = timedelta(hours=24)


@dataclass
class Sheet:
    practitioner_id: int
    issuer: dict[str, Any]
    payments: list[tuple[Payment, Note]] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(p.amount_cents for p, _ in self.payments)


def scope_of(principal: Any) -> int | None:
    """Whose notes this person sees: every practitioner's (None) for owners and secretaries,
    else their own."""
    return None if set(principal.roles) & {"owner", "secretary"} else principal.user_id


def _notes(db: CarnetSession, patient_id: int, scope: int | None) -> list[Note]:
    query = select(Note).where(Note.patient_id == patient_id, Note.kind == NOTE, Note.status == ISSUED)
    if scope is not None:
        query = query.where(Note.practitioner_id == scope)
    return list(db.exec(query).all())


def _visible(db: CarnetSession, principal: Any, patient_id: int, rows: list[Note]) -> None:
    """NotFound unless this person may see the patient (their own notes' patients count)."""
    own = any(n.practitioner_id == principal.user_id for n in rows)
    try:
        patient_access(db, principal).get(patient_id, cares=own)
    except PatientError:
        raise NotFound("no such patient") from None


def sheets_of(db: CarnetSession, rows: list[Note], year: int) -> list[Sheet]:
    """One sheet per practitioner the patient paid in `year`, from these issued notes."""
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
    return list(sheets.values())


def for_patient(db: CarnetSession, principal: Any, patient_id: int, year: int) -> tuple[list[Sheet], str | None]:
    """The attestation's sheets (one per practitioner the patient paid) and the patient's name;
    NotFound for a patient this person may not see. Audited as a read."""
    rows = _notes(db, patient_id, scope_of(principal))
    _visible(db, principal, patient_id, rows)
    own = any(n.practitioner_id == principal.user_id for n in rows)
    name = patient_access(db, principal).name(patient_id, cares=own)
    sheets = sheets_of(db, rows, year)
    audit_record(db, action="read", resource_type=RESOURCE, patient_id=patient_id,
                 details={"year": year, "payments": sum(len(s.payments) for s in sheets)})
    return sheets, name


def file_name(year: int) -> str:
    return f"attestation-paiement-{year}.pdf"


# --- the PDF, through the worker ------------------------------------------------------------------


def state(attestation: Attestation) -> str:
    """pending, ready, failed, or expired (a ready one past its time)."""
    if attestation.status == EXPORT_READY and attestation.expires_at is not None \
            and attestation.expires_at <= utcnow():
        return EXPORT_EXPIRED
    return attestation.status


def request_pdf(db: CarnetSession, principal: Any, patient_id: int, year: int, today: date) -> Attestation:
    """Ask the worker for the attestation as a PDF (NotFound for a patient this person may not
    see); the same attestation already being prepared or ready today is reused."""
    scope = scope_of(principal)
    _visible(db, principal, patient_id, _notes(db, patient_id, scope))
    same = db.exec(select(Attestation).where(
        Attestation.patient_id == patient_id, Attestation.year == year, Attestation.issued_on == today,
        Attestation.requested_by == principal.user_id,
        Attestation.practitioner_id == scope if scope is not None else Attestation.practitioner_id.is_(None),  # type: ignore[union-attr]
        Attestation.status.in_((EXPORT_PENDING, EXPORT_READY)))  # type: ignore[attr-defined]
        .order_by(Attestation.id.desc())).first()  # type: ignore[union-attr]
    if same is not None and state(same) != EXPORT_EXPIRED:
        return same
    attestation = Attestation(patient_id=patient_id, year=year, issued_on=today, practitioner_id=scope,
                              requested_by=principal.user_id)
    db.add(attestation)
    db.flush()
    audit_record(db, action="create", resource_type=RESOURCE, resource_id=attestation.id, patient_id=patient_id,
                 details={"year": year})
    enqueue(db, ACTOR, attestation.id)
    return attestation


def render(db: CarnetSession, host: Any, attestation: Attestation, principal: Any) -> bytes:
    """The attestation's PDF/A-3b from the payments as they stand (deterministic: dates from
    `issued_on`, none from the clock)."""
    rows = _notes(db, attestation.patient_id, attestation.practitioner_id)
    name = patient_access(db, principal).name(attestation.patient_id)
    today, year = attestation.issued_on, attestation.year
    context = {"sheets": sheets_of(db, rows, year), "name": name, "year": year, "today": today,
               "vat_mention": VAT_MENTION, "euros": euros, "method_labels": METHOD_LABELS}
    created = datetime(today.year, today.month, today.day, tzinfo=UTC)
    return render_pdf(host, TEMPLATE, context, locale="fr", title=f"Attestation de paiement {year}", created=created)


def render_attestation(attestation_id: int, job: JobContext) -> None:
    """Actor `billing.render_attestation`: render and keep sealed one asked-for attestation, once
    (a redelivery, or an attestation already rendered or given up, does nothing). Without Pango
    the attestation is marked failed (the page says so) instead of retried."""
    with job.session() as db:
        attestation = db.get(Attestation, attestation_id)
        if attestation is None or attestation.status != EXPORT_PENDING:
            return
        if not once(db, f"{ACTOR}:{attestation_id}"):
            return
        try:
            pdf = render(db, job.host, attestation, f"job:{job.actor}")
        except PdfUnavailable:
            pdf = None
        now = utcnow()
        if pdf is None:
            attestation.status, attestation.error, attestation.finished_at = EXPORT_FAILED, "pdf_unavailable", now
        else:
            seal(db, attestation, "body", base64.b64encode(pdf).decode("ascii"))
            attestation.status, attestation.size = EXPORT_READY, len(pdf)
            attestation.finished_at, attestation.expires_at = now, now + LIFETIME
        db.add(attestation)
        audit_record(db, action="build", resource_type=RESOURCE, resource_id=attestation_id,
                     patient_id=attestation.patient_id, details={"year": attestation.year,
                                                                 "status": attestation.status})


def get(db: CarnetSession, principal: Any, attestation_id: int) -> Attestation:
    """The attestation for whoever asked for it, or an owner; NotFound for anyone else."""
    attestation = db.get(Attestation, attestation_id)
    if attestation is None or not (attestation.requested_by == principal.user_id or "owner" in principal.roles):
        raise NotFound("no such attestation")
    return attestation


def download(db: CarnetSession, principal: Any, attestation_id: int) -> tuple[Attestation, bytes | None]:
    """The PDF (audited), or None while the worker prepares it; refused once expired (its sealed
    body is wiped then); NotFound as `get`."""
    attestation = get(db, principal, attestation_id)
    if state(attestation) == EXPORT_EXPIRED:
        db.execute(sa.update(Attestation).where(Attestation.id == attestation.id).values(body=None))
        raise refuse("attestation", "expired", N_("This download link has expired: ask for the attestation again."))
    if attestation.status != EXPORT_READY or attestation.body is None:
        return attestation, None
    pdf = base64.b64decode(open_(db, attestation, "body") or "")
    audit_record(db, action="download", resource_type=RESOURCE, resource_id=attestation.id,
                 patient_id=attestation.patient_id, details={"year": attestation.year})
    return attestation, pdf


def expire_old(db: CarnetSession) -> int:
    """Wipe the sealed bodies of the clinic's attestations past their time."""
    result = db.execute(sa.update(Attestation).where(Attestation.body.is_not(None),  # type: ignore[union-attr]
                                                     Attestation.expires_at <= utcnow()).values(body=None))
    return int(result.rowcount or 0)
