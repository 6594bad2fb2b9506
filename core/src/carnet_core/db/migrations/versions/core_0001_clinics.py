"""Core: clinics and per-clinic plugin enablement.

Revision ID: core_0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.db.base import UTCDateTime

revision = "core_0001"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_clinic",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_core_clinic"),
        sa.UniqueConstraint("slug", name="uq_core_clinic_slug"),
    )
    op.create_table(
        "core_clinic_plugin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("plugin", sa.String(length=63), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_core_clinic_plugin_clinic_id_core_clinic"),
        sa.PrimaryKeyConstraint("id", name="pk_core_clinic_plugin"),
        sa.UniqueConstraint("clinic_id", "plugin", name="uq_core_clinic_plugin_clinic_plugin"),
    )
    op.create_index("ix_core_clinic_plugin_clinic_id", "core_clinic_plugin", ["clinic_id"])


def downgrade() -> None:
    op.drop_table("core_clinic_plugin")
    op.drop_table("core_clinic")
