"""Scheduling: index appointments by start for the clinic-wide windows (availability search,
agenda by room), which otherwise scan the whole history. (Not (clinic_id, starts_at): the planner
could then prefer it to (practitioner_id, starts_at) for one practitioner's week.)

Revision ID: scheduling_0004
Revises: scheduling_0003
"""

from __future__ import annotations

from alembic import op

revision = "scheduling_0004"
down_revision = "scheduling_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_scheduling_appointment_start", "scheduling_appointment", ["starts_at"])


def downgrade() -> None:
    op.drop_index("ix_scheduling_appointment_start", table_name="scheduling_appointment")
