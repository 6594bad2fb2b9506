"""consent: SMS as a second channel for signing links and codes, and the clinic's reminder
interval. `consent_signer` gains the phone the SMS link and code went to (sealed with the
patient's key) and the id of that link; `consent_setting` gains the owner's SMS switch and the
reminder interval (days between two reminders, how many).

Revision ID: consent_0006
Revises: consent_0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "consent_0006"
down_revision = "consent_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_signer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("sms_link_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("consent_setting", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sms_links", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("reminder_every_days", sa.Integer(), nullable=False, server_default="3"))
        batch_op.add_column(sa.Column("reminder_count", sa.Integer(), nullable=False, server_default="2"))


def downgrade() -> None:
    with op.batch_alter_table("consent_setting", schema=None) as batch_op:
        batch_op.drop_column("reminder_count")
        batch_op.drop_column("reminder_every_days")
        batch_op.drop_column("sms_links")
    with op.batch_alter_table("consent_signer", schema=None) as batch_op:
        batch_op.drop_column("sms_link_id")
        batch_op.drop_column("phone")
