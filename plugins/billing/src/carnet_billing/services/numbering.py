"""Gap-free, chronological numbering per practitioner and year: `2026-000123`.

A number is taken inside the issuing transaction by one statement on the series row, an upsert:
`INSERT ... (last_seq 1) ON CONFLICT (clinic, practitioner, year) DO UPDATE SET last_seq =
last_seq + 1 RETURNING last_seq`. On PostgreSQL it holds the row's lock until the transaction ends,
so a concurrent issuer waits and then steps from the committed value (the conflicting row is
locked and re-read, as READ COMMITTED re-checks an updated row; a concurrent first use waits for
the inserter, then takes the update path): numbers are distinct and consecutive, and a transaction
that rolls back gives its number back with it (no gap). SQLite has one writer at a time
(CarnetSession begins IMMEDIATE), with the same result. The series row is created by its first
number (1), never moved otherwise.

The database also refuses a series moved by hand: its row only ever steps forward by one and is
never deleted (triggers of `billing_0001`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from carnet_billing.models import NumberSeries
from carnet_core.plugin_api import CarnetSession

DIGITS = 6


def format_number(year: int, seq: int) -> str:
    return f"{year}-{seq:0{DIGITS}d}"


def take(db: CarnetSession, practitioner_id: int, year: int) -> int:
    """The next number of the practitioner's series of `year`, in `db`'s transaction."""
    table = NumberSeries.__table__  # type: ignore[attr-defined]
    values = {"clinic_id": db.clinic_id, "practitioner_id": practitioner_id, "year": year, "last_seq": 1}
    dialect = db.get_bind().dialect.name
    insert = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).values(**values)
    seq = db.execute(
        insert.on_conflict_do_update(index_elements=["clinic_id", "practitioner_id", "year"],
                                     set_={"last_seq": table.c.last_seq + 1})
        .returning(table.c.last_seq)
    ).scalar_one()
    return int(seq)


def last_taken(db: CarnetSession, practitioner_id: int, year: int) -> int:
    table = NumberSeries.__table__  # type: ignore[attr-defined]
    value = db.execute(sa.select(table.c.last_seq).where(
        table.c.clinic_id == db.clinic_id, table.c.practitioner_id == practitioner_id, table.c.year == year,
    )).scalar()
    return int(value or 0)
