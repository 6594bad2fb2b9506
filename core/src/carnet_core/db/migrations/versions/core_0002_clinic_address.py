"""Core: the clinic's postal address (street, postcode, city), shown on every patient page; empty
for existing clinics until an owner fills it in.

Revision ID: core_0002
Revises: core_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0002"
down_revision = "core_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_clinic", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("postcode", sa.String(length=5), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("city", sa.String(length=100), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("core_clinic", schema=None) as batch_op:
        batch_op.drop_column("city")
        batch_op.drop_column("postcode")
        batch_op.drop_column("address")
