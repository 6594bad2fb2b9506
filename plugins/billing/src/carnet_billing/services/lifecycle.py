"""A patient's billing data in their RGPD export, and what their erasure does to it.

Erasure: drafts (not accounting records) are deleted with their lines, and payment attestations
(day copies, sealed with the patient's key). Issued notes and credit
notes are accounting records that the law keeps for 10 years: they stay, unchanged (the database
refuses any change to them), and the patient's name printed on them stays sealed — with the
clinic's key, so the practice can still produce the note to the tax office after the patient's own
key is destroyed by the erasure.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from carnet_billing.models import DRAFT, Attestation, Note, NoteLine, Payment
from carnet_core.plugin_api import N_, open_or_unreadable, readable

RETENTION_YEARS = 10


def export_for_patient(db: Any, patient_id: int) -> dict[str, Any] | None:
    """Every note and credit note about the patient with its acts, decrypted; None when none."""
    notes = list(db.exec(select(Note).where(Note.patient_id == patient_id).order_by(Note.id)).all())
    if not notes:
        return None
    exported = []
    for note in notes:
        lines = db.exec(select(NoteLine).where(NoteLine.note_id == note.id).order_by(NoteLine.position)).all()
        exported.append({
            "id": note.id, "kind": note.kind, "status": note.status, "number": note.number,
            "issued_on": note.issued_on.isoformat() if note.issued_on else None,
            "practitioner_id": note.practitioner_id, "credit_of_id": note.credit_of_id,
            "total_cents": note.total_cents,
            "patient_name": readable(open_or_unreadable(db, note, "patient_name")),
            "lines": [{
                "act_day": line.act_day.isoformat(), "quantity": line.quantity,
                "coefficient_hundredths": line.coefficient_hundredths, "unit_cents": line.unit_cents,
                "amount_cents": line.amount_cents,
                **{f: readable(open_or_unreadable(db, line, f)) for f in ("code", "label", "place")},
            } for line in lines],
            "payments": [{
                "paid_on": p.paid_on.isoformat(), "method": p.method, "payer": p.payer, "amount_cents": p.amount_cents,
            } for p in db.exec(select(Payment).where(Payment.note_id == note.id).order_by(Payment.id)).all()],
        })
    return {"notes": exported, "retention": f"Les notes émises sont conservées {RETENTION_YEARS} ans "
                                            "(pièces comptables), même après une demande d'effacement."}


def erase_for_patient(db: Any, patient_id: int) -> None:
    """Delete the patient's drafts and payment attestations (copies of what the notes and payments
    keep, sealed with the patient's key); keep issued notes and credit notes (legal retention)."""
    for attestation in db.exec(select(Attestation).where(Attestation.patient_id == patient_id)).all():
        db.delete(attestation)
    drafts = list(db.exec(select(Note).where(Note.patient_id == patient_id, Note.status == DRAFT)).all())
    for note in drafts:
        for line in db.exec(select(NoteLine).where(NoteLine.note_id == note.id)).all():
            db.delete(line)
    db.flush()
    for note in drafts:
        db.delete(note)
    db.flush()


def last_act_days(db: Any) -> dict[int, Any] | None:
    """The day of each patient's last billed act (a line of a note, draft or issued; credit notes
    undo money, not care), for core's retention; None when the clinic has none."""
    import sqlalchemy as sa

    from carnet_billing.models import NOTE

    rows = db.exec(
        select(Note.patient_id, sa.func.max(NoteLine.act_day))
        .join(NoteLine, NoteLine.note_id == Note.id)
        .where(Note.kind == NOTE)
        .group_by(Note.patient_id)
    ).all()
    return {int(pid): day for pid, day in rows} or None


def verify_chains(db: Any) -> list[str]:
    """Problems of every practitioner's hash chain of issued documents (empty: intact)."""
    from carnet_billing.services import chain

    return [str(problem) for problem in chain.verify(db)]


KEPT = N_("Notes d'honoraires issued to the patient are kept 10 years as accounting records (a legal "
          "obligation), even after the erasure; the patient's name printed on them stays encrypted, "
          "readable by the practice only.")


def kept_after_erasure(db: Any, patient_id: int) -> list[str] | None:
    """What billing keeps of the patient after an erasure (core's erasure form and answer)."""
    issued = db.exec(select(Note.id).where(Note.patient_id == patient_id, Note.status != DRAFT).limit(1)).first()
    return [KEPT] if issued is not None else None
