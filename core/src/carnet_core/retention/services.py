"""Retention: when each patient record is archived and destroyed, legal holds, and destruction in
batches confirmed by an owner.

The reference date is the patient's last care, the latest date any installed plugin reports
through `last_care_dates` (scheduling: last honoured appointment; billing: last billed act),
enabled for the clinic or not; a record with no care recorded counts from its creation.

- archived `archive_after_years` after it (the daily job does it: hidden from daily lists, read
  only with a recorded reason);
- destroyed `destroy_after_years` after it, or at the `minor_until_age` birthday if that is later
  (a minor's record) — only when an owner confirms the proposal the daily job made;
- a legal hold stops both; a proposal whose patient got new care or a hold is withdrawn, never
  carried out.

Destruction is core's erasure (`erase_patient`): every installed plugin's `erase_patient_data`,
enabled or not, then the patient's key destroyed (crypto-shredding). The register keeps who,
when, how many and which rule, never whom.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import select

from carnet_core import audit
from carnet_core.db.base import utcnow
from carnet_core.errors import FieldError
from carnet_core.i18n import N_
from carnet_core.patients.models import Patient
from carnet_core.retention.models import (
    DESTROYED,
    HOLD_REASONS,
    PROPOSED,
    RULE_AFTER_LAST_CARE,
    RULE_MINOR,
    WITHDRAWN,
    DestructionEntry,
    DestructionProposal,
    LegalHold,
    RetentionRule,
)

BOUNDS = {  # (low, high): the law's floors (20 years, the 28th birthday, 10 years of invoices)
    "archive_after_years": (1, 20),
    "destroy_after_years": (20, 40),
    "minor_until_age": (28, 40),
    "invoice_years": (10, 30),
}


class RetentionInvalid(ValueError):
    def __init__(self, errors: dict[str, FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class RetentionNotFound(LookupError):
    """No such proposal, hold or patient in this clinic."""


@dataclass(frozen=True)
class Due:
    patient_id: int
    reference: date  # last care, or the record's creation when no care is recorded
    from_care: bool
    archived: bool
    held: bool
    archive_on: date
    destroy_on: date
    rule: str


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def clinic_today(clinic: Any) -> date:
    return datetime.now(ZoneInfo(getattr(clinic, "timezone", None) or "Europe/Paris")).date()


def rules_of(db: Any) -> RetentionRule:
    """The clinic's rules (DOMAIN.md's defaults until an owner changes them; not saved by reading)."""
    found = db.exec(select(RetentionRule)).first()
    return found if found is not None else RetentionRule()


def set_rules(db: Any, actor: Any, values: dict[str, Any]) -> RetentionRule:
    errors: dict[str, FieldError] = {}
    clean: dict[str, int] = {}
    for name, (low, high) in BOUNDS.items():
        raw = values.get(name)
        try:
            number = int(str(raw).strip())
        except (TypeError, ValueError):
            errors[name] = FieldError("invalid", N_("Enter a whole number of years."))
            continue
        if not low <= number <= high:
            errors[name] = FieldError("out_of_range", N_("Between %(low)s and %(high)s."), low=low, high=high)
            continue
        clean[name] = number
    if not errors and clean["archive_after_years"] >= clean["destroy_after_years"]:
        errors["archive_after_years"] = FieldError(
            "after_destruction", N_("Archival must come before destruction."))
    if errors:
        raise RetentionInvalid(errors)
    rule = db.exec(select(RetentionRule)).first() or RetentionRule()
    for name, number in clean.items():
        setattr(rule, name, number)
    rule.updated_at = utcnow()
    db.add(rule)
    db.flush()
    audit.record(db, actor=actor, action="update", resource_type="retention_rule", resource_id=rule.id,
                 details=clean)
    return rule


def last_care(db: Any, host: Any, clinic: Any) -> dict[int, date]:
    """The latest care date per patient over every installed plugin (enabled or not)."""
    latest: dict[int, date] = {}
    for _plugin, found in host.lifecycle_each("last_care_dates", clinic=clinic, db=db):
        for patient_id, when in (found or {}).items():
            day = when.date() if isinstance(when, datetime) else when
            if patient_id not in latest or day > latest[patient_id]:
                latest[patient_id] = day
    return latest


def held_patients(db: Any) -> set[int]:
    return set(db.exec(select(LegalHold.patient_id).where(LegalHold.released_at.is_(None))).all())


def _birthday(db: Any, patient: Patient, age: int) -> date | None:
    from carnet_core.encryption.unreadable import open_or_unreadable

    raw = open_or_unreadable(db, patient, "birth_date")
    try:
        return add_years(date.fromisoformat(raw), age) if isinstance(raw, str) else None
    except ValueError:
        return None


def schedule(db: Any, host: Any, clinic: Any, until: date) -> list[Due]:
    """When each record of the clinic (not erased) is archived and destroyed. Birth dates are
    opened (and traced) only for records whose destruction after the last care falls by `until`."""
    rule = rules_of(db)
    care = last_care(db, host, clinic)
    held = held_patients(db)
    dues = []
    for patient in db.exec(select(Patient).where(Patient.erased_at.is_(None)).order_by(Patient.id)).all():
        assert patient.id is not None
        reference = care.get(patient.id) or patient.created_at.date()
        destroy_on, which = add_years(reference, rule.destroy_after_years), RULE_AFTER_LAST_CARE
        if destroy_on <= until:
            birthday = _birthday(db, patient, rule.minor_until_age)
            if birthday is not None and birthday > destroy_on:
                destroy_on, which = birthday, RULE_MINOR
        dues.append(Due(patient.id, reference, patient.id in care, patient.archived, patient.id in held,
                        add_years(reference, rule.archive_after_years), destroy_on, which))
    return dues


def run_daily(db: Any, host: Any, clinic: Any, today: date, actor: Any = None) -> tuple[int, int, int]:
    """Archive what is due, propose what is due for destruction, withdraw proposals no longer due.
    Safe to run again the same day (it acts on the state it finds). Returns (archived, proposed,
    withdrawn)."""
    dues = {d.patient_id: d for d in schedule(db, host, clinic, today)}
    open_ = {p.patient_id: p for p in db.exec(select(DestructionProposal).where(
        DestructionProposal.status == PROPOSED)).all()}
    archived = proposed = withdrawn = 0
    for due in dues.values():
        if due.held:
            continue
        if not due.archived and due.archive_on <= today:
            patient = db.get(Patient, due.patient_id)
            patient.archived = True
            db.add(patient)
            db.flush()
            audit.record(db, actor=actor, action="archive", resource_type="patient", resource_id=due.patient_id,
                         patient_id=due.patient_id, details={"rule": "archive_after_years"})
            archived += 1
        if due.destroy_on <= today and due.patient_id not in open_:
            db.add(DestructionProposal(patient_id=due.patient_id, rule=due.rule, due_on=due.destroy_on))
            proposed += 1
    for patient_id, proposal in open_.items():
        due = dues.get(patient_id)
        if due is None or due.held or due.destroy_on > today:
            withdrawn += _withdraw(db, proposal)
    db.flush()
    if archived or proposed or withdrawn:
        audit.record(db, actor=actor, action="propose", resource_type="retention",
                     details={"archived": archived, "proposed": proposed, "withdrawn": withdrawn})
    return archived, proposed, withdrawn


def _withdraw(db: Any, proposal: DestructionProposal) -> int:
    proposal.status = WITHDRAWN
    proposal.decided_at = utcnow()
    db.add(proposal)
    return 1


def open_proposals(db: Any) -> list[DestructionProposal]:
    return list(db.exec(select(DestructionProposal).where(DestructionProposal.status == PROPOSED)
                        .order_by(DestructionProposal.due_on, DestructionProposal.id)).all())


def confirm_destruction(db: Any, host: Any, clinic: Any, principal: Any, proposal_ids: list[int],
                        today: date) -> list[DestructionEntry]:
    """An owner confirms a batch: each proposal still due is carried out (erasure through every
    installed plugin, key destroyed); one that is no longer due (new care, a hold) is withdrawn.
    The register gets one entry per rule, with how many."""
    from carnet_core.patients.services import erase_patient

    if not proposal_ids:
        raise RetentionInvalid({"proposal": FieldError("required", N_("Choose at least one record."))})
    wanted = list(db.exec(select(DestructionProposal).where(
        DestructionProposal.id.in_(proposal_ids), DestructionProposal.status == PROPOSED)).all())
    if len(wanted) != len(set(proposal_ids)):
        raise RetentionNotFound("a proposal is not open in this clinic")
    dues = {d.patient_id: d for d in schedule(db, host, clinic, today)}
    by_rule: dict[str, list[DestructionProposal]] = {}
    for proposal in wanted:
        due = dues.get(proposal.patient_id)
        if due is None or due.held or due.destroy_on > today:
            _withdraw(db, proposal)
            continue
        erase_patient(db, principal, db.get(Patient, proposal.patient_id), host=host, clinic=clinic,
                      reason="retention_expired")
        by_rule.setdefault(due.rule, []).append(proposal)
    entries = []
    for rule, done in sorted(by_rule.items()):
        entry = DestructionEntry(confirmed_by=getattr(principal, "user_id", None), rule=rule, patients=len(done))
        db.add(entry)
        db.flush()
        for proposal in done:
            proposal.status = DESTROYED
            proposal.decided_at = entry.destroyed_at
            proposal.entry_id = entry.id
            db.add(proposal)
        audit.record(db, actor=principal, action="destroy", resource_type="retention", resource_id=entry.id,
                     details={"rule": rule, "patients": len(done)})
        entries.append(entry)
    db.flush()
    return entries


def register(db: Any) -> list[DestructionEntry]:
    return list(db.exec(select(DestructionEntry).order_by(DestructionEntry.destroyed_at.desc())).all())


def place_hold(db: Any, principal: Any, patient_id: int, reason: str) -> LegalHold:
    if reason not in HOLD_REASONS:
        raise RetentionInvalid({"reason": FieldError("invalid_choice", N_("Choose a reason from the list."))})
    patient = db.exec(select(Patient).where(Patient.id == patient_id, Patient.erased_at.is_(None))).first()
    if patient is None:
        raise RetentionNotFound("no such patient")
    current = db.exec(select(LegalHold).where(LegalHold.patient_id == patient_id,
                                              LegalHold.released_at.is_(None))).first()
    if current is not None:
        return current
    hold = LegalHold(patient_id=patient_id, reason=reason, placed_by=getattr(principal, "user_id", None))
    db.add(hold)
    for proposal in db.exec(select(DestructionProposal).where(
            DestructionProposal.patient_id == patient_id, DestructionProposal.status == PROPOSED)).all():
        _withdraw(db, proposal)
    db.flush()
    audit.record(db, actor=principal, action="hold", resource_type="legal_hold", resource_id=hold.id,
                 patient_id=patient_id, details={"reason": reason})
    return hold


def release_hold(db: Any, principal: Any, hold_id: int) -> LegalHold:
    hold = db.exec(select(LegalHold).where(LegalHold.id == hold_id, LegalHold.released_at.is_(None))).first()
    if hold is None:
        raise RetentionNotFound("no such active hold")
    hold.released_at = utcnow()
    hold.released_by = getattr(principal, "user_id", None)
    db.add(hold)
    db.flush()
    audit.record(db, actor=principal, action="release", resource_type="legal_hold", resource_id=hold.id,
                 patient_id=hold.patient_id)
    return hold


def active_holds(db: Any) -> list[LegalHold]:
    return list(db.exec(select(LegalHold).where(LegalHold.released_at.is_(None)).order_by(LegalHold.placed_at)).all())


@dataclass(frozen=True)
class Forecast:
    archive: list[Due]
    destroy: list[Due]


def forecast(db: Any, host: Any, clinic: Any, today: date, days: int = 90) -> Forecast:
    """What retention will archive and propose for destruction from today to `days` ahead (holds
    left out: they stop both)."""
    until = today + timedelta(days=days)
    dues = [d for d in schedule(db, host, clinic, until) if not d.held]
    return Forecast(
        archive=sorted((d for d in dues if not d.archived and d.archive_on <= until), key=lambda d: d.archive_on),
        destroy=sorted((d for d in dues if d.destroy_on <= until), key=lambda d: d.destroy_on),
    )


# An archived record is read only with a recorded reason: the reason opens it for this user for
# ARCHIVE_ACCESS_MINUTES (an audit record "read_archived" with the reason code is the key).
ARCHIVE_ACCESS_MINUTES = 30


def archive_access_open(db: Any, principal: Any, patient_id: int) -> bool:
    import sqlalchemy as sa

    from carnet_core.audit.models import AuditRecord

    user_id = getattr(principal, "user_id", None)
    if user_id is None:
        return False
    since = utcnow() - timedelta(minutes=ARCHIVE_ACCESS_MINUTES)
    t = AuditRecord.__table__.c
    found = db.execute(sa.select(t.id).where(
        t.patient_id == patient_id, t.action == "read_archived", t.actor_user_id == user_id, t.occurred_at >= since,
    ).limit(1)).first()
    return found is not None


def record_archive_access(db: Any, principal: Any, patient_id: int, reason: str) -> None:
    from carnet_core.retention.models import ARCHIVE_ACCESS_REASONS

    if reason not in ARCHIVE_ACCESS_REASONS:
        raise RetentionInvalid({"reason": FieldError("invalid_choice", N_("Choose a reason from the list."))})
    audit.record(db, actor=principal, action="read_archived", resource_type="patient", resource_id=patient_id,
                 patient_id=patient_id, details={"reason": reason})
