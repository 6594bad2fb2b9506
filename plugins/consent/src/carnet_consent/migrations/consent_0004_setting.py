"""consent: the clinic owner's settings for the module (the "who looked at my file" switch);
one row per clinic, row-level security.

Revision ID: consent_0004
Revises: consent_0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, disable_clinic_rls, enable_clinic_rls

revision = "consent_0004"
down_revision = "consent_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_setting",
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("accesses_view", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name=op.f("fk_consent_setting_clinic_id_core_clinic")),
        sa.ForeignKeyConstraint(["updated_by"], ["core_user.id"], name=op.f("fk_consent_setting_updated_by_core_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_setting")),
        sa.UniqueConstraint("clinic_id", name="uq_consent_setting_clinic"),
    )
    with op.batch_alter_table("consent_setting", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_setting_clinic_id"), ["clinic_id"], unique=False)
    enable_clinic_rls(op, "consent_setting")


def downgrade() -> None:
    disable_clinic_rls(op, "consent_setting")
    op.drop_table("consent_setting")
