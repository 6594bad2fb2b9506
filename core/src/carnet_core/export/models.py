"""One clinic export: who asked, its progress, its encrypted file and its single download."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from carnet_core.db.base import ClinicOwned, UTCDateTime, utcnow

QUEUED, RUNNING, READY, FAILED, DOWNLOADED, EXPIRED = "queued", "running", "ready", "failed", "downloaded", "expired"
STATUSES = (QUEUED, RUNNING, READY, FAILED, DOWNLOADED, EXPIRED)


class ClinicExport(ClinicOwned, SQLModel, table=True):
    """An export of the whole clinic, written by the `core.export_clinic` job.

    The archive is encrypted for `recipient` (an age X25519 public key). With a passphrase, the
    matching identity is kept only wrapped by that passphrase (`wrapped_identity`, age's scrypt):
    the instance cannot open an archive it wrote. No health data in any column."""

    __tablename__ = "core_clinic_export"

    id: int | None = Field(default=None, primary_key=True)
    requested_by: int | None = Field(default=None, foreign_key="core_user.id")
    status: str = Field(default=QUEUED, max_length=16)
    phase: str = Field(default="", max_length=63)  # "core", a plugin's name, "encrypt"
    phases_done: int = Field(default=0)
    phases_total: int = Field(default=0)
    records: int = Field(default=0)
    recipient: str = Field(max_length=100)
    wrapped_identity: str | None = Field(default=None, sa_type=sa.Text)
    file_name: str | None = Field(default=None, max_length=200)
    size: int | None = Field(default=None, sa_type=sa.BigInteger)
    sha256: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    downloaded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    downloaded_by: int | None = Field(default=None, foreign_key="core_user.id")
