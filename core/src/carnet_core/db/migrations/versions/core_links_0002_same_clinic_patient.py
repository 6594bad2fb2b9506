"""Links: a link's patient is a patient of the link's clinic (composite foreign key on
`(clinic_id, patient_id)`; on SQLite the table is rebuilt with its rows).

Revision ID: core_links_0002
Revises: core_links_0001
"""

from __future__ import annotations

from alembic import op

from carnet_core.db.schema import reference_name, reference_same_clinic

revision = "core_links_0002"
down_revision = "core_links_0001"
branch_labels = None
depends_on = ("core_patients_0002",)

LINK = {"patient_id": "core_patient"}


def upgrade() -> None:
    reference_same_clinic(op, "core_patient_link", LINK)


def downgrade() -> None:
    with op.batch_alter_table("core_patient_link") as batch:
        batch.drop_constraint(reference_name("core_patient_link", "patient_id", "core_patient"), type_="foreignkey")
