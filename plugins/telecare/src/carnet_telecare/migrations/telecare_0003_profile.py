"""telecare: each practitioner's messaging hours and automatic reply, row-level security.

Revision ID: telecare_0003
Revises: telecare_0002
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import create_clinic_key, disable_clinic_rls, enable_clinic_rls

revision = "telecare_0003"
down_revision = "telecare_0002"
branch_labels = None
depends_on = None

T = "telecare_profile"


def upgrade() -> None:
    op.create_table(
        T,
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.String(length=20), nullable=False),
        sa.Column("opens", sa.String(length=5), nullable=False),
        sa.Column("closes", sa.String(length=5), nullable=False),
        sa.Column("auto_reply", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name=f"fk_{T}_clinic_id_core_clinic"),
        sa.ForeignKeyConstraint(["user_id"], ["core_user.id"], name=f"fk_{T}_user_id_core_user"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{T}"),
        sa.UniqueConstraint("clinic_id", "user_id", name=f"uq_{T}_clinic_id"),
    )
    op.create_index(f"ix_{T}_clinic_id", T, ["clinic_id"])
    create_clinic_key(op, T)
    enable_clinic_rls(op, T)


def downgrade() -> None:
    disable_clinic_rls(op, T)
    op.drop_table(T)
