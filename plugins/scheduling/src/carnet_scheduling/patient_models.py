"""The patient-facing tables of scheduling: reminder rules and messages, online bookings awaiting
confirmation, the waiting list (one file, several practitioners' lists) and slot offers.

Imported by `models.py` so the metadata is complete; created by migration `scheduling_0002`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from carnet_core.plugin_api import ClinicOwned, Sealed, UTCDateTime, clinic_key, same_clinic, utcnow

CHANNELS = ("email", "sms")

# Reminder message states, shown to staff.
SCHEDULED = "scheduled"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"
REMINDER_STATES = (SCHEDULED, SENT, FAILED, CANCELLED)

OFF_SCOPES = ("practitioner", "appointment_type", "patient")


class ReminderRule(ClinicOwned, table=True):
    """A clinic's rule: send on `channel` this many minutes before each appointment."""

    __tablename__ = "scheduling_reminder_rule"
    __table_args__ = (clinic_key("scheduling_reminder_rule"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=8)
    minutes_before: int
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReminderSwitch(ClinicOwned, table=True):
    """Reminders switched off for a practitioner, an appointment type or a patient (opt-out),
    on one channel or (channel NULL) on all."""

    __tablename__ = "scheduling_reminder_switch"
    __table_args__ = (sa.Index("ix_scheduling_reminder_switch_scope", "clinic_id", "scope", "subject_id"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=24)
    subject_id: int
    channel: str | None = Field(default=None, max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Reminder(ClinicOwned, table=True):
    """One reminder message: exactly one per rule and appointment, with a visible status."""

    __tablename__ = "scheduling_reminder"
    __table_args__ = (
        sa.UniqueConstraint("appointment_id", "rule_id", name="uq_scheduling_reminder_appointment_rule"),
        sa.Index("ix_scheduling_reminder_status_due", "status", "due_at"),
        same_clinic("appointment_id", "scheduling_appointment"),
        same_clinic("rule_id", "scheduling_reminder_rule"),
    )

    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(index=True)
    rule_id: int
    channel: str = Field(max_length=8)
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default=SCHEDULED, max_length=16)
    attempts: int = Field(default=0)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    detail: str | None = Field(default=None, max_length=200)  # why cancelled / failed (no patient data)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OnlineBooking(ClinicOwned, table=True):
    """An appointment booked from the public page: it holds its slot until confirmed by the
    patient (code or link), and is released when confirmation does not come in time."""

    __tablename__ = "scheduling_online_booking"
    __table_args__ = (same_clinic("appointment_id", "scheduling_appointment"),)

    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(unique=True)
    link_id: int | None = Field(default=None)  # the confirmation link (core_patient_link)
    confirm_by: datetime = Field(sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WaitingEntry(ClinicOwned, table=True):
    """A waiting-list file from the public intake form (or an existing patient asking for an
    earlier slot). Everything the patient wrote is sealed."""

    __tablename__ = "scheduling_waiting_entry"
    __table_args__ = (
        clinic_key("scheduling_waiting_entry"),
        same_clinic("patient_id", "core_patient"),
        same_clinic("earlier_than_appointment_id", "scheduling_appointment"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int | None = Field(default=None, index=True)
    earlier_than_appointment_id: int | None = Field(default=None)
    full_name: bytes | None = Field(default=None, sa_type=Sealed)
    email: bytes | None = Field(default=None, sa_type=Sealed)
    phone: bytes | None = Field(default=None, sa_type=Sealed)
    situation: bytes | None = Field(default=None, sa_type=Sealed)
    prescription: bytes | None = Field(default=None, sa_type=Sealed)
    age_years: bytes | None = Field(default=None, sa_type=Sealed)
    # The patient's birth date (YYYY-MM-DD) and the holders of parental authority the family gave
    # (JSON list of {relation, last_name, first_name, email, phone, may_receive_messages}), both
    # handed to core's registry when an offer is accepted.
    birth_date: bytes | None = Field(default=None, sa_type=Sealed)
    guardians: bytes | None = Field(default=None, sa_type=Sealed)
    # Weekly availability: JSON list of [weekday, "HH:MM", "HH:MM"] (not identifying on its own).
    availability: str = Field(default="[]", max_length=2000)
    urgent: bool = Field(default=False)
    status: str = Field(default="active", max_length=16)  # active, booked, removed
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_confirmed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reconfirm_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    removed_reason: str | None = Field(default=None, max_length=32)


class WaitingListing(ClinicOwned, table=True):
    """A file on one practitioner's list, with that practitioner's triage."""

    __tablename__ = "scheduling_waiting_listing"
    __table_args__ = (
        sa.UniqueConstraint("entry_id", "practitioner_id", name="uq_scheduling_waiting_listing"),
        same_clinic("entry_id", "scheduling_waiting_entry"),
    )

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(index=True)
    practitioner_id: int = Field(foreign_key="core_user.id", index=True)
    state: str = Field(default="new", max_length=16)  # new, accepted, refused
    priority: int = Field(default=0)  # set by the practitioner; higher first
    refusal_message: bytes | None = Field(default=None, sa_type=Sealed)
    triaged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Offer(ClinicOwned, table=True):
    """A freed slot offered to a waiting file: the first to accept gets it (the appointment's
    no-double-booking constraint decides), the others' offers lapse."""

    __tablename__ = "scheduling_offer"
    __table_args__ = (
        sa.Index("ix_scheduling_offer_slot", "clinic_id", "practitioner_id", "starts_at"),
        same_clinic("entry_id", "scheduling_waiting_entry"),
        same_clinic("freed_appointment_id", "scheduling_appointment"),
        same_clinic("booked_appointment_id", "scheduling_appointment"),
        same_clinic("appointment_type_id", "scheduling_appointment_type"),
        same_clinic("room_id", "scheduling_room"),
    )

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(index=True)
    freed_appointment_id: int | None = Field(default=None)
    practitioner_id: int = Field(foreign_key="core_user.id")
    appointment_type_id: int
    room_id: int | None = Field(default=None)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="offered", max_length=16)  # offered, accepted, taken, expired, declined
    link_id: int | None = Field(default=None)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    booked_appointment_id: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
