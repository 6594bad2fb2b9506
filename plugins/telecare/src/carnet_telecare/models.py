"""Telecare's tables (prefix `telecare_`), all owned by a clinic, every reference a same-clinic key,
every patient text sealed with the patient's key (crypto-shredded with the patient).

- `telecare_conversation`: a thread between the practice and a patient (or their parents), clinical
  (practitioners only) or administrative (the secretariat may triage it), open or closed; the
  subject is sealed; `awaiting_since` is when the oldest patient message still unanswered came in.
- `telecare_message`: one message, body sealed, written by staff or by the patient through their
  link; `read_at` is when the other side first opened it (read receipts).
- `telecare_access`: who a notification went to (the patient or a parent: address sealed, channel
  e-mail or SMS) and the patient link it carried; the one-time code goes to the same address. Without
  a conversation: the link a patient asked for to start one (services/starting.py).
- `telecare_setting`: the clinic's choices (patients may start a conversation; off by default).
- `telecare_attachment`: a file of a message: its name and content sealed, its type as detected
  from the content (never from the name), its size and its antivirus status.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from carnet_core.plugin_api import ClinicOwned, Sealed, UTCDateTime, clinic_key, same_clinic, utcnow

KINDS = ("clinical", "administrative")
STATUSES = ("open", "closed")
AUTHORS = ("staff", "patient", "auto")
SCANS = ("not_scanned", "clean")  # services/antivirus.py
SUBJECT_LIMIT = 120
BODY_LIMIT = 5000


class Conversation(ClinicOwned, table=True):
    __tablename__ = "telecare_conversation"
    __sealed_subject__ = "patient_id"
    __table_args__ = (clinic_key("telecare_conversation"), same_clinic("patient_id", "core_patient"))

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(index=True)
    practitioner_id: int | None = Field(default=None, foreign_key="core_user.id")  # whom it is with
    kind: str = Field(default="clinical", max_length=16)
    status: str = Field(default="open", max_length=8)
    subject: bytes | None = Field(default=None, sa_type=Sealed)
    created_by: int | None = Field(default=None, foreign_key="core_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_message_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    awaiting_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Message(ClinicOwned, table=True):
    __tablename__ = "telecare_message"
    __sealed_subject__ = "patient_id"
    __table_args__ = (clinic_key("telecare_message"), same_clinic("conversation_id", "telecare_conversation"),
                      same_clinic("patient_id", "core_patient"))

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(index=True)
    patient_id: int = Field(index=True)
    author: str = Field(max_length=8)  # staff, patient
    author_user_id: int | None = Field(default=None, foreign_key="core_user.id")
    link_id: int | None = Field(default=None)  # the patient link it was written through
    body: bytes | None = Field(default=None, sa_type=Sealed)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Attachment(ClinicOwned, table=True):
    __tablename__ = "telecare_attachment"
    __sealed_subject__ = "patient_id"
    __table_args__ = (clinic_key("telecare_attachment"), same_clinic("message_id", "telecare_message"),
                      same_clinic("patient_id", "core_patient"))

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(index=True)
    patient_id: int = Field(index=True)
    filename: bytes | None = Field(default=None, sa_type=Sealed)
    media_type: str = Field(max_length=100)  # detected from the content
    size: int
    scan: str = Field(default="not_scanned", max_length=12)
    content: bytes | None = Field(default=None, sa_type=Sealed)  # base64 of the file, sealed
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Access(ClinicOwned, table=True):
    __tablename__ = "telecare_access"
    __sealed_subject__ = "patient_id"
    __table_args__ = (clinic_key("telecare_access"), same_clinic("conversation_id", "telecare_conversation"),
                      same_clinic("patient_id", "core_patient"))

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(default=None, index=True)  # None: a patient's link to start one
    patient_id: int = Field(index=True)
    link_id: int | None = Field(default=None, index=True)  # core_patient_link it carried
    channel: str = Field(max_length=8)  # email, sms
    address: bytes | None = Field(default=None, sa_type=Sealed)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


SESSION_STATUSES = ("scheduled", "waiting", "started", "ended", "cancelled")


class Session(ClinicOwned, table=True):
    """A télésoin session: planned by the practitioner, joined by the patient through a link valid
    around its time, admitted from the waiting room; its events (joined, admitted, ended) and the
    practitioner's report are sealed."""

    __tablename__ = "telecare_session"
    __sealed_subject__ = "patient_id"
    __table_args__ = (clinic_key("telecare_session"), same_clinic("patient_id", "core_patient"),
                      sa.UniqueConstraint("clinic_id", "appointment_id", name="uq_telecare_session_appointment"))

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(index=True)
    practitioner_id: int = Field(foreign_key="core_user.id")
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="scheduled", max_length=12)
    joined_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    admitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    events: bytes | None = Field(default=None, sa_type=Sealed)  # JSON [{"at", "event", "by"}]
    report: bytes | None = Field(default=None, sa_type=Sealed)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    seat: str | None = Field(default=None, max_length=64)  # SHA-256 of the admitted browser's seat cookie
    appointment_id: int | None = Field(default=None)  # scheduling's appointment it was created from
    act: bytes | None = Field(default=None, sa_type=Sealed)  # the act declared (acts.py): it tells the care


class Profile(ClinicOwned, table=True):
    """A practitioner's messaging hours (clinic-local) and the automatic reply sent outside them.
    The reply is the practice's own text (no patient data)."""

    __tablename__ = "telecare_profile"
    __table_args__ = (clinic_key("telecare_profile"), sa.UniqueConstraint("clinic_id", "user_id"))

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="core_user.id")
    days: str = Field(default="0,1,2,3,4", max_length=20)  # ISO weekdays, Monday = 0
    opens: str = Field(default="09:00", max_length=5)
    closes: str = Field(default="18:00", max_length=5)
    auto_reply: str = Field(default="", max_length=500)
    profession: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})  # acts.PROFESSIONS
    daily_cap: int | None = Field(default=None)  # new patient messages a day in their inbox; None: no cap


class Template(ClinicOwned, table=True):
    """A frequent answer: a practitioner's own (`user_id`), or the clinic's for the secretariat
    (`user_id` None). Title and text are sealed with the clinic's key: a practitioner's usual answer
    names care ("the swallowing exercises", "after the operation") even when no patient is named."""

    __tablename__ = "telecare_template"
    __table_args__ = (clinic_key("telecare_template"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="core_user.id", index=True)
    title: bytes | None = Field(default=None, sa_type=Sealed)
    body: bytes | None = Field(default=None, sa_type=Sealed)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Setting(ClinicOwned, table=True):
    """The clinic's choices for messaging, changed by owners: whether patients in care may start a
    conversation from the practice's public page (off until an owner allows it)."""

    __tablename__ = "telecare_setting"
    __table_args__ = (sa.UniqueConstraint("clinic_id", name="uq_telecare_setting_clinic"),)

    id: int | None = Field(default=None, primary_key=True)
    patients_may_start: bool = Field(default=False)
    updated_by: int | None = Field(default=None, foreign_key="core_user.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
