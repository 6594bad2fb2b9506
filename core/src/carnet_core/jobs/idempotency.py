"""Idempotency for actors: an effect is recorded under a unique key in the effect's transaction."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

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
    # A row comes back only when this transaction inserted the key (rowcount is -1 with RETURNING).
    statement = _claim_statement(db.get_bind().dialect.name)
    return db.execute(statement, {"key": key, "message_id": message_id, "created_at": utcnow()}).first() is not None


@lru_cache(maxsize=4)
def _claim_statement(dialect: str) -> Any:
    """`once`'s INSERT … ON CONFLICT DO NOTHING, built once per dialect (its values bound at each
    run). Not a savepoint: it leaves the caller's transaction usable on PostgreSQL, and pysqlite's
    savepoints would commit early."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - Carnet supports SQLite and PostgreSQL
        raise RuntimeError(f"unsupported database dialect {dialect}")
    table = JobEffect.__table__
    return (
        insert(table)
        .values(key=sa.bindparam("key"), message_id=sa.bindparam("message_id"), created_at=sa.bindparam("created_at"))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.id)
    )


def already_done(db: CarnetSession, key: str) -> bool:
    """Whether an effect under `key` has been committed (a read; use `once` to claim)."""
    return (
        db.execute(
            sa.select(JobEffect.__table__.c.id).where(JobEffect.__table__.c.key == key)
        ).first()
        is not None
    )


def already_done_clause(key: str | sa.BindParameter[str]) -> sa.ColumnElement[bool]:
    """`already_done` as an SQL condition, for a job that reads its state and this in one query
    (``select(Thing, already_done_clause(key)).where(...)``; `key` may be a bound parameter of a
    statement built once)."""
    return sa.exists().where(JobEffect.__table__.c.key == key)
