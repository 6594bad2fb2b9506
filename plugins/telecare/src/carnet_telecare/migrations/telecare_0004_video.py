"""telecare: the video room's seat (the browser admitted), the appointment a session comes from,
the act declared for it, and each practitioner's profession (whose excluded acts apply).

Revision ID: telecare_0004
Revises: telecare_0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "telecare_0004"
down_revision = "telecare_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("telecare_session") as batch:
        batch.add_column(sa.Column("seat", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("appointment_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("act", sa.LargeBinary(), nullable=True))  # sealed
        batch.create_unique_constraint("uq_telecare_session_appointment", ["clinic_id", "appointment_id"])
    with op.batch_alter_table("telecare_profile") as batch:
        batch.add_column(sa.Column("profession", sa.String(length=32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("telecare_profile") as batch:
        batch.drop_column("profession")
    with op.batch_alter_table("telecare_session") as batch:
        batch.drop_constraint("uq_telecare_session_appointment", type_="unique")
        batch.drop_column("act")
        batch.drop_column("appointment_id")
        batch.drop_column("seat")
