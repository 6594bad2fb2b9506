"""telecare: answer templates (a practitioner's own or the clinic's for the secretariat; title and
text sealed with the clinic's key) and each practitioner's daily cap of new patient messages.

Revision ID: telecare_0005
Revises: telecare_0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, create_clinic_key, disable_clinic_rls, enable_clinic_rls

revision = "telecare_0005"
down_revision = "telecare_0004"
branch_labels = None
depends_on = None

T = "telecare_template"


def upgrade() -> None:
    op.create_table(
        T,
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.LargeBinary(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name=f"fk_{T}_clinic_id_core_clinic"),
        sa.ForeignKeyConstraint(["user_id"], ["core_user.id"], name=f"fk_{T}_user_id_core_user"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{T}"),
    )
    op.create_index(f"ix_{T}_clinic_id", T, ["clinic_id"])
    op.create_index(f"ix_{T}_user_id", T, ["user_id"])
    create_clinic_key(op, T)
    enable_clinic_rls(op, T)
    with op.batch_alter_table("telecare_profile") as batch:
        batch.add_column(sa.Column("daily_cap", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telecare_profile") as batch:
        batch.drop_column("daily_cap")
    disable_clinic_rls(op, T)
    op.drop_table(T)
