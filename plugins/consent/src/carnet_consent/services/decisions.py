"""The decisions ledger and the answer to "does patient P allow purpose X now?".

A decision is a row, never changed or deleted (database triggers): a signature adds one per
clause, a refusal adds allowed=False, a withdrawal (through the link in a message, or recorded by
staff) adds allowed=False at once. The answer is the latest row for the patient and purpose; a
purpose with no row gets `UNRECORDED` (télésoin, recording, sharing and photos need a signed
agreement; the notice, care and SMS reminders follow core's default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from carnet_core.plugin_api import N_, PURPOSES, CarnetSession, FieldError, InvalidInput, record

from carnet_consent.models import Decision

# The answer for a purpose no decision was recorded for, in a clinic that enabled consent.
NEEDS_SIGNATURE = frozenset({"telesoin", "recording", "sharing", "photos"})


def unrecorded(purpose: str) -> bool | None:
    """False for purposes that need a signed agreement, None (core's default) for the others."""
    return False if purpose in NEEDS_SIGNATURE else None


@dataclass(frozen=True)
class Current:
    purpose: str
    allowed: bool
    source: str
    at: datetime
    version_id: int | None


def latest(db: CarnetSession, patient_id: int, purpose: str) -> Decision | None:
    return db.exec(select(Decision).where(Decision.patient_id == patient_id, Decision.purpose == purpose)
                   .order_by(col(Decision.id).desc())).first()


def allows(db: CarnetSession, patient_id: int, purpose: str) -> bool | None:
    """The `patient_allows` answer: the latest decision, else `unrecorded(purpose)`."""
    found = latest(db, patient_id, purpose)
    return unrecorded(purpose) if found is None else found.allowed


def current(db: CarnetSession, patient_id: int) -> list[Current]:
    """The latest decision of each purpose recorded for the patient."""
    newest = (select(sa.func.max(Decision.id)).where(Decision.patient_id == patient_id)
              .group_by(Decision.purpose))
    rows = db.exec(select(Decision).where(col(Decision.id).in_(newest)).order_by(Decision.purpose))
    return [Current(d.purpose, d.allowed, d.source, d.at, d.version_id) for d in rows]


def history(db: CarnetSession, patient_id: int) -> list[Decision]:
    return list(db.exec(select(Decision).where(Decision.patient_id == patient_id).order_by(col(Decision.id).desc())))


def add(db: CarnetSession, patient_id: int, purpose: str, allowed: bool, source: str, actor: str,
        signature_id: int | None = None, version_id: int | None = None) -> Decision:
    decision = Decision(patient_id=patient_id, purpose=purpose, allowed=allowed, source=source, actor=actor[:64],
                        signature_id=signature_id, version_id=version_id)
    db.add(decision)
    db.flush()
    return decision


def withdraw(db: CarnetSession, patient_id: int, purpose: str, *, source: str, actor: str,
             hooks: Any = None) -> Decision:
    """Withdraw the patient's agreement to `purpose` now: a new decision, audited; every module
    asking `purpose_allowed` gets no at once, and `consent_withdrawn` tells those that act on it
    (scheduling cancels pending SMS reminders). Refused when nothing was agreed."""
    found = latest(db, patient_id, purpose)
    if found is None or not found.allowed:
        raise InvalidInput({"purpose": FieldError("not_given",
                                                  N_("there is no agreement to withdraw for this clause"))})
    decision = add(db, patient_id, purpose, False, source, actor, version_id=found.version_id)
    record(db, action="withdraw", resource_type="consent_decision", resource_id=decision.id, patient_id=patient_id,
           details={"purpose": purpose if purpose in PURPOSES else "custom", "source": source})
    if hooks is not None:
        hooks.consent_withdrawn(clinic_id=db.clinic_id, patient_id=patient_id, purpose=purpose, db=db)
    return decision
