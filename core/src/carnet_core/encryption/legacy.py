"""`carnet init` step: seal values that a migration moved into a Sealed column in clear.

A column that held clear text and becomes `Sealed` is migrated in two steps, because migrations
do not hold keys (they run before the master key exists on a first `carnet init`, on a bare
connection, offline): the Alembic revision turns the column binary and keeps each value as its
UTF-8 bytes; this step, run by every `carnet init` right after the migrations, seals every value
of a Sealed column that is not a sealed value yet (it does not start with the format byte), with
the key the table names (the patient's for `__sealed_subject__` tables). Each batch is one
transaction and each value a compare-and-swap, so it is safe to kill and to run again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from carnet_core.encryption.services import patient_subject, row_context, seal_bytes
from carnet_core.encryption.types import FORMAT_V1

BATCH = 500


def _legacy(column: sa.Column[Any]) -> sa.ColumnElement[bool]:
    """A stored value that is not a sealed value (sealed values start with the format byte)."""
    return sa.and_(column.is_not(None), sa.func.substr(column, 1, 1) != bytes((FORMAT_V1,)))


def _subject_columns() -> dict[str, str]:
    """Table name -> the column naming the data subject (`__sealed_subject__`) of mapped models."""
    found = {}
    for mapper in SQLModel._sa_registry.mappers:  # type: ignore[attr-defined]
        cls = mapper.class_
        attr = getattr(cls, "__sealed_subject__", None)
        table = getattr(cls, "__table__", None)
        if attr and table is not None:
            found[table.name] = mapper.get_property(attr).columns[0].name
    return found


def seal_legacy_values(database: Any, tables: list[tuple[sa.Table, list[str]]], batch: int = BATCH) -> int:
    """Seal the clear values left in Sealed columns by migrations; returns how many were sealed."""
    subjects = _subject_columns()
    sealed = 0
    for table, columns in tables:
        subject_column = subjects.get(table.name)
        wanted = [table.c.id, table.c.clinic_id, *[table.c[c] for c in columns]]
        if subject_column is not None and subject_column not in ("id", *columns):
            wanted.append(table.c[subject_column])
        legacy = sa.or_(*[_legacy(table.c[c]) for c in columns])
        after = 0
        while True:
            with database.session(unscoped=True) as db:
                conn = db.connection()
                rows = conn.execute(
                    sa.select(*wanted).where(legacy, table.c.id > after).order_by(table.c.id).limit(batch)
                ).all()
                if not rows:
                    break
                for row in rows:
                    values = row._mapping
                    subject = patient_subject(values[subject_column]) if subject_column else None
                    for name in columns:
                        old = values[name]
                        if old is None or bytes(old)[:1] == bytes((FORMAT_V1,)):
                            continue
                        text = bytes(old).decode("utf-8")
                        new = seal_bytes(db, values["clinic_id"], row_context(table.name, name, row.id),
                                         text.encode("utf-8"), subject)
                        done = conn.execute(
                            sa.update(table)
                            .where(table.c.id == row.id, table.c[name] == sa.bindparam(None, old, sa.LargeBinary))
                            .values({name: new})
                        )
                        sealed += done.rowcount
                after = rows[-1].id
    return sealed


def legacy_values_step(settings: Any, host: Any, db: Any) -> Iterator[str]:
    from carnet_core.db.migrate import import_models, owned_prefixes
    from carnet_core.encryption.rewrap import sealed_tables

    import_models(host)
    count = seal_legacy_values(db, sealed_tables(owned_prefixes(host)))
    if count:
        yield f"sealed values: {count} values left in clear by a migration are now sealed"
