"""Retention: each clinic's rules, legal holds, destruction proposals and the destruction register.

Revision ID: core_retention_0001
Revises:
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.db.base import UTCDateTime
from carnet_core.db.schema import enable_clinic_rls, same_clinic

revision = "core_retention_0001"
down_revision = None
branch_labels = ("core_retention",)
depends_on = ("core_patients_0002", "core_identity_0001", "core_rls_0001")

TABLES = ("core_retention_rule", "core_legal_hold", "core_destruction_proposal", "core_destruction_register")


def _clinic(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name=f"fk_{table}_clinic_id_core_clinic")


def upgrade() -> None:
    op.create_table(
        "core_retention_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("archive_after_years", sa.Integer(), nullable=False),
        sa.Column("destroy_after_years", sa.Integer(), nullable=False),
        sa.Column("minor_until_age", sa.Integer(), nullable=False),
        sa.Column("invoice_years", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _clinic("core_retention_rule"),
        sa.PrimaryKeyConstraint("id", name="pk_core_retention_rule"),
        sa.UniqueConstraint("clinic_id", name="uq_core_retention_rule_clinic_id"),
    )
    op.create_index("ix_core_retention_rule_clinic_id", "core_retention_rule", ["clinic_id"])
    op.create_table(
        "core_legal_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("placed_by", sa.Integer(), nullable=True),
        sa.Column("placed_at", UTCDateTime(), nullable=False),
        sa.Column("released_by", sa.Integer(), nullable=True),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        _clinic("core_legal_hold"),
        same_clinic("patient_id", "core_patient"),
        sa.ForeignKeyConstraint(["placed_by"], ["core_user.id"], name="fk_core_legal_hold_placed_by_core_user"),
        sa.ForeignKeyConstraint(["released_by"], ["core_user.id"], name="fk_core_legal_hold_released_by_core_user"),
        sa.PrimaryKeyConstraint("id", name="pk_core_legal_hold"),
    )
    op.create_index("ix_core_legal_hold_clinic_id", "core_legal_hold", ["clinic_id"])
    op.create_index("ix_core_legal_hold_patient_id", "core_legal_hold", ["patient_id"])
    op.create_table(
        "core_destruction_proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        _clinic("core_destruction_proposal"),
        same_clinic("patient_id", "core_patient"),
        sa.PrimaryKeyConstraint("id", name="pk_core_destruction_proposal"),
    )
    op.create_index("ix_core_destruction_proposal_clinic_id", "core_destruction_proposal", ["clinic_id"])
    op.create_index("ix_core_destruction_proposal_patient_id", "core_destruction_proposal", ["patient_id"])
    op.create_index("ix_core_destruction_proposal_clinic_status", "core_destruction_proposal", ["clinic_id", "status"])
    op.create_table(
        "core_destruction_register",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("destroyed_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("patients", sa.Integer(), nullable=False),
        _clinic("core_destruction_register"),
        sa.ForeignKeyConstraint(["confirmed_by"], ["core_user.id"],
                                name="fk_core_destruction_register_confirmed_by_core_user"),
        sa.PrimaryKeyConstraint("id", name="pk_core_destruction_register"),
    )
    op.create_index("ix_core_destruction_register_clinic_id", "core_destruction_register", ["clinic_id"])
    for table in TABLES:
        enable_clinic_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
