"""Streaming a clinic table's rows as plain records (the building block of `export_clinic_data`).

`table_records(db, Model)` reads the rows of the session's clinic in id order, a batch at a time
(keyset pagination: memory stays flat whatever the table's size), and yields one dict per row:
every column by name, sealed columns opened (a damaged value becomes None and is reported, like
the RGPD export), dates and times in ISO 8601. Blind indexes and other binary columns are left
out (they are derived from the sealed values, with keys that an archive must not carry).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from carnet_core.encryption.services import clear_session_cache
from carnet_core.encryption.types import Sealed
from carnet_core.encryption.unreadable import open_row_value, readable

BATCH = 500


def plain(value: Any) -> Any:
    """A column value as JSON: ISO dates and times, decimals as text (exact), bytes as base64."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def table_records(db: Any, model: Any, *, exclude: Iterable[str] = (), batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """Every row of `model`'s table for the session's clinic, id order, sealed columns opened.

    `exclude` names columns to leave out (secrets that must not leave the instance)."""
    table: sa.Table = model.__table__
    clinic_id = db.info.get("clinic_id")
    if clinic_id is None or "clinic_id" not in table.c:
        raise ValueError(f"table_records reads one clinic's rows: {table.name} in a clinic-scoped session")
    left_out = set(exclude)
    sealed = {c.name for c in table.c if isinstance(c.type, Sealed)}
    binary = {c.name for c in table.c if isinstance(c.type, sa.LargeBinary) and c.name not in sealed}
    columns = [c for c in table.c if c.name not in left_out and c.name not in binary]
    key = table.c.id
    last: Any = None
    while True:
        query = sa.select(*columns).where(table.c.clinic_id == clinic_id).order_by(key).limit(batch)
        if last is not None:
            query = query.where(key > last)
        rows = db.execute(query).mappings().all()
        if not rows:
            return
        for row in rows:
            record: dict[str, Any] = {}
            for name, value in row.items():
                if name in sealed:
                    value = readable(open_row_value(db, clinic_id, table.name, name, row["id"], value))
                record[name] = plain(value)
            yield record
        last = rows[-1]["id"]
        clear_session_cache(db)  # the keys opened for this batch: memory stays flat
        if len(rows) < batch:
            return
