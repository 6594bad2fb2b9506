"""Patients: a clinic key on core_patient (unique `(clinic_id, id)`) for same-clinic references to
point at, and guardians reference their patient within their own clinic (composite foreign key;
on SQLite the table is rebuilt with its rows).

Revision ID: core_patients_0002
Revises: core_patients_0001
"""

from __future__ import annotations

from alembic import op

from carnet_core.db.schema import create_clinic_key, drop_clinic_key, reference_any_clinic, reference_same_clinic

revision = "core_patients_0002"
down_revision = "core_patients_0001"
branch_labels = None
depends_on = None

GUARDIAN = {"patient_id": "core_patient"}


def upgrade() -> None:
    create_clinic_key(op, "core_patient")
    reference_same_clinic(op, "core_patient_guardian", GUARDIAN)


def downgrade() -> None:
    reference_any_clinic(op, "core_patient_guardian", GUARDIAN)
    drop_clinic_key(op, "core_patient")
