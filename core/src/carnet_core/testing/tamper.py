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


def behind_the_back(database: Any, *statements: str) -> None:
    """Run raw SQL with the database's triggers out of the way, as its owner could: the tampering
    that `refuse_changes` triggers stop, for tests of what a verifier then finds. PostgreSQL:
    `session_replication_role = replica` for the transaction (needs a superuser, as tests connect);
    SQLite: every trigger dropped and re-created in the same transaction (DDL is transactional)."""
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for statement in statements:
                conn.exec_driver_sql(statement)
            return
        triggers = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all()
        for name, _sql in triggers:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        for statement in statements:
            conn.exec_driver_sql(statement)
        for _name, sql in triggers:
            conn.exec_driver_sql(sql)
