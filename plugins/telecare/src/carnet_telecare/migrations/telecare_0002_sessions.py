"""telecare: télésoin sessions (events and report sealed), same-clinic patient key, row-level security.

Revision ID: telecare_0002
Revises: telecare_0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, create_clinic_key, disable_clinic_rls, enable_clinic_rls, same_clinic

revision = "telecare_0002"
down_revision = "telecare_0001"
branch_labels = None
depends_on = None

T = "telecare_session"


def upgrade() -> None:
    op.create_table(
        T,
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("joined_at", UTCDateTime(), nullable=True),
        sa.Column("admitted_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("events", sa.LargeBinary(), nullable=True),
        sa.Column("report", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name=f"fk_{T}_clinic_id_core_clinic"),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"], name=f"fk_{T}_practitioner_id_core_user"),
        same_clinic("patient_id", "core_patient"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{T}"),
    )
    op.create_index(f"ix_{T}_clinic_id", T, ["clinic_id"])
    op.create_index(f"ix_{T}_patient_id", T, ["patient_id"])
    create_clinic_key(op, T)
    enable_clinic_rls(op, T)


def downgrade() -> None:
    disable_clinic_rls(op, T)
    op.drop_table(T)
