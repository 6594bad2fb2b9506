"""The instance's record of its backups: when each was made, and when a restore of it was tested."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from carnet_core.db.base import UTCDateTime, utcnow


class BackupRun(SQLModel, table=True):
    """One complete backup written by `carnet backup` or the scheduled job (instance-wide, not a
    clinic's row). Written after the copy, so a backup never holds its own row."""

    __tablename__ = "core_backup_run"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)  # the backup's folder name
    database: str = Field(max_length=16)  # "sqlite" | "postgresql"
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    size_bytes: int = Field(default=0, sa_type=sa.BigInteger)
    manifest_sha256: str = Field(max_length=64)
    trigger: str = Field(default="cli", max_length=16)  # "cli" | "job"
    restore_tested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    restore_test_ok: bool | None = Field(default=None)
    pruned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
