"""Scheduling: places, rooms, working hours, exceptions, school holidays, appointment types,
prescriptions, series, appointments (no double booking enforced by the database), feeds.

Revision ID: scheduling_0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime

revision = "scheduling_0001"
down_revision = None
branch_labels = ("scheduling",)
depends_on = ("core_0001", "core_identity_0001")

OCCUPYING = "status <> 'cancelled'"

SQLITE_TRIGGER = """
CREATE TRIGGER {name} BEFORE {event} ON scheduling_appointment
FOR EACH ROW WHEN NEW.status <> 'cancelled'
BEGIN
  SELECT RAISE(ABORT, 'scheduling_practitioner_overlap') WHERE EXISTS (
    SELECT 1 FROM scheduling_appointment a
    WHERE a.practitioner_id = NEW.practitioner_id AND a.status <> 'cancelled' {self_clause}
      AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at);
  SELECT RAISE(ABORT, 'scheduling_room_overlap') WHERE NEW.room_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM scheduling_appointment a
    WHERE a.room_id = NEW.room_id AND a.status <> 'cancelled' {self_clause}
      AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at);
END
"""


def _id(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


def _clinic(table: str) -> list:
    return [
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name=f"fk_{table}_clinic_id_core_clinic"),
    ]


def upgrade() -> None:
    op.create_table(
        "scheduling_place",
        _id("id"), *_clinic("scheduling_place"),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scheduling_place"),
    )
    op.create_table(
        "scheduling_room",
        _id("id"), *_clinic("scheduling_room"),
        sa.Column("place_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["place_id"], ["scheduling_place.id"], name="fk_scheduling_room_place_id_scheduling_place"),
        sa.PrimaryKeyConstraint("id", name="pk_scheduling_room"),
    )
    op.create_table(
        "scheduling_working_hours",
        _id("id"), *_clinic("scheduling_working_hours"),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("place_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"], name="fk_scheduling_working_hours_practitioner_id_core_user"),
        sa.ForeignKeyConstraint(["place_id"], ["scheduling_place.id"], name="fk_scheduling_working_hours_place_id_scheduling_place"),
        sa.ForeignKeyConstraint(["room_id"], ["scheduling_room.id"], name="fk_scheduling_working_hours_room_id_scheduling_room"),
        sa.PrimaryKeyConstraint("id", name="pk_scheduling_working_hours"),
    )
    op.create_table(
        "scheduling_exception",
        _id("id"), *_clinic("scheduling_exception"),
        sa.Column("practitioner_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"], name="fk_scheduling_exception_practitioner_id_core_user"),
        sa.PrimaryKeyConstraint("id", name="pk_scheduling_exception"),
    )
    op.create_table(
        "scheduling_school_holiday",
        _id("id"), *_clinic("scheduling_school_holiday"),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scheduling_school_holiday"),
    )
    op.create_table(
        "scheduling_appointment_type",
        _id("id"), *_clinic("scheduling_appointment_type"),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column("bookable_online", sa.Boolean(), nullable=False),
        sa.Column("reminders", sa.Boolean(), nullable=False),
        sa.Column("new_patients_allowed", sa.Boolean(), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scheduling_appointment_type"),
    )
    op.create_table(
        "scheduling_prescription",
        _id("id"), *_clinic("scheduling_prescription"),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("prescribed_on", sa.Date(), nullable=False),
        sa.Column("prescriber", sa.String(length=200), nullable=False),
        sa.Column("sessions_prescribed", sa.Integer(), nullable=False),
        sa.Column("acts", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"], name="fk_scheduling_prescription_practitioner_id_core_user"),
        sa.PrimaryKeyConstraint("id", name="pk_scheduling_prescription"),
    )
    op.create_table(
        "scheduling_series",
        _id("id"), *_clinic("scheduling_series"),
        sa.Column("prescription_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=500), nullable=False),
        sa.Column("sessions_target", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["prescription_id"], ["scheduling_prescription.id"], name="fk_scheduling_series_prescription_id_scheduling_prescription"),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"], name="fk_scheduling_series_practitioner_id_core_user"),
        sa.ForeignKeyConstraint(["type_id"], ["scheduling_appointment_type.id"], name="fk_scheduling_series_type_id_scheduling_appointment_type"),
        sa.ForeignKeyConstraint(["room_id"], ["scheduling_room.id"], name="fk_scheduling_series_room_id_scheduling_room"),
        sa.PrimaryKeyConstraint("id", name="pk_scheduling_series"),
    )
    op.create_table(
        "scheduling_appointment",
        _id("id"), *_clinic("scheduling_appointment"),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("place_id", sa.Integer(), nullable=True),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("series_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("cancel_reason", sa.String(length=300), nullable=True),
        sa.Column("status_changed_at", UTCDateTime(), nullable=True),
        sa.Column("notes", sa.LargeBinary(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name="ck_scheduling_appointment_time_order"),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"], name="fk_scheduling_appointment_practitioner_id_core_user"),
        sa.ForeignKeyConstraint(["type_id"], ["scheduling_appointment_type.id"], name="fk_scheduling_appointment_type_id_scheduling_appointment_type"),
        sa.ForeignKeyConstraint(["place_id"], ["scheduling_place.id"], name="fk_scheduling_appointment_place_id_scheduling_place"),
        sa.ForeignKeyConstraint(["room_id"], ["scheduling_room.id"], name="fk_scheduling_appointment_room_id_scheduling_room"),
        sa.ForeignKeyConstraint(["series_id"], ["scheduling_series.id"], name="fk_scheduling_appointment_series_id_scheduling_series"),
        sa.ForeignKeyConstraint(["created_by"], ["core_user.id"], name="fk_scheduling_appointment_created_by_core_user"),
        sa.PrimaryKeyConstraint("id", name="pk_scheduling_appointment"),
    )
    op.create_table(
        "scheduling_calendar_feed",
        _id("id"), *_clinic("scheduling_calendar_feed"),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("show_patient_names", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["practitioner_id"], ["core_user.id"], name="fk_scheduling_calendar_feed_practitioner_id_core_user"),
        sa.PrimaryKeyConstraint("id", name="pk_scheduling_calendar_feed"),
        sa.UniqueConstraint("token_hash", name="uq_scheduling_calendar_feed_token_hash"),
    )
    for table, column in [
        ("scheduling_place", "clinic_id"), ("scheduling_room", "clinic_id"), ("scheduling_room", "place_id"),
        ("scheduling_working_hours", "clinic_id"), ("scheduling_working_hours", "practitioner_id"),
        ("scheduling_exception", "clinic_id"), ("scheduling_exception", "practitioner_id"),
        ("scheduling_school_holiday", "clinic_id"), ("scheduling_appointment_type", "clinic_id"),
        ("scheduling_prescription", "clinic_id"), ("scheduling_prescription", "patient_id"),
        ("scheduling_series", "clinic_id"), ("scheduling_series", "prescription_id"),
        ("scheduling_series", "patient_id"), ("scheduling_appointment", "clinic_id"),
        ("scheduling_appointment", "series_id"), ("scheduling_calendar_feed", "clinic_id"),
        ("scheduling_calendar_feed", "practitioner_id"),
    ]:
        op.create_index(f"ix_{table}_{column}", table, [column])
    op.create_index("ix_scheduling_appointment_practitioner_start", "scheduling_appointment", ["practitioner_id", "starts_at"])
    op.create_index("ix_scheduling_appointment_room_start", "scheduling_appointment", ["room_id", "starts_at"])
    op.create_index("ix_scheduling_appointment_patient_start", "scheduling_appointment", ["patient_id", "starts_at"])
    # At most one billable, non-cancelled session per patient and clinic-local day.
    op.create_index(
        "uq_scheduling_appointment_billable_day", "scheduling_appointment", ["clinic_id", "patient_id", "local_day"],
        unique=True, sqlite_where=sa.text(f"billable AND {OCCUPYING}"),
        postgresql_where=sa.text(f"billable AND {OCCUPYING}"),
    )
    # No double booking of a practitioner or a room, enforced by the database.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE scheduling_appointment ADD CONSTRAINT xc_scheduling_appointment_practitioner "
            "EXCLUDE USING gist (practitioner_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
            f"WHERE ({OCCUPYING})"
        )
        op.execute(
            "ALTER TABLE scheduling_appointment ADD CONSTRAINT xc_scheduling_appointment_room "
            "EXCLUDE USING gist (room_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
            f"WHERE ({OCCUPYING} AND room_id IS NOT NULL)"
        )
    elif bind.dialect.name == "sqlite":
        op.execute(SQLITE_TRIGGER.format(name="scheduling_appointment_no_overlap_insert", event="INSERT", self_clause=""))
        op.execute(SQLITE_TRIGGER.format(
            name="scheduling_appointment_no_overlap_update",
            event="UPDATE OF starts_at, ends_at, practitioner_id, room_id, status", self_clause="AND a.id <> NEW.id",
        ))
    else:
        raise RuntimeError(f"scheduling needs PostgreSQL or SQLite, not {bind.dialect.name}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS scheduling_appointment_no_overlap_insert")
        op.execute("DROP TRIGGER IF EXISTS scheduling_appointment_no_overlap_update")
    for table in (
        "scheduling_calendar_feed", "scheduling_appointment", "scheduling_series", "scheduling_prescription",
        "scheduling_appointment_type", "scheduling_school_holiday", "scheduling_exception",
        "scheduling_working_hours", "scheduling_room", "scheduling_place",
    ):
        op.drop_table(table)
