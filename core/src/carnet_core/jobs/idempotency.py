"""Idempotency for actors: an effect is recorded under a unique key in the effect's transaction."""

from __future__ import annotations

import sqlalchemy as sa

from carnet_core.db.base import utcnow
from carnet_core.db.session import CarnetSession
from carnet_core.jobs.models import JobEffect


def once(db: CarnetSession, key: str, message_id: str | None = None) -> bool:
    """Claim `key` inside `db`'s transaction: True the first time (do the effect now, in this same
    transaction), False when an effect under this key was already committed.

    A concurrent transaction holding the same key makes this wait until it ends (unique index), so
    two deliveries of one message never both see True. Keys must not carry patient data: build them
    from ids, e.g. ``f"scheduling.reminder:{appointment_id}:{kind}"`` or from the job's message id.
    """
    if not key or len(key) > 255:
        raise ValueError("idempotency key: give 1 to 255 characters built from ids")
    if message_id is None:
        from carnet_core.jobs.context import current_job_or_none

        job = current_job_or_none()
        message_id = job.message_id if job is not None else None
    # INSERT … ON CONFLICT DO NOTHING, not a savepoint: it leaves the caller's transaction usable on
    # PostgreSQL, and pysqlite's savepoints would commit early.
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - Carnet supports SQLite and PostgreSQL
        raise RuntimeError(f"unsupported database dialect {dialect}")
    statement = (
        insert(JobEffect.__table__)
        .values(key=key, message_id=message_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(JobEffect.__table__.c.id)
    )
    # A row comes back only when this transaction inserted the key (rowcount is -1 with RETURNING).
    return db.execute(statement).first() is not None


def already_done(db: CarnetSession, key: str) -> bool:
    """Whether an effect under `key` has been committed (a read; use `once` to claim)."""
    return (
        db.execute(
            sa.select(JobEffect.__table__.c.id).where(JobEffect.__table__.c.key == key)
        ).first()
        is not None
    )
