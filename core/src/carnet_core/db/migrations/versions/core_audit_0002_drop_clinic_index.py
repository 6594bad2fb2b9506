"""Audit: drop `ix_core_audit_clinic_id`, which the unique `(clinic_id, seq)` index already serves
(every lookup by clinic alone uses that index's first column), and which each appended record paid
for (about 7 % of an audit insert).

Revision ID: core_audit_0002
Revises: core_audit_0001
"""

from __future__ import annotations

from alembic import op

revision = "core_audit_0002"
down_revision = "core_audit_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_core_audit_clinic_id", table_name="core_audit")


def downgrade() -> None:
    op.create_index("ix_core_audit_clinic_id", "core_audit", ["clinic_id"])
