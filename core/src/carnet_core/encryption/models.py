"""Key tables: per-clinic data and blind-index keys (versioned), per-subject keys, rewrap progress."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from carnet_core.db.base import ClinicOwned, UTCDateTime, utcnow

PURPOSE_DATA = "data"
PURPOSE_INDEX = "index"

STATE_ACTIVE = "active"  # used for new writes (one per clinic and purpose)
STATE_ROTATED = "rotated"  # superseded; still opens data until a rewrap moves it
STATE_RETIRED = "retired"  # a rewrap verified that nothing uses it any more


class DataKey(ClinicOwned, SQLModel, table=True):
    """A clinic key, wrapped by the master key. `purpose` is "data" (seals) or "index" (HMAC)."""

    __tablename__ = "core_data_key"
    __table_args__ = (sa.UniqueConstraint("clinic_id", "purpose", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    purpose: str = Field(max_length=16)
    version: int
    wrapped: bytes = Field(sa_type=sa.LargeBinary)
    master_key_id: str = Field(max_length=64)
    state: str = Field(max_length=16, default=STATE_ACTIVE)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SubjectKey(ClinicOwned, SQLModel, table=True):
    """A key per data subject (a patient), wrapped by a clinic data key version.

    Destroying it (`wrapped` set to NULL) crypto-shreds every value sealed with it, including
    copies in old backups once those backups age out of the key's own history.
    """

    __tablename__ = "core_subject_key"
    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "subject"),
        sa.Index("ix_core_subject_key_clinic_version", "clinic_id", "data_key_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=64)  # e.g. "patient:42"
    data_key_version: int
    wrapped: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    destroyed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RewrapProgress(ClinicOwned, SQLModel, table=True):
    """How far `carnet keys rewrap` went for one clinic, target version and step (resumable)."""

    __tablename__ = "core_key_rewrap"
    __table_args__ = (sa.UniqueConstraint("clinic_id", "target_version", "step"),)

    id: int | None = Field(default=None, primary_key=True)
    target_version: int
    step: str = Field(max_length=120)  # "subject_keys" or "<table>"
    last_id: int = 0
    moved: int = 0
    done: bool = False
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
