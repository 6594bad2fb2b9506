"""Job tables: outbox, recorded effects, failed jobs, leases and schedule state."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from carnet_core.db.base import UTCDateTime, utcnow

# Outbox row states. A row is born `pending` in the caller's transaction; the relay publishes it
# (`published`); the worker marks it `done` after the actor returns, `failed` when retries are
# exhausted, or `expired` when it was too old to run (max_age).
PENDING = "pending"
PUBLISHED = "published"
DONE = "done"
FAILED = "failed"
EXPIRED = "expired"


class OutboxMessage(SQLModel, table=True):
    """A job to publish, written in the same transaction as the change that asked for it."""

    __tablename__ = "core_outbox"
    __table_args__ = (sa.Index("ix_core_outbox_status_due", "status", "not_before"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=36, unique=True)
    actor: str = Field(max_length=127)
    args: str = Field(sa_type=sa.Text, default="[]")  # JSON
    kwargs: str = Field(sa_type=sa.Text, default="{}")  # JSON
    clinic_id: int | None = Field(default=None, foreign_key="core_clinic.id", index=True)
    status: str = Field(default=PENDING, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    not_before: datetime | None = Field(default=None, sa_type=UTCDateTime)
    max_age_ms: int | None = Field(default=None)
    # The relay's claim: who holds the row and until when (another relay may take it after).
    claimed_by: str | None = Field(default=None, max_length=36)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    publish_attempts: int = Field(default=0)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Last sign of life from a worker (start, retry); the relay re-drives a published row that has
    # shown none for longer than CARNET_JOBS_REDRIVE_AFTER seconds.
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    runs: int = Field(default=0)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=sa.Text)


class JobEffect(SQLModel, table=True):
    """An effect recorded under a unique key, in the transaction that made it (idempotency)."""

    __tablename__ = "core_job_effect"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    message_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class FailedJob(SQLModel, table=True):
    """A job that exhausted its retries; kept for the operator (`carnet jobs failed`)."""

    __tablename__ = "core_failed_job"

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=36, index=True)
    actor: str = Field(max_length=127)
    queue: str = Field(max_length=127)
    args: str = Field(sa_type=sa.Text, default="[]")
    kwargs: str = Field(sa_type=sa.Text, default="{}")
    clinic_id: int | None = Field(default=None, index=True)
    retries: int = Field(default=0)
    error: str = Field(sa_type=sa.Text, default="")
    traceback: str | None = Field(default=None, sa_type=sa.Text)
    failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class JobLease(SQLModel, table=True):
    """A named lease (the scheduler's leadership): one holder until it expires."""

    __tablename__ = "core_job_lease"

    name: str = Field(primary_key=True, max_length=63)
    holder: str = Field(max_length=127)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class ScheduleState(SQLModel, table=True):
    """When each periodic schedule fires next; advanced with a conditional update."""

    __tablename__ = "core_schedule_state"

    name: str = Field(primary_key=True, max_length=127)
    next_run_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
