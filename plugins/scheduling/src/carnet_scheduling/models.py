"""Scheduling tables (prefix `scheduling_`), all owned by a clinic.

Double booking is prevented by the database, not only by checks before insert: on PostgreSQL by
exclusion constraints over `tstzrange(starts_at, ends_at)` for the practitioner and for the room,
on SQLite by BEFORE INSERT/UPDATE triggers (SQLite serialises writers). Both are created by the
migration (`scheduling_0001`), which the drift test keeps honest for everything else.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Field

from carnet_core.plugin_api import ClinicOwned, Sealed, UTCDateTime, clinic_key, same_clinic, utcnow

MODALITIES = ("cabinet", "domicile", "telesoin")
PLACE_KINDS = MODALITIES
EXCEPTION_KINDS = ("holiday", "training", "closure", "other")
# Professions of the health and rehabilitation practices Carnet serves (codes stored; words shown).
PROFESSIONS = (
    "orthophoniste", "kinesitherapeute", "psychologue", "psychomotricien", "ergotherapeute", "orthoptiste",
    "dieteticien", "podologue", "sage_femme", "infirmier", "medecin", "autre",
)

# Appointment statuses. Everything but "cancelled" occupies its time slot.
BOOKED = "booked"
HONOURED = "honoured"
ABSENT = "absent"  # absent non excusé
EXCUSED = "excused"
CANCELLED = "cancelled"
STATUSES = (BOOKED, HONOURED, ABSENT, EXCUSED, CANCELLED)


class Place(ClinicOwned, table=True):
    """Where care happens: the cabinet (with rooms), home visits, or télésoin."""

    __tablename__ = "scheduling_place"
    __table_args__ = (clinic_key("scheduling_place"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    kind: str = Field(default="cabinet", max_length=16)
    address: str = Field(default="", max_length=300)
    active: bool = Field(default=True)


class Room(ClinicOwned, table=True):
    """A room of a place: a resource that cannot be double-booked either."""

    __tablename__ = "scheduling_room"
    __table_args__ = (clinic_key("scheduling_room"), same_clinic("place_id", "scheduling_place"))

    id: int | None = Field(default=None, primary_key=True)
    place_id: int = Field(index=True)
    name: str = Field(max_length=120)
    active: bool = Field(default=True)


class WorkingHours(ClinicOwned, table=True):
    """A weekly block of a practitioner's working hours at a place (wall-clock, clinic time zone)."""

    __tablename__ = "scheduling_working_hours"
    __table_args__ = (same_clinic("place_id", "scheduling_place"), same_clinic("room_id", "scheduling_room"))

    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int = Field(foreign_key="core_user.id", index=True)
    place_id: int
    room_id: int | None = Field(default=None)
    weekday: int = Field(ge=0, le=6)
    start_time: time
    end_time: time


class AvailabilityException(ClinicOwned, table=True):
    """Time off: a practitioner's holiday or training, or (practitioner NULL) a clinic closure."""

    __tablename__ = "scheduling_exception"

    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int | None = Field(default=None, foreign_key="core_user.id", index=True)
    kind: str = Field(default="holiday", max_length=16)
    label: str = Field(default="", max_length=200)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)


class SchoolHoliday(ClinicOwned, table=True):
    """School holiday periods entered as data (zone A/B/C differ); series may skip them."""

    __tablename__ = "scheduling_school_holiday"

    id: int | None = Field(default=None, primary_key=True)
    first_day: date
    last_day: date
    label: str = Field(default="", max_length=120)


class AppointmentType(ClinicOwned, table=True):
    """A "motif": what the appointment is for, how long, where, and its booking rules."""

    __tablename__ = "scheduling_appointment_type"
    __table_args__ = (clinic_key("scheduling_appointment_type"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    duration_minutes: int = Field(default=30)
    modality: str = Field(default="cabinet", max_length=16)
    colour: str = Field(default="#3b82f6", max_length=7)
    bookable_online: bool = Field(default=False)
    reminders: bool = Field(default=True)
    new_patients_allowed: bool = Field(default=True)
    billable: bool = Field(default=True)  # a care session (at most one billable per patient per day)
    active: bool = Field(default=True)
    # The profession whose practitioners offer this type (PROFESSIONS); NULL: every practitioner.
    profession: str | None = Field(default=None, max_length=40)


class CalendarSetting(ClinicOwned, table=True):
    """The clinic's calendar: its school-holiday zone (A, B or C; empty: none shown or skipped)."""

    __tablename__ = "scheduling_calendar_setting"
    __table_args__ = (sa.UniqueConstraint("clinic_id", name="uq_scheduling_calendar_setting_clinic"),)

    id: int | None = Field(default=None, primary_key=True)
    school_zone: str = Field(default="", max_length=8)


class PractitionerProfile(ClinicOwned, table=True):
    """What the agenda knows of a practitioner beyond core's account: their profession (shown on
    the public booking page; it decides which appointment types they offer)."""

    __tablename__ = "scheduling_practitioner_profile"
    __table_args__ = (sa.UniqueConstraint("clinic_id", "practitioner_id",
                                          name="uq_scheduling_practitioner_profile_practitioner"),)

    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int = Field(foreign_key="core_user.id", index=True)
    profession: str = Field(max_length=40)


class Prescription(ClinicOwned, table=True):
    """A medical prescription: the sessions it allows and the acts (e.g. "AMO 10.1"). Who
    prescribed and the acts say what the patient is treated for: sealed with the patient's key."""

    __tablename__ = "scheduling_prescription"
    __sealed_subject__ = "patient_id"
    __table_args__ = (clinic_key("scheduling_prescription"), same_clinic("patient_id", "core_patient"))

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(index=True)
    practitioner_id: int = Field(foreign_key="core_user.id")
    prescribed_on: date
    prescriber: bytes | None = Field(default=None, sa_type=Sealed)  # sealed text, 200 characters at most
    sessions_prescribed: int
    acts: bytes | None = Field(default=None, sa_type=Sealed)  # sealed text, 200 characters at most
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Series(ClinicOwned, table=True):
    """A treatment series: its weekly rule and target; its sessions are appointments."""

    __tablename__ = "scheduling_series"
    __table_args__ = (
        clinic_key("scheduling_series"),
        same_clinic("prescription_id", "scheduling_prescription"),
        same_clinic("patient_id", "core_patient"),
        same_clinic("type_id", "scheduling_appointment_type"),
        same_clinic("room_id", "scheduling_room"),
    )

    id: int | None = Field(default=None, primary_key=True)
    prescription_id: int | None = Field(default=None, index=True)
    patient_id: int = Field(index=True)
    practitioner_id: int = Field(foreign_key="core_user.id")
    # column "type_id": FK names must fit PostgreSQL's 63 characters
    appointment_type_id: int = Field(sa_column_kwargs={"name": "type_id"})
    room_id: int | None = Field(default=None)
    rule: str = Field(max_length=500)  # JSON: {"slots": [[weekday, "HH:MM"], ...], "every_weeks": n}
    sessions_target: int
    first_day: date
    closed: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Appointment(ClinicOwned, table=True):
    """One appointment. Times are UTC; `local_day` is the clinic-local date (one billable per day)."""

    __tablename__ = "scheduling_appointment"
    __sealed_subject__ = "patient_id"
    __table_args__ = (
        sa.Index("ix_scheduling_appointment_practitioner_start", "practitioner_id", "starts_at"),
        sa.Index("ix_scheduling_appointment_start", "starts_at"),
        # a clinic's booked future appointments (reminder planning), whatever the other clinics hold
        sa.Index("ix_scheduling_appointment_clinic_status_start", "clinic_id", "status", "starts_at"),
        sa.Index("ix_scheduling_appointment_room_start", "room_id", "starts_at"),
        sa.Index("ix_scheduling_appointment_patient_start", "patient_id", "starts_at"),
        sa.Index(
            "uq_scheduling_appointment_billable_day", "clinic_id", "patient_id", "local_day", unique=True,
            sqlite_where=sa.text("billable AND status <> 'cancelled'"),
            postgresql_where=sa.text("billable AND status <> 'cancelled'"),
        ),
        sa.CheckConstraint("ends_at > starts_at", name="time_order"),
        clinic_key("scheduling_appointment"),
        same_clinic("patient_id", "core_patient"),
        same_clinic("type_id", "scheduling_appointment_type"),
        same_clinic("place_id", "scheduling_place"),
        same_clinic("room_id", "scheduling_room"),
        same_clinic("series_id", "scheduling_series"),
    )

    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int = Field(foreign_key="core_user.id")
    patient_id: int
    # column "type_id": FK names must fit PostgreSQL's 63 characters
    appointment_type_id: int = Field(sa_column_kwargs={"name": "type_id"})
    place_id: int | None = Field(default=None)
    room_id: int | None = Field(default=None)
    series_id: int | None = Field(default=None, index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    local_day: date
    status: str = Field(default=BOOKED, max_length=16)
    billable: bool = Field(default=True)
    cancel_reason: bytes | None = Field(default=None, sa_type=Sealed)  # sealed text (staff's or patient's words)
    status_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    notes: bytes | None = Field(default=None, sa_type=Sealed)
    source: str = Field(default="staff", max_length=16)  # staff, series, online, api
    created_by: int | None = Field(default=None, foreign_key="core_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def occupies(self) -> bool:
        return self.status != CANCELLED


# An appointment lasts 12 hours at most (services.appointments.check_times), so whatever overlaps
# a window starts at most that long before it: bounding the start on both sides turns a search on
# the (…, starts_at) indexes into a range scan instead of a scan of the whole history before it.
MAX_LENGTH = timedelta(hours=12)


def overlapping_window(start: datetime, end: datetime) -> sa.ColumnElement[bool]:
    """Appointments overlapping [start, end)."""
    return sa.and_(Appointment.starts_at < end, Appointment.starts_at > start - MAX_LENGTH,
                   Appointment.ends_at > start)


class CalendarFeed(ClinicOwned, table=True):
    """A practitioner's private iCalendar feed: the secret token is stored hashed only."""

    __tablename__ = "scheduling_calendar_feed"

    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int = Field(foreign_key="core_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    show_patient_names: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# The patient-facing tables (reminders, online booking, waiting list, offers).
from carnet_scheduling.patient_models import (  # noqa: E402,F401
    Offer,
    OnlineBooking,
    Reminder,
    ReminderRule,
    ReminderSwitch,
    WaitingEntry,
    WaitingListing,
)
