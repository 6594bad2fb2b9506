"""Scheduling: every reference between clinic rows stays within one clinic, enforced by the
database. The tables others point at get a clinic key (unique `(clinic_id, id)`); each reference
to a patient or to another scheduling row becomes a composite foreign key
`(clinic_id, x_id) -> parent(clinic_id, id)` under the name the plain key had. On SQLite the
tables are rebuilt with their rows (batch mode), so the no-double-booking triggers are created
again afterwards.

Revision ID: scheduling_0005
Revises: scheduling_0004
"""

from __future__ import annotations

from alembic import op

from carnet_core.plugin_api import create_clinic_key, drop_clinic_key, reference_any_clinic, reference_same_clinic

revision = "scheduling_0005"
down_revision = "scheduling_0004"
branch_labels = None
depends_on = ("core_patients_0002",)

PARENTS = (
    "scheduling_place", "scheduling_room", "scheduling_appointment_type", "scheduling_prescription",
    "scheduling_series", "scheduling_appointment", "scheduling_reminder_rule", "scheduling_waiting_entry",
)
# Parents before children: a rebuilt table's rows are checked against its parents' keys.
REFERENCES = {
    "scheduling_room": {"place_id": "scheduling_place"},
    "scheduling_working_hours": {"place_id": "scheduling_place", "room_id": "scheduling_room"},
    "scheduling_prescription": {"patient_id": "core_patient"},
    "scheduling_series": {
        "prescription_id": "scheduling_prescription", "patient_id": "core_patient",
        "type_id": "scheduling_appointment_type", "room_id": "scheduling_room",
    },
    "scheduling_appointment": {
        "patient_id": "core_patient", "type_id": "scheduling_appointment_type", "place_id": "scheduling_place",
        "room_id": "scheduling_room", "series_id": "scheduling_series",
    },
    "scheduling_reminder": {"appointment_id": "scheduling_appointment", "rule_id": "scheduling_reminder_rule"},
    "scheduling_online_booking": {"appointment_id": "scheduling_appointment"},
    "scheduling_waiting_entry": {
        "patient_id": "core_patient", "earlier_than_appointment_id": "scheduling_appointment",
    },
    "scheduling_waiting_listing": {"entry_id": "scheduling_waiting_entry"},
    "scheduling_offer": {
        "entry_id": "scheduling_waiting_entry", "freed_appointment_id": "scheduling_appointment",
        "booked_appointment_id": "scheduling_appointment", "appointment_type_id": "scheduling_appointment_type",
        "room_id": "scheduling_room",
    },
}


def _sqlite_triggers() -> None:
    from importlib import import_module

    import_module("carnet_scheduling.migrations.scheduling_0003_patient_fk")._sqlite_triggers()


def upgrade() -> None:
    for table in PARENTS:
        create_clinic_key(op, table)
    for table, references in REFERENCES.items():
        reference_same_clinic(op, table, references)
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()


def downgrade() -> None:
    for table, references in reversed(REFERENCES.items()):
        reference_any_clinic(op, table, references)
    for table in PARENTS:
        drop_clinic_key(op, table)
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()
