"""Scheduling: the clinic's school-holiday zone (official calendar A, B or C).

Revision ID: scheduling_0010
Revises: scheduling_0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import disable_clinic_rls, enable_clinic_rls

revision = "scheduling_0010"
down_revision = "scheduling_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduling_calendar_setting",
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_zone", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"],
                                name=op.f("fk_scheduling_calendar_setting_clinic_id_core_clinic")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduling_calendar_setting")),
        sa.UniqueConstraint("clinic_id", name="uq_scheduling_calendar_setting_clinic"),
    )
    with op.batch_alter_table("scheduling_calendar_setting", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scheduling_calendar_setting_clinic_id"), ["clinic_id"], unique=False)
    enable_clinic_rls(op, "scheduling_calendar_setting")


def downgrade() -> None:
    disable_clinic_rls(op, "scheduling_calendar_setting")
    op.drop_table("scheduling_calendar_setting")
