"""Scheduling: practitioners' professions, and appointment types that belong to a profession (online
booking offers a practitioner only the types of their profession, and those of every profession).

Revision ID: scheduling_0008
Revises: scheduling_0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import disable_clinic_rls, enable_clinic_rls

revision = "scheduling_0008"
down_revision = "scheduling_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scheduling_appointment_type", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profession", sa.String(length=40), nullable=True))
    op.create_table(
        "scheduling_practitioner_profile",
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("profession", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"],
                                name=op.f("fk_scheduling_practitioner_profile_clinic_id_core_clinic")),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"],
                                name=op.f("fk_scheduling_practitioner_profile_practitioner_id_core_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduling_practitioner_profile")),
        sa.UniqueConstraint("clinic_id", "practitioner_id", name="uq_scheduling_practitioner_profile_practitioner"),
    )
    with op.batch_alter_table("scheduling_practitioner_profile", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scheduling_practitioner_profile_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scheduling_practitioner_profile_practitioner_id"), ["practitioner_id"],
                              unique=False)
    enable_clinic_rls(op, "scheduling_practitioner_profile")


def downgrade() -> None:
    disable_clinic_rls(op, "scheduling_practitioner_profile")
    op.drop_table("scheduling_practitioner_profile")
    with op.batch_alter_table("scheduling_appointment_type", schema=None) as batch_op:
        batch_op.drop_column("profession")
