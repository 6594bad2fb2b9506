"""Billing: invoicing honoured sessions. `billing_note_line.session_ref` names the session an act
invoices, unique within the clinic (a session is never invoiced twice, whatever the code does);
`billing_note.session_group` keeps which patient's month or series a proposed draft gathers;
`billing_profile.session_grouping` is the practitioner's preference (session, month, series).
The SQLite immutability triggers are re-created so that they cover the new columns.

Revision ID: billing_0005
Revises: billing_0004
"""

import sqlalchemy as sa
from alembic import op

from carnet_billing.migrations.billing_0003_chain import refuse_updates_but_reseals

revision = "billing_0005"
down_revision = "billing_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("billing_note_line", sa.Column("session_ref", sa.String(length=64), nullable=True))
    op.create_index("uq_billing_note_line_session", "billing_note_line", ["clinic_id", "session_ref"], unique=True)
    op.add_column("billing_note", sa.Column("session_group", sa.String(length=48), nullable=True))
    op.add_column("billing_profile", sa.Column("session_grouping", sa.String(length=8), nullable=False,
                                               server_default="session"))
    if op.get_bind().dialect.name == "sqlite":  # PostgreSQL's guards compare whole rows already
        refuse_updates_but_reseals()


def downgrade() -> None:
    raise NotImplementedError("billing_0005 is not reversible: invoiced sessions are accounting records")
