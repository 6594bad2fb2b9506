"""Audit tables: the append-only records, each clinic's chain head, signed checkpoints."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from carnet_core.db.base import ClinicOwned, UTCDateTime, utcnow


class AuditRecord(ClinicOwned, table=True):
    """One audited action. Append-only: database triggers refuse UPDATE, DELETE and TRUNCATE
    (DELETE only passes for rows covered by a signed purge anchor, see `retention`)."""

    __tablename__ = "core_audit"
    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "seq", name="uq_core_audit_clinic_id_seq"),
        sa.Index("ix_core_audit_clinic_id_patient_id", "clinic_id", "patient_id"),
        sa.Index("ix_core_audit_clinic_id_occurred_at", "clinic_id", "occurred_at"),
    )

    # No index of its own: the unique (clinic_id, seq) index serves every lookup by clinic, and a
    # second index would cost every appended record (core_audit_0002).
    clinic_id: int = Field(foreign_key="core_clinic.id", nullable=False)
    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(nullable=False)  # per clinic, gap-free from 1 (or from a purge anchor)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    actor_kind: str = Field(max_length=16)  # user, token, patient_link, job, system, anonymous
    actor_id: str | None = Field(default=None, max_length=128)
    actor_user_id: int | None = Field(default=None)  # the staff user behind a user or token actor
    patient_id: int | None = Field(default=None)
    resource_type: str = Field(max_length=63)
    resource_id: str | None = Field(default=None, max_length=128)
    action: str = Field(max_length=32)
    outcome: str = Field(max_length=16)
    address: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    details: str = Field(default="{}", sa_type=sa.Text)  # canonical JSON, never patient data
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The last (seq, hash) of each clinic's chain; writers lock this row to append in turn."""

    __tablename__ = "core_audit_head"

    clinic_id: int = Field(foreign_key="core_clinic.id", primary_key=True)
    seq: int = Field(nullable=False)
    hash: str = Field(max_length=64)


class AuditCheckpoint(ClinicOwned, table=True):
    """A signed statement "the chain of this clinic had this hash at this seq".

    `kind` is "checkpoint" (periodic) or "anchor" (written by a purge: the kept chain starts
    after `seq`, whose hash was `hash`). Signed with an Ed25519 key kept outside the database.
    """

    __tablename__ = "core_audit_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    seq: int = Field(nullable=False)
    hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    key_id: str = Field(max_length=32)
    signature: str = Field(max_length=128)
