"""Patients: registry with sealed fields and blind indexes, guardians, per-clinic sharing.

Revision ID: core_patients_0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.db.base import UTCDateTime

revision = "core_patients_0001"
down_revision = None
branch_labels = ("core_patients",)
depends_on = ("core_identity_0001", "encryption_0001")

SEALED = (
    "last_name", "first_name", "birth_date", "sex", "email", "phone", "address", "referring_physician",
    "notes", "ins_number", "birth_last_name", "birth_first_names", "birth_place_code",
)


def upgrade() -> None:
    op.create_table(
        "core_patient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.LargeBinary(), nullable=True) for name in SEALED),
        sa.Column("identity_status", sa.String(length=16), nullable=False),
        sa.Column("last_name_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("email_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("phone_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("practitioner_id", sa.Integer(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("erased_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_core_patient_clinic_id_core_clinic"),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"], name="fk_core_patient_practitioner_id_core_user"),
        sa.PrimaryKeyConstraint("id", name="pk_core_patient"),
    )
    op.create_index("ix_core_patient_clinic_id", "core_patient", ["clinic_id"])
    op.create_index("ix_core_patient_practitioner_id", "core_patient", ["practitioner_id"])
    op.create_index("ix_core_patient_clinic_last_name", "core_patient", ["clinic_id", "last_name_bidx"])
    op.create_index("ix_core_patient_clinic_email", "core_patient", ["clinic_id", "email_bidx"])
    op.create_index("ix_core_patient_clinic_phone", "core_patient", ["clinic_id", "phone_bidx"])
    op.create_table(
        "core_patient_guardian",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        *(sa.Column(name, sa.LargeBinary(), nullable=True) for name in ("last_name", "first_name", "email", "phone", "address")),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_core_patient_guardian_clinic_id_core_clinic"),
        sa.ForeignKeyConstraint(["patient_id"], ["core_patient.id"], name="fk_core_patient_guardian_patient_id_core_patient"),
        sa.PrimaryKeyConstraint("id", name="pk_core_patient_guardian"),
    )
    op.create_index("ix_core_patient_guardian_clinic_id", "core_patient_guardian", ["clinic_id"])
    op.create_index("ix_core_patient_guardian_patient_id", "core_patient_guardian", ["patient_id"])
    op.create_table(
        "core_patient_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("share_patients", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_core_patient_settings_clinic_id_core_clinic"),
        sa.PrimaryKeyConstraint("id", name="pk_core_patient_settings"),
        sa.UniqueConstraint("clinic_id", name="uq_core_patient_settings_clinic_id"),
    )
    op.create_index("ix_core_patient_settings_clinic_id", "core_patient_settings", ["clinic_id"])


def downgrade() -> None:
    op.drop_table("core_patient_settings")
    op.drop_table("core_patient_guardian")
    op.drop_table("core_patient")
