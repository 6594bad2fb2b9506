"""Billing: payments of issued notes (partial or whole, by card, cash, cheque or transfer, from
the patient, the Assurance Maladie or a complémentaire); accounting records, never updated or
deleted (triggers on both databases), visible to their clinic only (row-level security).

Revision ID: billing_0002
Revises: billing_0001
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import (
    UTCDateTime,
    disable_clinic_rls,
    drop_refusals,
    enable_clinic_rls,
    refuse_changes,
    same_clinic,
)

revision = "billing_0002"
down_revision = "billing_0001"
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.create_table(
        "billing_payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("payer", sa.String(length=8), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_billing_payment_clinic_id_core_clinic"),
        sa.ForeignKeyConstraint(["created_by"], ["core_user.id"], name="fk_billing_payment_created_by_core_user"),
        same_clinic("note_id", "billing_note", name="fk_billing_payment_note_id_billing_note"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_payment"),
    )
    op.create_index("ix_billing_payment_clinic_id", "billing_payment", ["clinic_id"])
    op.create_index("ix_billing_payment_note_id", "billing_payment", ["note_id"])
    enable_clinic_rls(op, "billing_payment")
    refuse_changes(op, "billing_payment", "billing_payment_kept",
                   message="billing_payment is an accounting record: UPDATE or DELETE refused")


def downgrade() -> None:
    drop_refusals(op, "billing_payment", "billing_payment_kept")
    disable_clinic_rls(op, "billing_payment")
    op.drop_table("billing_payment")
