"""Damage stored data the way a failing disk or an intruder with database access would."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def flip_sealed_byte(database: Any, table: str, column: str, row_id: int, offset: int = -5) -> None:
    """Flip one bit of the sealed value `table.column` of row `row_id`, bypassing the application
    (the value then fails its integrity check: pages must fail closed for that record only)."""
    t = sa.Table(table, sa.MetaData(), autoload_with=database.engine)
    with database.engine.begin() as conn:
        value = conn.execute(sa.select(t.c[column]).where(t.c.id == row_id)).scalar_one()
        if value is None:
            raise ValueError(f"{table}.{column} of row {row_id} is empty: nothing to damage")
        damaged = bytearray(value)
        damaged[offset] ^= 0x01
        conn.execute(sa.update(t).where(t.c.id == row_id).values({column: bytes(damaged)}))
