"""Scheduling: an appointment's cancellation reason and a prescription's prescriber and acts become
Sealed columns (health text: the staff's or the patient's own words, what the patient is treated
for). They were stored in clear.

The schema change is here; sealing the existing values needs the clinic keys, which a migration
does not hold (migrations run before `carnet init` creates the master key, offline from a bare
connection, in one transaction). So this revision turns each clear value into its UTF-8 bytes in
the now binary column, and `carnet init`'s next step, `encryption.legacy.seal_legacy_values`,
seals every value of a Sealed column that is not yet sealed (batches, compare-and-swap, safe to
run again), right after the migrations of the same `carnet init`.

Revision ID: scheduling_0007
Revises: scheduling_0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduling_0007"
down_revision = "scheduling_0006"
branch_labels = None
depends_on = None

COLUMNS = (
    ("scheduling_appointment", "cancel_reason"),
    ("scheduling_prescription", "prescriber"),
    ("scheduling_prescription", "acts"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bytea "
                f"USING convert_to(NULLIF({column}, ''), 'UTF8')"
            )
        return
    # SQLite: a new BLOB column replaces the text one (no table rebuild: scheduling_appointment
    # carries the no-double-booking triggers and a partial unique index).
    for table, column in COLUMNS:
        op.add_column(table, sa.Column(f"{column}_sealed", sa.LargeBinary(), nullable=True))
        op.execute(
            f"UPDATE {table} SET {column}_sealed = CAST({column} AS BLOB) "  # noqa: S608 - fixed names
            f"WHERE {column} IS NOT NULL AND {column} <> ''"
        )
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {column}_sealed TO {column}")


def downgrade() -> None:
    raise NotImplementedError("sealed values cannot be turned back into clear text by a migration")
