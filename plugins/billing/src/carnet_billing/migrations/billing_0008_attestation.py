"""Billing: `billing_attestation`, a patient's yearly payment attestation rendered by the worker
and kept sealed (with the patient's key) until its link expires; clinic row-level security.

Revision ID: billing_0008
Revises: billing_0007
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, enable_clinic_rls, same_clinic

revision = "billing_0008"
down_revision = "billing_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_attestation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_billing_attestation_clinic_id_core_clinic"),
        same_clinic("patient_id", "core_patient", name="fk_billing_attestation_patient_id_core_patient"),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"],
                                name="fk_billing_attestation_practitioner_id_core_user"),
        sa.ForeignKeyConstraint(["requested_by"], ["core_user.id"], name="fk_billing_attestation_requested_by_core_user"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_attestation"),
    )
    op.create_index("ix_billing_attestation_clinic_id", "billing_attestation", ["clinic_id"])
    op.create_index("ix_billing_attestation_patient", "billing_attestation", ["patient_id", "year"])
    enable_clinic_rls(op, "billing_attestation")


def downgrade() -> None:
    op.drop_table("billing_attestation")
