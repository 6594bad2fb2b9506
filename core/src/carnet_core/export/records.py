"""Streaming a clinic table's rows as plain records (the building block of `export_clinic_data`),
and writing them back (`insert_records`, the building block of `import_clinic_data`).

`table_records(db, Model)` reads the rows of the session's clinic in id order, a batch at a time
(keyset pagination: memory stays flat whatever the table's size), and yields one dict per row:
every column by name, sealed columns opened (a damaged value becomes None and is reported, like
the RGPD export), dates and times in ISO 8601. Blind indexes and other binary columns are left
out (they are derived from the sealed values, with keys that an archive must not carry).

`insert_records(db, Model, records)` is its inverse: each record back into the table under its
own id (ids, numbers and hash chains are kept as they were), ISO text back into dates and times,
sealed columns sealed again with the importing instance's keys (the patient's key for a table
with `__sealed_subject__`). Core statements, a batch at a time; no ORM event fires, so the
import is audited as one action (`carnet import clinic`), not row by row.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from carnet_core.encryption.services import clear_session_cache, patient_subject, row_context, seal_bytes
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


class RecordError(ValueError):
    """A record that does not fit its table (the message names the table, row and column, never a value)."""


IMPORTED_IDS = "carnet.imported_ids"  # {table: highest id written}: core moves the id sequences past them


def _parse(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind_of = column.type.impl if isinstance(column.type, sa.types.TypeDecorator) else column.type
    try:
        kind = kind_of.python_type
    except NotImplementedError:  # JSON and other types without one: the value as it came
        return value
    if kind is datetime:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if kind is date:
        return date.fromisoformat(value)
    if kind is time:
        return time.fromisoformat(value)
    if kind is Decimal:
        return Decimal(str(value))
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError("not a boolean")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("not an integer")
        return value
    if kind is float:
        return float(value)
    if kind is str and not isinstance(value, str):
        raise TypeError("not text")
    return value


def insert_records(db: Any, model: Any, records: Iterable[dict[str, Any]], *,
                   fill: Callable[[dict[str, Any]], dict[str, Any]] | None = None, batch: int = BATCH) -> int:
    """Write `records` (as `table_records` reads them) into `model`'s table for the session's clinic,
    each under its own id; returns how many. `fill(record)` gives the values of the columns the
    export leaves out (a blind index, a document's content from its file, a secret made anew),
    taken like the record's own (a sealed column's value as text, to seal).

    A field the table does not have, a value of the wrong type, a row of another clinic: RecordError."""
    table: sa.Table = model.__table__
    clinic_id = db.info.get("clinic_id")
    if clinic_id is None or "clinic_id" not in table.c:
        raise ValueError(f"insert_records writes one clinic's rows: {table.name} in a clinic-scoped session")
    sealed = {c.name for c in table.c if isinstance(c.type, Sealed)}
    subject_attr = getattr(model, "__sealed_subject__", None)
    subject_column = model.__mapper__.attrs[subject_attr].columns[0].name if subject_attr else None
    written, pending, highest = 0, [], 0

    def flush() -> None:
        if pending:
            db.execute(sa.insert(table), pending)
            pending.clear()
            clear_session_cache(db)

    for number, record in enumerate(records, 1):
        if not isinstance(record, dict) or not isinstance(record.get("id"), int):
            raise RecordError(f"{table.name}: record {number} has no integer id")
        row_id = record["id"]
        if record.get("clinic_id", clinic_id) != clinic_id:
            raise RecordError(f"{table.name} {row_id}: a row of another clinic")
        values = {**record, **fill(record)} if fill else record
        row: dict[str, Any] = {"clinic_id": clinic_id}
        for name, value in values.items():
            if name not in table.c:
                raise RecordError(f"{table.name} {row_id}: no column {name!r} in this version")
            if name == "clinic_id":
                continue
            column = table.c[name]
            if name in sealed:
                if value is None:
                    row[name] = None
                    continue
                if not isinstance(value, str):
                    raise RecordError(f"{table.name} {row_id}: {name} is not text")
                subject = record.get(subject_column) if subject_column else None
                if subject_column and subject is None:
                    raise RecordError(f"{table.name} {row_id}: {subject_column} is empty (the patient's key)")
                row[name] = seal_bytes(db, clinic_id, row_context(table.name, name, row_id), value.encode("utf-8"),
                                       patient_subject(subject) if subject is not None else None)
                continue
            try:
                row[name] = _parse(column, value)
            except (TypeError, ValueError):
                raise RecordError(f"{table.name} {row_id}: {name} is not a valid {column.type}") from None
        pending.append(row)
        written += 1
        highest = max(highest, row_id)
        if len(pending) >= batch:
            flush()
    flush()
    if written:
        ids = db.info.setdefault(IMPORTED_IDS, {})
        ids[table.name] = max(ids.get(table.name, 0), highest)
    return written
