"""consent: the scan of a consent given on paper (a PDF sealed with the patient's key); same-clinic
keys, row-level security.

Revision ID: consent_0005
Revises: consent_0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, disable_clinic_rls, enable_clinic_rls

revision = "consent_0005"
down_revision = "consent_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_scan",
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id", "request_id"], ["consent_request.clinic_id", "consent_request.id"],
                                name=op.f("fk_consent_scan_request_id_consent_request")),
        sa.ForeignKeyConstraint(["clinic_id", "patient_id"], ["core_patient.clinic_id", "core_patient.id"],
                                name=op.f("fk_consent_scan_patient_id_core_patient")),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name=op.f("fk_consent_scan_clinic_id_core_clinic")),
        sa.ForeignKeyConstraint(["created_by"], ["core_user.id"], name=op.f("fk_consent_scan_created_by_core_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_scan")),
        sa.UniqueConstraint("clinic_id", "request_id", name="uq_consent_scan_request"),
    )
    with op.batch_alter_table("consent_scan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_scan_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consent_scan_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consent_scan_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index("uq_consent_scan_clinic_key", ["clinic_id", "id"], unique=True)
    enable_clinic_rls(op, "consent_scan")


def downgrade() -> None:
    disable_clinic_rls(op, "consent_scan")
    op.drop_table("consent_scan")
