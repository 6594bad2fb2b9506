"""Billing: unpaid follow-up. `billing_followup_schedule` (the clinic's days after issue) and
`billing_followup` (one row per note and step, unique: a step is sent once), clinic row-level
security on both.

Revision ID: billing_0006
Revises: billing_0005
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, enable_clinic_rls, same_clinic

revision = "billing_0006"
down_revision = "billing_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_followup_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.String(length=40), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_billing_followup_schedule_clinic_id_core_clinic"),
        sa.UniqueConstraint("clinic_id", name="uq_billing_followup_schedule_clinic"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_followup_schedule"),
    )
    op.create_table(
        "billing_followup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_billing_followup_clinic_id_core_clinic"),
        same_clinic("note_id", "billing_note", name="fk_billing_followup_note_id_billing_note"),
        sa.UniqueConstraint("clinic_id", "note_id", "step", name="uq_billing_followup_step"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_followup"),
    )
    for table in ("billing_followup_schedule", "billing_followup"):
        op.create_index(f"ix_{table}_clinic_id", table, ["clinic_id"])
        enable_clinic_rls(op, table)
    op.create_index("ix_billing_followup_note_id", "billing_followup", ["note_id"])


def downgrade() -> None:
    op.drop_table("billing_followup")
    op.drop_table("billing_followup_schedule")
