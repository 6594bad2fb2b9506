"""`carnet check`: open every sealed value of a clinic and list the records that fail.

Reads in batches (one transaction each, ids ascending), opens each value with its key and names
every (table, column, row id) whose integrity check fails. Values of erased patients (destroyed
keys) are not damage. Nothing is written; no value is printed or logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from carnet_core.encryption.services import DecryptionError, KeyDestroyed, open_bytes, row_context


@dataclass(frozen=True)
class Damage:
    table: str
    column: str
    row_id: int


@dataclass
class CheckReport:
    clinic_id: int
    values: int = 0  # sealed values opened
    damaged: list[Damage] | None = None

    def __post_init__(self) -> None:
        if self.damaged is None:
            self.damaged = []


def _batches(database: Any, clinic_id: int, table: sa.Table, columns: list[str], batch: int) -> Iterator[Any]:
    after = 0
    while True:
        with database.session(clinic_id=clinic_id) as db:
            rows = db.connection().execute(
                sa.select(table.c.id, *[table.c[name] for name in columns])
                .where(table.c.clinic_id == clinic_id, table.c.id > after)
                .order_by(table.c.id).limit(batch)
            ).all()
            if not rows:
                return
            yield db, rows
        after = rows[-1].id


def check_clinic(database: Any, clinic_id: int, tables: list[tuple[sa.Table, list[str]]],
                 batch: int = 500) -> CheckReport:
    """Open every sealed value of the clinic's rows in `tables` (from `rewrap.sealed_tables`)."""
    report = CheckReport(clinic_id)
    assert report.damaged is not None
    for table, columns in tables:
        for db, rows in _batches(database, clinic_id, table, columns, batch):
            for row in rows:
                for name in columns:
                    value = row._mapping[name]
                    if value is None:
                        continue
                    report.values += 1
                    try:
                        open_bytes(db, clinic_id, row_context(table.name, name, row.id), bytes(value))
                    except KeyDestroyed:
                        continue  # an erased patient's value: gone by design, not damaged
                    except DecryptionError:
                        report.damaged.append(Damage(table.name, name, int(row.id)))
    return report
