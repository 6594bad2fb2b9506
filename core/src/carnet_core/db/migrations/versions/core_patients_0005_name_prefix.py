"""Patients: search by the first letters of a name on sealed names — blind indexes of name
prefixes (core_patient_name_prefix) and, on core_patient, whether a patient's prefixes are
indexed. Existing patients are not yet (`prefixes_indexed` false): migrations hold no keys, so
the back-fill is `carnet init`'s step right after the migrations (`patients.prefixes.backfill`:
batches, resumable, safe to run again).

Revision ID: core_patients_0005
Revises: core_patients_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carnet_core.db.schema import enable_clinic_rls, same_clinic

revision = "core_patients_0005"
down_revision = "core_patients_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prefixes_indexed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "core_patient_name_prefix",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.LargeBinary(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["core_clinic.id"], name="fk_core_patient_name_prefix_clinic_id_core_clinic"
        ),
        same_clinic("patient_id", "core_patient", name="fk_core_patient_name_prefix_patient_id_core_patient"),
        sa.PrimaryKeyConstraint("id", name="pk_core_patient_name_prefix"),
    )
    op.create_index("ix_core_patient_name_prefix_clinic_id", "core_patient_name_prefix", ["clinic_id"])
    op.create_index("ix_core_patient_name_prefix_patient_id", "core_patient_name_prefix", ["patient_id"])
    op.create_index("ix_core_patient_name_prefix_clinic_token", "core_patient_name_prefix", ["clinic_id", "token"])
    enable_clinic_rls(op, "core_patient_name_prefix")


def downgrade() -> None:
    op.drop_table("core_patient_name_prefix")
    with op.batch_alter_table("core_patient", schema=None) as batch_op:
        batch_op.drop_column("prefixes_indexed")
