"""Patients: whether a holder of parental authority may receive messages (reminders, links, consent
requests); existing holders may, as before.

Revision ID: core_patients_0003
Revises: core_patients_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_patients_0003"
down_revision = "core_patients_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_patient_guardian", schema=None) as batch_op:
        batch_op.add_column(sa.Column("may_receive_messages", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("core_patient_guardian", schema=None) as batch_op:
        batch_op.drop_column("may_receive_messages")
