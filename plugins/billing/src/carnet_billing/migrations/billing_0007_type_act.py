"""Billing: `billing_type_act`, the act each practitioner last invoiced for an appointment type
(the batch page's proposal for that type's next sessions); clinic row-level security.

Revision ID: billing_0007
Revises: billing_0006
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, enable_clinic_rls, same_clinic

revision = "billing_0007"
down_revision = "billing_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_type_act",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("type_name", sa.String(length=120), nullable=False),
        sa.Column("act_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_billing_type_act_clinic_id_core_clinic"),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"], name="fk_billing_type_act_practitioner_id_core_user"),
        same_clinic("act_id", "billing_act", name="fk_billing_type_act_act_id_billing_act", ondelete="CASCADE"),
        sa.UniqueConstraint("clinic_id", "practitioner_id", "type_name", name="uq_billing_type_act"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_type_act"),
    )
    op.create_index("ix_billing_type_act_clinic_id", "billing_type_act", ["clinic_id"])
    enable_clinic_rls(op, "billing_type_act")


def downgrade() -> None:
    op.drop_table("billing_type_act")
