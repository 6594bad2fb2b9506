"""Patient link tables: signed, expiring, single-purpose links for people without accounts, and
the attempts counted to rate-limit them. Tokens and codes are stored as hashes only; a link
carries ids, never patient data."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from carnet_core.db.base import ClinicOwned, UTCDateTime, utcnow
from carnet_core.db.schema import same_clinic


class PatientLink(ClinicOwned, table=True):
    """One link: what it allows (`purpose`), on what (`subject_type`/`subject_id`), until when,
    how many times, and an optional one-time code sent by e-mail."""

    __tablename__ = "core_patient_link"
    __table_args__ = (same_clinic("patient_id", "core_patient"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)  # SHA-256 of a 256-bit random token
    purpose: str = Field(max_length=64)  # "<plugin>.<verb>", e.g. "scheduling.cancel"
    subject_type: str = Field(max_length=64)  # e.g. "scheduling_appointment"
    subject_id: int
    patient_id: int | None = Field(default=None)  # for the audit trail; not a token field
    max_uses: int = Field(default=1)
    use_count: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Optional second factor: a short code e-mailed to the patient (keyed hash, attempts limited).
    code_required: bool = Field(default=False)
    code_hash: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    code_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    code_attempts: int = Field(default=0)
    codes_sent: int = Field(default=0)
    code_verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LinkAttempt(SQLModel, table=True):
    """An access counted for rate limiting: per token (`scope="token"`) or per address."""

    __tablename__ = "core_link_attempt"
    __table_args__ = (sa.Index("ix_core_link_attempt_scope_key_at", "scope", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=16)  # "token", "address" or "contact"
    key: str = Field(max_length=64)  # SHA-256 hex of what is counted, never the value itself
    failed: bool = Field(default=False)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
