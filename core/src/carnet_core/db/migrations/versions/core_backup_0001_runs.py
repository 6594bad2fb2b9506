"""Backups: the instance's record of each backup and of its last restore drill.

Revision ID: core_backup_0001
Revises:
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.db.base import UTCDateTime

revision = "core_backup_0001"
down_revision = None
branch_labels = ("core_backup",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "core_backup_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("database", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("restore_tested_at", UTCDateTime(), nullable=True),
        sa.Column("restore_test_ok", sa.Boolean(), nullable=True),
        sa.Column("pruned_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_core_backup_run"),
        sa.UniqueConstraint("name", name="uq_core_backup_run_name"),
    )


def downgrade() -> None:
    op.drop_table("core_backup_run")
