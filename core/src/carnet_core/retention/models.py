"""Retention tables: each clinic's rules (data, not code), legal holds, destruction proposals the
daily job makes, and the destruction register (who, when, how many, which rule — no identity)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from carnet_core.db.base import ClinicOwned, UTCDateTime, utcnow
from carnet_core.db.schema import same_clinic

# Rules, as codes (kept in proposals, the register and audit details).
RULE_AFTER_LAST_CARE = "after_last_care"  # destroy N years after the last care
RULE_MINOR = "minor_28th_birthday"  # a minor's record: not before their 28th birthday
RULES = (RULE_AFTER_LAST_CARE, RULE_MINOR)

PROPOSED = "proposed"
DESTROYED = "destroyed"
WITHDRAWN = "withdrawn"  # no longer due when confirmed (new care, a hold): nothing destroyed

HOLD_REASONS = ("litigation", "investigation", "insurer_claim", "other")
ARCHIVE_ACCESS_REASONS = ("continuity_of_care", "patient_request", "legal_request", "billing_query")


class RetentionRule(ClinicOwned, SQLModel, table=True):
    """A clinic's retention rules (DOMAIN: 20 years after the last care, a minor's record at least
    until their 28th birthday, the CNIL's 5 years active; invoices 10 years)."""

    __tablename__ = "core_retention_rule"
    __table_args__ = (sa.UniqueConstraint("clinic_id"),)

    id: int | None = Field(default=None, primary_key=True)
    archive_after_years: int = Field(default=5)
    destroy_after_years: int = Field(default=20)
    minor_until_age: int = Field(default=28)
    invoice_years: int = Field(default=10)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LegalHold(ClinicOwned, SQLModel, table=True):
    """A legal hold on a patient's record: while active (not released), no archival, no destruction."""

    __tablename__ = "core_legal_hold"
    __table_args__ = (same_clinic("patient_id", "core_patient"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(index=True)
    reason: str = Field(max_length=32)  # one of HOLD_REASONS
    placed_by: int | None = Field(default=None, foreign_key="core_user.id")
    placed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    released_by: int | None = Field(default=None, foreign_key="core_user.id")
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DestructionProposal(ClinicOwned, SQLModel, table=True):
    """A patient whose record is due for destruction, proposed by the daily job; destroyed only
    when an owner confirms the batch."""

    __tablename__ = "core_destruction_proposal"
    __table_args__ = (
        same_clinic("patient_id", "core_patient"),
        sa.Index("ix_core_destruction_proposal_clinic_status", "clinic_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(index=True)
    rule: str = Field(max_length=32)  # one of RULES
    due_on: date
    status: str = Field(default=PROPOSED, max_length=16)
    proposed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    entry_id: int | None = Field(default=None)  # the register entry of its destruction


class DestructionEntry(ClinicOwned, SQLModel, table=True):
    """One confirmed destruction batch: who, when, how many, which rule. No patient identity."""

    __tablename__ = "core_destruction_register"

    id: int | None = Field(default=None, primary_key=True)
    destroyed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_by: int | None = Field(default=None, foreign_key="core_user.id")
    rule: str = Field(max_length=32)
    patients: int = Field(default=0)
