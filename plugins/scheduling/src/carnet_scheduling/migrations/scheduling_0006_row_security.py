"""Scheduling: row-level security (PostgreSQL) on every scheduling table, keyed on the clinic the
transaction is bound to, like core's (`enable_clinic_rls`). Nothing on SQLite.

Revision ID: scheduling_0006
Revises: scheduling_0005
"""

from __future__ import annotations

from alembic import op

from carnet_core.plugin_api import disable_clinic_rls, enable_clinic_rls

revision = "scheduling_0006"
down_revision = "scheduling_0005"
branch_labels = None
depends_on = ("core_rls_0001",)

TABLES = (
    "scheduling_place", "scheduling_room", "scheduling_working_hours", "scheduling_exception",
    "scheduling_school_holiday", "scheduling_appointment_type", "scheduling_prescription", "scheduling_series",
    "scheduling_appointment", "scheduling_calendar_feed", "scheduling_reminder_rule", "scheduling_reminder_switch",
    "scheduling_reminder", "scheduling_online_booking", "scheduling_waiting_entry", "scheduling_waiting_listing",
    "scheduling_offer",
)


def upgrade() -> None:
    for table in TABLES:
        enable_clinic_rls(op, table)


def downgrade() -> None:
    for table in TABLES:
        disable_clinic_rls(op, table)
