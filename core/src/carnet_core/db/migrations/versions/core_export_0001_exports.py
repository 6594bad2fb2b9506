"""Clinic exports: progress, the encrypted file, its single download.

Revision ID: core_export_0001
Revises:
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.db.base import UTCDateTime
from carnet_core.db.schema import enable_clinic_rls

revision = "core_export_0001"
down_revision = None
branch_labels = ("core_export",)
depends_on = ("core_identity_0001", "core_rls_0001")


def upgrade() -> None:
    op.create_table(
        "core_clinic_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=63), nullable=False),
        sa.Column("phases_done", sa.Integer(), nullable=False),
        sa.Column("phases_total", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=False),
        sa.Column("wrapped_identity", sa.Text(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("downloaded_at", UTCDateTime(), nullable=True),
        sa.Column("downloaded_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_core_clinic_export_clinic_id_core_clinic"),
        sa.ForeignKeyConstraint(["requested_by"], ["core_user.id"],
                                name="fk_core_clinic_export_requested_by_core_user"),
        sa.ForeignKeyConstraint(["downloaded_by"], ["core_user.id"],
                                name="fk_core_clinic_export_downloaded_by_core_user"),
        sa.PrimaryKeyConstraint("id", name="pk_core_clinic_export"),
    )
    op.create_index("ix_core_clinic_export_clinic_id", "core_clinic_export", ["clinic_id"])
    enable_clinic_rls(op, "core_clinic_export")


def downgrade() -> None:
    op.drop_table("core_clinic_export")
