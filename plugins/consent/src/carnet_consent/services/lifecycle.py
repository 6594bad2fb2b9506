"""RGPD export and erasure of a patient's consent data (called for every installed plugin, the
clinic's module enabled or not)."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import CarnetSession, open_or_unreadable, readable, record, utcnow

from carnet_consent.models import Decision, Request, RightsRequest, Signature, Signer
from carnet_consent.services import forms


def _scan(db: CarnetSession, request_id: int) -> dict[str, Any] | None:
    """The scan of a consent signed on paper: its fingerprint and the PDF (base64)."""
    from carnet_consent.models import Scan

    stored = db.exec(select(Scan).where(Scan.request_id == request_id)).first()
    if stored is None:
        return None
    return {"sha256": stored.sha256, "size": stored.size,
            "pdf_base64": readable(open_or_unreadable(db, stored, "body"))}


def export_for_patient(db: CarnetSession, patient_id: int) -> dict[str, Any] | None:
    requests = list(db.exec(select(Request).where(Request.patient_id == patient_id).order_by(Request.id)))
    decisions = list(db.exec(select(Decision).where(Decision.patient_id == patient_id).order_by(Decision.id)))
    rights = list(db.exec(select(RightsRequest).where(RightsRequest.patient_id == patient_id)
                          .order_by(RightsRequest.id)))
    if not requests and not decisions and not rights:
        return None
    out_requests = []
    for r in requests:
        version = forms.get_version(db, r.version_id)
        signatures = []
        for sig in db.exec(select(Signature).where(Signature.request_id == r.id).order_by(Signature.id)):
            answers = readable(open_or_unreadable(db, sig, "answers"))
            evidence = readable(open_or_unreadable(db, sig, "evidence"))
            signatures.append({"signed_at": sig.signed_at.isoformat(), "channel": sig.channel,
                               "version_hash": sig.version_hash,
                               "answers": json.loads(answers) if answers else None,
                               "evidence": json.loads(evidence) if evidence else None, "audit_seq": sig.audit_seq})
        out_requests.append({
            "form": version.title, "version": version.number, "content_hash": version.content_hash,
            "text": version.body, "clauses": json.loads(version.clauses), "status": r.status, "rule": r.rule,
            "sent_at": r.created_at.isoformat(), "completed_at": r.completed_at.isoformat() if r.completed_at else None,
            "signatures": signatures, "paper_scan": _scan(db, r.id),  # type: ignore[arg-type]
        })
    return {
        "requests": out_requests,
        "decisions": [{"purpose": d.purpose, "allowed": d.allowed, "source": d.source, "at": d.at.isoformat()}
                      for d in decisions],
        "rgpd_requests": [  # the register's entries (not the exports they delivered)
            {"kind": r.kind, "requester": r.requester, "received_at": r.received_at.isoformat(),
             "due_at": r.due_at.isoformat(), "status": r.status,
             "answered_at": r.answered_at.isoformat() if r.answered_at else None,
             **{name: readable(open_or_unreadable(db, r, name))
                for name in ("details", "extension_reason", "decision_reason")}}
            for r in rights],
    }


def erase_for_patient(db: CarnetSession, patient_id: int) -> None:
    """The patient's sealed consent data (signers' names, addresses and phones, answers, evidence) is sealed
    with the patient's key, which core's erasure destroys. What stays readable is codes and dates
    (which clause, allowed or not, when): pending requests are cancelled and signers' contacts
    cleared, so nothing more is sent."""
    now = utcnow()
    changed = 0
    for r in db.exec(select(Request).where(Request.patient_id == patient_id, Request.status == "pending")):
        r.status = "cancelled"
        r.cancelled_at = now
        db.add(r)
        changed += 1
    for s in db.exec(select(Signer).where(Signer.patient_id == patient_id)):
        s.email = None
        s.phone = None
        s.name = None
        if s.status == "pending":
            s.status = "cancelled"
        db.add(s)
    closed = 0
    for rr in db.exec(select(RightsRequest).where(RightsRequest.patient_id == patient_id,
                                                  RightsRequest.status == "open")):
        rr.status = "answered"  # the erasure answers an erasure request; nothing else can be sent now
        rr.answered_at = now
        db.add(rr)
        closed += 1
    db.flush()
    if closed:
        record(db, action="decide", resource_type="consent_rights_request", patient_id=patient_id,
               details={"closed": closed, "cause": "erasure"}, actor="system:consent.erase")
    if changed:  # the erasure itself is core's record; this says what it stopped here
        record(db, action="cancel", resource_type="consent_request", patient_id=patient_id,
               details={"cancelled": changed, "cause": "erasure"}, actor="system:consent.erase")
