"""Encryption: clinic data keys, subject (patient) keys, rewrap progress.

Revision ID: encryption_0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.db.base import UTCDateTime

revision = "encryption_0001"
down_revision = None
branch_labels = ("encryption",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "core_data_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_core_data_key_clinic_id_core_clinic"),
        sa.PrimaryKeyConstraint("id", name="pk_core_data_key"),
        sa.UniqueConstraint("clinic_id", "purpose", "version", name="uq_core_data_key_clinic_id"),
    )
    op.create_index("ix_core_data_key_clinic_id", "core_data_key", ["clinic_id"])
    op.create_table(
        "core_subject_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("data_key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("destroyed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_core_subject_key_clinic_id_core_clinic"),
        sa.PrimaryKeyConstraint("id", name="pk_core_subject_key"),
        sa.UniqueConstraint("clinic_id", "subject", name="uq_core_subject_key_clinic_id"),
    )
    op.create_index("ix_core_subject_key_clinic_id", "core_subject_key", ["clinic_id"])
    op.create_index("ix_core_subject_key_clinic_version", "core_subject_key", ["clinic_id", "data_key_version"])
    op.create_table(
        "core_key_rewrap",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("target_version", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=120), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_core_key_rewrap_clinic_id_core_clinic"),
        sa.PrimaryKeyConstraint("id", name="pk_core_key_rewrap"),
        sa.UniqueConstraint("clinic_id", "target_version", "step", name="uq_core_key_rewrap_clinic_id"),
    )
    op.create_index("ix_core_key_rewrap_clinic_id", "core_key_rewrap", ["clinic_id"])


def downgrade() -> None:
    op.drop_table("core_key_rewrap")
    op.drop_table("core_subject_key")
    op.drop_table("core_data_key")
