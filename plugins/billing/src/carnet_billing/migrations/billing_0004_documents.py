"""Billing: the PDF of each issued note, sealed (`billing_document`), and accounting exports
(receipts journal, FEC) built by the worker with their progress (`billing_export`); both visible
to their clinic only (row-level security).

Revision ID: billing_0004
Revises: billing_0003
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, disable_clinic_rls, enable_clinic_rls, same_clinic

revision = "billing_0004"
down_revision = "billing_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_billing_document_clinic_id_core_clinic"),
        same_clinic("note_id", "billing_note", name="fk_billing_document_note_id_billing_note"),
        sa.UniqueConstraint("clinic_id", "note_id", "kind", name="uq_billing_document_note"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_document"),
    )
    op.create_index("ix_billing_document_clinic_id", "billing_document", ["clinic_id"])
    op.create_index("ix_billing_document_note_id", "billing_document", ["note_id"])
    enable_clinic_rls(op, "billing_document")
    op.create_table(
        "billing_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=64), nullable=True),
        sa.Column("stored_as", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_billing_export_clinic_id_core_clinic"),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"],
                                name="fk_billing_export_practitioner_id_core_user"),
        sa.ForeignKeyConstraint(["created_by"], ["core_user.id"], name="fk_billing_export_created_by_core_user"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_export"),
    )
    op.create_index("ix_billing_export_clinic_id", "billing_export", ["clinic_id"])
    op.create_index("ix_billing_export_practitioner", "billing_export", ["practitioner_id", "created_at"])
    enable_clinic_rls(op, "billing_export")


def downgrade() -> None:
    for table in ("billing_export", "billing_document"):
        disable_clinic_rls(op, table)
        op.drop_table(table)
