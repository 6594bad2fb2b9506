"""Patients: search by birth date — a blind index of the ISO birth date on core_patient (the
clinic's keyed HMAC, like the e-mail's and the phone's). Migrations hold no keys: the live
patients with a birth date are marked not indexed (`prefixes_indexed` false), and `carnet init`'s
back-fill right after the migrations (`patients.prefixes.backfill`: batches, resumable, safe to run
again) writes their index with their name prefixes.

Revision ID: core_patients_0006
Revises: core_patients_0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_patients_0006"
down_revision = "core_patients_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_date_bidx", sa.LargeBinary(length=16), nullable=True))
    op.create_index("ix_core_patient_clinic_birth_date", "core_patient", ["clinic_id", "birth_date_bidx"])
    patient = sa.table("core_patient", sa.column("birth_date", sa.LargeBinary), sa.column("erased_at", sa.DateTime),
                       sa.column("prefixes_indexed", sa.Boolean))
    op.execute(patient.update().where(patient.c.birth_date.is_not(None), patient.c.erased_at.is_(None))
               .values(prefixes_indexed=False))


def downgrade() -> None:
    op.drop_index("ix_core_patient_clinic_birth_date", table_name="core_patient")
    with op.batch_alter_table("core_patient", schema=None) as batch_op:
        batch_op.drop_column("birth_date_bidx")
