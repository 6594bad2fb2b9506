"""Core patient links: signed, expiring, single-purpose links and their rate-limit counters.

Revision ID: core_links_0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.db.base import UTCDateTime

revision = "core_links_0001"
down_revision = None
branch_labels = ("core_links",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "core_patient_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("use_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("code_required", sa.Boolean(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=True),
        sa.Column("code_expires_at", UTCDateTime(), nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.Column("codes_sent", sa.Integer(), nullable=False),
        sa.Column("code_verified_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["core_clinic.id"], name="fk_core_patient_link_clinic_id_core_clinic"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_core_patient_link"),
        sa.UniqueConstraint("token_hash", name="uq_core_patient_link_token_hash"),
    )
    with op.batch_alter_table("core_patient_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_patient_link_clinic_id"), ["clinic_id"], unique=False)
    op.create_table(
        "core_link_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_core_link_attempt"),
    )
    with op.batch_alter_table("core_link_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_core_link_attempt_scope_key_at", ["scope", "key", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("core_link_attempt")
    op.drop_table("core_patient_link")
