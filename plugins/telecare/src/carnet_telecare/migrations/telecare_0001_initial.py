"""telecare: conversations, messages and attachments (subjects, bodies, file names and contents
sealed with the patient's key), same-clinic keys everywhere, row-level security on PostgreSQL.

Revision ID: telecare_0001
Revises:
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, create_clinic_key, disable_clinic_rls, enable_clinic_rls, same_clinic

revision = "telecare_0001"
down_revision = None
branch_labels = ("telecare",)
depends_on = ("core_0001", "core_identity_0001", "core_patients_0002", "core_rls_0001")

TABLES = ("telecare_conversation", "telecare_message", "telecare_attachment", "telecare_access")


def _user(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["core_user.id"], name=f"fk_{table}_{column}_core_user")


def _clinic(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name=f"fk_{table}_clinic_id_core_clinic")


def upgrade() -> None:
    t = "telecare_conversation"
    op.create_table(
        t,
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_message_at", UTCDateTime(), nullable=False),
        sa.Column("awaiting_since", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        _clinic(t), _user(t, "practitioner_id"), _user(t, "created_by"),
        same_clinic("patient_id", "core_patient"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
    )
    op.create_index(f"ix_{t}_clinic_id", t, ["clinic_id"])
    op.create_index(f"ix_{t}_patient_id", t, ["patient_id"])
    create_clinic_key(op, t)

    t = "telecare_message"
    op.create_table(
        t,
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=8), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        _clinic(t), _user(t, "author_user_id"),
        same_clinic("conversation_id", "telecare_conversation"),
        same_clinic("patient_id", "core_patient"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
    )
    op.create_index(f"ix_{t}_clinic_id", t, ["clinic_id"])
    op.create_index(f"ix_{t}_conversation_id", t, ["conversation_id"])
    op.create_index(f"ix_{t}_patient_id", t, ["patient_id"])
    create_clinic_key(op, t)

    t = "telecare_attachment"
    op.create_table(
        t,
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.LargeBinary(), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("scan", sa.String(length=12), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _clinic(t),
        same_clinic("message_id", "telecare_message"),
        same_clinic("patient_id", "core_patient"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
    )
    op.create_index(f"ix_{t}_clinic_id", t, ["clinic_id"])
    op.create_index(f"ix_{t}_message_id", t, ["message_id"])
    op.create_index(f"ix_{t}_patient_id", t, ["patient_id"])
    create_clinic_key(op, t)

    t = "telecare_access"
    op.create_table(
        t,
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("address", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _clinic(t),
        same_clinic("conversation_id", "telecare_conversation"),
        same_clinic("patient_id", "core_patient"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
    )
    op.create_index(f"ix_{t}_clinic_id", t, ["clinic_id"])
    op.create_index(f"ix_{t}_conversation_id", t, ["conversation_id"])
    op.create_index(f"ix_{t}_patient_id", t, ["patient_id"])
    op.create_index(f"ix_{t}_link_id", t, ["link_id"])
    create_clinic_key(op, t)

    for table in TABLES:
        enable_clinic_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_clinic_rls(op, table)
        op.drop_table(table)
