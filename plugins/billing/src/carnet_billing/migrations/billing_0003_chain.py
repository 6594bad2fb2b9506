"""Billing: the per-practitioner hash chain of issued documents (`prev_hash`, `chain_hash` on
billing_note), and immutability triggers that let core's key rotation re-seal the sealed columns
of issued notes and lines (`carnet keys rewrap` rewrites ciphertext only) while still refusing any
other change, on both databases.

Revision ID: billing_0003
Revises: billing_0002
"""

import sqlalchemy as sa
from alembic import op

from carnet_billing.migrations.billing_0001_initial import ISSUED_PARENT
from carnet_core.plugin_api import drop_refusals, refuse_changes

revision = "billing_0003"
down_revision = "billing_0002"
branch_labels = None
depends_on = None

NOTE_SEALED = ("patient_name",)
LINE_SEALED = ("code", "label", "place")


def upgrade() -> None:
    op.add_column("billing_note", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("billing_note", sa.Column("chain_hash", sa.String(length=64), nullable=True))
    refuse_updates_but_reseals()


def refuse_updates_but_reseals() -> None:
    """UPDATE of an issued note or line: refused unless it only re-seals its sealed columns (again
    after a migration adds a column: SQLite's triggers list the columns they compare)."""
    drop_refusals(op, "billing_note", "billing_note_issued", ("UPDATE",))
    refuse_changes(op, "billing_note", "billing_note_issued", events=("UPDATE",), when="OLD.status = 'issued'",
                   unless_only=NOTE_SEALED,
                   message="billing_note is issued: UPDATE refused (cancel it with a credit note)")
    drop_refusals(op, "billing_note_line", "billing_note_line_issued", ("UPDATE",))
    refuse_changes(op, "billing_note_line", "billing_note_line_issued", events=("UPDATE",),
                   when=ISSUED_PARENT.format(row="OLD") + " OR " + ISSUED_PARENT.format(row="NEW"),
                   unless_only=LINE_SEALED, message="billing_note_line of an issued note: UPDATE refused")


def downgrade() -> None:
    raise NotImplementedError("billing_0003 is not reversible: the hash chain of issued notes is kept")
