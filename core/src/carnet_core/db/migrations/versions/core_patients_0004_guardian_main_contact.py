"""Patients: which holder of parental authority is the main contact (the one who booked online,
whose e-mail the patient's messages go to); existing holders are not.

Revision ID: core_patients_0004
Revises: core_patients_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_patients_0004"
down_revision = "core_patients_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_patient_guardian", schema=None) as batch_op:
        batch_op.add_column(sa.Column("main_contact", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("core_patient_guardian", schema=None) as batch_op:
        batch_op.drop_column("main_contact")
