"""telecare: the clinic's messaging settings (patients may start a conversation: off by default)
and notification accesses without a conversation (the link a patient asked for to start one).

Revision ID: telecare_0006
Revises: telecare_0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, disable_clinic_rls, enable_clinic_rls

revision = "telecare_0006"
down_revision = "telecare_0005"
branch_labels = None
depends_on = None

T = "telecare_setting"


def upgrade() -> None:
    op.create_table(
        T,
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patients_may_start", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name=f"fk_{T}_clinic_id_core_clinic"),
        sa.ForeignKeyConstraint(["updated_by"], ["core_user.id"], name=f"fk_{T}_updated_by_core_user"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{T}"),
        sa.UniqueConstraint("clinic_id", name="uq_telecare_setting_clinic"),
    )
    op.create_index(f"ix_{T}_clinic_id", T, ["clinic_id"])
    enable_clinic_rls(op, T)
    with op.batch_alter_table("telecare_access") as batch:
        batch.alter_column("conversation_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM telecare_access WHERE conversation_id IS NULL")
    with op.batch_alter_table("telecare_access") as batch:
        batch.alter_column("conversation_id", existing_type=sa.Integer(), nullable=False)
    disable_clinic_rls(op, T)
    op.drop_table(T)
