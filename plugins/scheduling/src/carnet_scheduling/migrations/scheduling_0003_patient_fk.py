"""Scheduling: appointments, prescriptions and series point at core's patient registry (foreign
keys on patient_id, now that core_patient exists). On SQLite the tables are rebuilt (batch mode),
so the no-double-booking triggers are created again afterwards.

Revision ID: scheduling_0003
Revises: scheduling_0002
"""

from __future__ import annotations

from alembic import op

revision = "scheduling_0003"
down_revision = "scheduling_0002"
branch_labels = None
depends_on = ("core_patients_0001",)

TABLES = ("scheduling_appointment", "scheduling_prescription", "scheduling_series")


def _fk(table: str) -> str:
    return f"fk_{table}_patient_id_core_patient"


def _sqlite_triggers() -> None:
    from importlib import import_module

    initial = import_module("carnet_scheduling.migrations.scheduling_0001_initial")
    op.execute("DROP TRIGGER IF EXISTS scheduling_appointment_no_overlap_insert")
    op.execute("DROP TRIGGER IF EXISTS scheduling_appointment_no_overlap_update")
    op.execute(initial.SQLITE_TRIGGER.format(name="scheduling_appointment_no_overlap_insert", event="INSERT",
                                             self_clause=""))
    op.execute(initial.SQLITE_TRIGGER.format(
        name="scheduling_appointment_no_overlap_update",
        event="UPDATE OF starts_at, ends_at, practitioner_id, room_id, status", self_clause="AND a.id <> NEW.id",
    ))


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(_fk(table), "core_patient", ["patient_id"], ["id"])
    if sqlite:
        _sqlite_triggers()


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(_fk(table), type_="foreignkey")
    if sqlite:
        _sqlite_triggers()
