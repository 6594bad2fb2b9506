"""Patient registry tables: patients (sealed fields, blind indexes) and holders of parental authority."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from carnet_core.db.base import ClinicOwned, UTCDateTime, utcnow
from carnet_core.db.schema import clinic_key, same_clinic
from carnet_core.encryption.types import Sealed

SEXES = ("F", "M", "U")  # female, male, unknown/other (INS traits use F/M/U too)
RELATIONS = ("mother", "father", "guardian", "other")
IDENTITY_STATUSES = ("provisional", "retrieved", "validated", "qualified")  # INS referential

# Sealed fields and who may read them. "clinical" fields need core.patients.clinical.
ADMIN_FIELDS = (
    "last_name", "first_name", "birth_date", "sex", "email", "phone", "address",
    "referring_physician", "ins_number", "birth_last_name", "birth_first_names", "birth_place_code",
)
CLINICAL_FIELDS = ("notes",)
GUARDIAN_FIELDS = ("last_name", "first_name", "email", "phone", "address")


class Patient(ClinicOwned, SQLModel, table=True):
    """A patient of a clinic. Every personal field is sealed with the patient's own key."""

    __tablename__ = "core_patient"
    __sealed_subject__ = "id"
    __table_args__ = (
        clinic_key("core_patient"),  # other clinic rows point at (clinic_id, id): same clinic only
        sa.Index("ix_core_patient_clinic_last_name", "clinic_id", "last_name_bidx"),
        sa.Index("ix_core_patient_clinic_email", "clinic_id", "email_bidx"),
        sa.Index("ix_core_patient_clinic_phone", "clinic_id", "phone_bidx"),
        sa.Index("ix_core_patient_clinic_birth_date", "clinic_id", "birth_date_bidx"),
    )

    id: int | None = Field(default=None, primary_key=True)
    last_name: bytes | None = Field(default=None, sa_type=Sealed)  # nom utilisé
    first_name: bytes | None = Field(default=None, sa_type=Sealed)  # prénom utilisé
    birth_date: bytes | None = Field(default=None, sa_type=Sealed)  # ISO date
    sex: bytes | None = Field(default=None, sa_type=Sealed)
    email: bytes | None = Field(default=None, sa_type=Sealed)
    phone: bytes | None = Field(default=None, sa_type=Sealed)  # E.164
    address: bytes | None = Field(default=None, sa_type=Sealed)
    referring_physician: bytes | None = Field(default=None, sa_type=Sealed)
    notes: bytes | None = Field(default=None, sa_type=Sealed)
    # National identity (INS): the number and the birth traits it is tied to.
    ins_number: bytes | None = Field(default=None, sa_type=Sealed)
    birth_last_name: bytes | None = Field(default=None, sa_type=Sealed)
    birth_first_names: bytes | None = Field(default=None, sa_type=Sealed)
    birth_place_code: bytes | None = Field(default=None, sa_type=Sealed)  # INSEE code
    identity_status: str = Field(default="provisional", max_length=16)
    last_name_bidx: bytes | None = Field(default=None, sa_type=sa.LargeBinary(16))
    email_bidx: bytes | None = Field(default=None, sa_type=sa.LargeBinary(16))
    phone_bidx: bytes | None = Field(default=None, sa_type=sa.LargeBinary(16))
    # Search by birth date (staff type "23/04/2014"): the clinic's keyed HMAC of the ISO date, as
    # for the e-mail and phone (docs/DEVELOPING.md, "Searching sealed fields").
    birth_date_bidx: bytes | None = Field(default=None, sa_type=sa.LargeBinary(16))
    # Whether the search indexes written from opened values are up to date: the name prefixes in
    # core_patient_name_prefix and the birth date's index (set by every write of a name or a birth
    # date; patients registered before these searches are indexed by `carnet init`).
    prefixes_indexed: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    practitioner_id: int | None = Field(default=None, foreign_key="core_user.id", index=True)
    archived: bool = Field(default=False)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PatientGuardian(ClinicOwned, SQLModel, table=True):
    """A holder of parental authority (or legal guardian) of a minor patient."""

    __tablename__ = "core_patient_guardian"
    __sealed_subject__ = "patient_id"
    __table_args__ = (same_clinic("patient_id", "core_patient"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(index=True)
    relation: str = Field(max_length=16)
    last_name: bytes | None = Field(default=None, sa_type=Sealed)
    first_name: bytes | None = Field(default=None, sa_type=Sealed)
    email: bytes | None = Field(default=None, sa_type=Sealed)
    phone: bytes | None = Field(default=None, sa_type=Sealed)
    address: bytes | None = Field(default=None, sa_type=Sealed)
    # Whether reminders, links and consent requests may be sent to this holder (not a sealed fact:
    # it says nothing of the patient).
    may_receive_messages: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    # The holder the practice reaches first about the patient (the one who booked, gave the
    # e-mail the patient's messages go to): at most one per patient.
    main_contact: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PatientNamePrefix(ClinicOwned, SQLModel, table=True):
    """One blind index of a prefix of a patient's names, for search by the first letters ("Mar"
    finds MARTIN and Marie): keyed HMAC with the clinic's index key (`patients.prefixes`). Holds
    nothing readable; a patient's rows are written in token order and padded with random tokens
    to a multiple of PREFIX_ROWS, so neither the names' length nor which name a token comes from
    shows."""

    __tablename__ = "core_patient_name_prefix"
    __table_args__ = (
        same_clinic("patient_id", "core_patient"),
        sa.Index("ix_core_patient_name_prefix_clinic_token", "clinic_id", "token"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(index=True)
    token: bytes = Field(sa_type=sa.LargeBinary(16))


class PatientSettings(ClinicOwned, SQLModel, table=True):
    """Per-clinic registry settings: whether practitioners share all patients of the clinic."""

    __tablename__ = "core_patient_settings"
    __table_args__ = (sa.UniqueConstraint("clinic_id"),)

    id: int | None = Field(default=None, primary_key=True)
    share_patients: bool = Field(default=False)
