"""Resumable rewrap after a rotation: move subject keys and clinic-sealed values to the active
version in small committed batches, then retire the versions nothing uses any more.

Every batch is its own transaction and every row change is a compare-and-swap on the old bytes,
so the process can be killed at any moment (nothing half-written, every record readable with the
version it names) and a concurrent edit is never overwritten by a stale re-seal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, select

from carnet_core.db.base import utcnow
from carnet_core.encryption import services
from carnet_core.encryption.models import (
    PURPOSE_DATA,
    STATE_RETIRED,
    STATE_ROTATED,
    DataKey,
    RewrapProgress,
    SubjectKey,
)
from carnet_core.encryption.types import FORMAT_V1, KIND_CLINIC, Sealed

SUBJECT_STEP = "subject_keys"


@dataclass
class RewrapReport:
    clinic_id: int
    target_version: int
    subject_keys: int = 0
    rows: int = 0  # rows whose sealed values were re-sealed
    retired: list[int] = field(default_factory=list)


BatchCallback = Callable[[str, int, int], None]  # (step, moved in this batch, moved so far)


def sealed_tables(prefixes: tuple[str, ...]) -> list[tuple[sa.Table, list[str]]]:
    """Tables named with one of `prefixes` (loaded plugins, "core_") that hold Sealed columns.

    Models must be imported first (`carnet_core.db.migrate.import_models`).
    """
    found = []
    for table in SQLModel.metadata.sorted_tables:
        if not table.name.startswith(prefixes):
            continue
        columns = [c.name for c in table.columns if isinstance(c.type, Sealed)]
        if not columns:
            continue
        if "id" not in table.c or "clinic_id" not in table.c:
            raise services.EncryptionError(
                f"table {table.name} has Sealed columns but no integer `id` and `clinic_id` columns"
            )
        found.append((table, columns))
    return found


def _progress(db: Any, clinic_id: int, target: int, step: str) -> RewrapProgress:
    row = db.exec(
        select(RewrapProgress).where(
            RewrapProgress.clinic_id == clinic_id, RewrapProgress.target_version == target,
            RewrapProgress.step == step,
        )
    ).first()
    if row is None:
        row = RewrapProgress(clinic_id=clinic_id, target_version=target, step=step)
        db.add(row)
        db.flush()
    return row


def _old_version_predicate(column: sa.Column[Any], active: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        sa.func.substr(column, 1, 2) == bytes((FORMAT_V1, KIND_CLINIC)),
        sa.func.substr(column, 3, 4) != active.to_bytes(4, "big"),
    )


def _rewrap_subject_batch(db: Any, clinic_id: int, active: int, batch: int) -> int | None:
    rows = db.exec(
        select(SubjectKey)
        .where(SubjectKey.clinic_id == clinic_id, SubjectKey.data_key_version != active)
        .order_by(SubjectKey.id).limit(batch)
    ).all()
    if not rows:
        return None
    moved = 0
    table = SubjectKey.__table__
    conn = db.connection()
    for row in rows:
        new = services.rewrapped_subject_key(db, row, active)
        same = table.c.wrapped.is_(None) if row.wrapped is None else table.c.wrapped == row.wrapped
        result = conn.execute(
            sa.update(table)
            .where(table.c.id == row.id, table.c.clinic_id == clinic_id,
                   table.c.data_key_version == row.data_key_version, same)
            .values(wrapped=new, data_key_version=active)
        )
        moved += result.rowcount
    progress = _progress(db, clinic_id, active, SUBJECT_STEP)
    progress.last_id = rows[-1].id
    progress.moved += moved
    progress.updated_at = utcnow()
    db.add(progress)
    return moved


def _reseal_rows(db: Any, table: sa.Table, columns: list[str], clinic_id: int, active: int, rows: Any) -> int:
    moved = 0
    conn = db.connection()
    for row in rows:
        updates: dict[str, bytes] = {}
        for name in columns:
            value = row._mapping[name]
            if value is None:
                continue
            context = services.row_context(table.name, name, row.id)
            new = services.reseal_clinic_value(db, clinic_id, context, bytes(value), active)
            if new is not None:
                updates[name] = new
        if not updates:
            continue
        result = conn.execute(
            sa.update(table)
            .where(table.c.id == row.id, table.c.clinic_id == clinic_id,
                   *[table.c[name] == bytes(row._mapping[name]) for name in updates])
            .values(**updates)
        )
        moved += result.rowcount
    return moved


def _rewrap_table_batch(
    db: Any, table: sa.Table, columns: list[str], clinic_id: int, active: int, batch: int
) -> int | None:
    progress = _progress(db, clinic_id, active, table.name)
    conn = db.connection()
    selected = [table.c.id, *(table.c[name] for name in columns)]
    rows: Any = []
    if not progress.done:
        rows = conn.execute(
            sa.select(*selected)
            .where(table.c.clinic_id == clinic_id, table.c.id > progress.last_id)
            .order_by(table.c.id).limit(batch)
        ).all()
    if rows:
        progress.last_id = rows[-1].id
    else:
        # Past the cursor: values written with an older version after it passed (a stale writer).
        rows = conn.execute(
            sa.select(*selected)
            .where(table.c.clinic_id == clinic_id,
                   sa.or_(*(_old_version_predicate(table.c[name], active) for name in columns)))
            .order_by(table.c.id).limit(batch)
        ).all()
        if not rows:
            if not progress.done:
                progress.done = True
                progress.updated_at = utcnow()
                db.add(progress)
            return None
    moved = _reseal_rows(db, table, columns, clinic_id, active, rows)
    progress.moved += moved
    progress.updated_at = utcnow()
    db.add(progress)
    return moved


def versions_in_use(db: Any, clinic_id: int, tables: list[tuple[sa.Table, list[str]]]) -> set[int]:
    """Clinic data key versions still referenced by a subject key or a sealed value."""
    used = set(
        db.exec(
            select(SubjectKey.data_key_version).where(SubjectKey.clinic_id == clinic_id).distinct()
        ).all()
    )
    conn = db.connection()
    for table, columns in tables:
        for name in columns:
            col = table.c[name]
            refs = conn.execute(
                sa.select(sa.func.substr(col, 3, 4)).where(
                    table.c.clinic_id == clinic_id, sa.func.substr(col, 1, 2) == bytes((FORMAT_V1, KIND_CLINIC))
                ).distinct()
            ).scalars()
            used.update(int.from_bytes(bytes(r), "big") for r in refs)
    return used


def rewrap_clinic(
    database: Any,
    clinic_id: int,
    batch: int = 500,
    pause: float = 0.0,
    on_batch: BatchCallback | None = None,
    tables: list[tuple[sa.Table, list[str]]] | None = None,
) -> RewrapReport:
    """Move everything of one clinic to its active data key version; retire unused versions.

    `tables` defaults to core's sealed tables; the CLI passes those of every loaded plugin.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    tables = sealed_tables(("core_",)) if tables is None else tables
    with database.session(clinic_id=clinic_id) as db:
        active = services.active_version(db, clinic_id)
    report = RewrapReport(clinic_id=clinic_id, target_version=active)
    steps: list[tuple[str, Callable[[Any], int | None]]] = [
        (SUBJECT_STEP, lambda db: _rewrap_subject_batch(db, clinic_id, active, batch)),
    ]
    for table, columns in tables:
        steps.append((
            table.name,
            lambda db, t=table, c=columns: _rewrap_table_batch(db, t, c, clinic_id, active, batch),
        ))
    for step, run in steps:
        while True:
            with database.session(clinic_id=clinic_id) as db:
                moved = run(db)
            if moved is None:
                break
            if step == SUBJECT_STEP:
                report.subject_keys += moved
            else:
                report.rows += moved
            if on_batch is not None:
                on_batch(step, moved, report.subject_keys + report.rows)
            if pause:
                time.sleep(pause)
    with database.session(clinic_id=clinic_id) as db:
        used = versions_in_use(db, clinic_id, tables)
        for row in db.exec(
            select(DataKey).where(
                DataKey.clinic_id == clinic_id, DataKey.purpose == PURPOSE_DATA, DataKey.state == STATE_ROTATED
            )
        ).all():
            if row.version not in used:
                row.state = STATE_RETIRED
                row.retired_at = utcnow()
                db.add(row)
                report.retired.append(row.version)
    return report
