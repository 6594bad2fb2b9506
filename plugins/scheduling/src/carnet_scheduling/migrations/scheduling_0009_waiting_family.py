"""Scheduling: a waiting-list file keeps the patient's birth date and the holders of parental
authority the family gave (both sealed), for the registry when an offer is accepted.

Revision ID: scheduling_0009
Revises: scheduling_0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import Sealed

revision = "scheduling_0009"
down_revision = "scheduling_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scheduling_waiting_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_date", Sealed(), nullable=True))
        batch_op.add_column(sa.Column("guardians", Sealed(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scheduling_waiting_entry", schema=None) as batch_op:
        batch_op.drop_column("guardians")
        batch_op.drop_column("birth_date")
