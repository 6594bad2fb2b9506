"""Billing tables (prefix `billing_`), all owned by a clinic.

Money is stored as whole cents (integers) and handled as `Decimal` in the services (`money.py`):
never a float. An NGAP coefficient is stored in hundredths (`AMO 10.1` -> 1010).

What the database enforces itself (migration `billing_0001`, SQLite and PostgreSQL alike):

- an issued note or credit note is never updated or deleted, and its lines never change
  (triggers, like the audit tables'); a draft is free;
- a number series only moves forward one step at a time (no hand edit, no gap);
- a number is unique per practitioner and year;
- every reference stays within one clinic (same-clinic composite keys) and, on PostgreSQL, rows
  are visible to their clinic only (row-level security).

Issued documents are accounting records kept 10 years: their sealed texts (the patient's name, the
acts) are sealed with the clinic's key, not the patient's, so that a patient's erasure (which
destroys the patient's key) leaves the kept notes readable by the practice and still sealed.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field

from carnet_core.plugin_api import ClinicOwned, Sealed, UTCDateTime, clinic_key, same_clinic, utcnow

# Kinds and statuses (codes, never free text).
NOTE = "note"
CREDIT = "credit"
KINDS = (NOTE, CREDIT)
DRAFT = "draft"
ISSUED = "issued"
STATUSES = (DRAFT, ISSUED)

METROPOLE = "metropole"
OUTRE_MER = "outre_mer"
ZONES = (METROPOLE, OUTRE_MER)

NGAP = "ngap"
FREE = "free"
ACT_KINDS = (NGAP, FREE)

# How drafts are proposed from honoured sessions (the practitioner's preference, on the profile):
# one note per session, one per patient and month, or one per patient and treatment series.
PER_SESSION, PER_MONTH, PER_SERIES = "session", "month", "series"
GROUPINGS = (PER_SESSION, PER_MONTH, PER_SERIES)


class BillingProfile(ClinicOwned, table=True):
    """Who bills: one profile per practitioner of the clinic, in their own name."""

    __tablename__ = "billing_profile"
    __table_args__ = (sa.UniqueConstraint("clinic_id", "practitioner_id", name="uq_billing_profile_practitioner"),)

    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int = Field(foreign_key="core_user.id")
    name: str = Field(default="", max_length=120)
    profession: str = Field(default="", max_length=120)
    address: str = Field(default="", max_length=300)
    rpps: str = Field(default="", max_length=11)
    adeli: str = Field(default="", max_length=9)
    siret: str = Field(default="", max_length=14)
    conventionne: bool = Field(default=True)
    zone: str = Field(default=METROPOLE, max_length=16)
    footer: str = Field(default="", max_length=500)
    session_grouping: str = Field(default=PER_SESSION, max_length=8)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class KeyLetterValue(ClinicOwned, table=True):
    """A clinic's own dated value of an NGAP key letter in a zone (added by an owner): it adds to,
    or replaces on the same date, the values shipped in `data/ngap_key_letters.json`."""

    __tablename__ = "billing_key_letter_value"
    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "letter", "zone", "effective_from", name="uq_billing_key_letter_value"),
    )

    id: int | None = Field(default=None, primary_key=True)
    letter: str = Field(max_length=8)
    zone: str = Field(max_length=16)
    effective_from: date
    value_cents: int
    created_by: int | None = Field(default=None, foreign_key="core_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Act(ClinicOwned, table=True):
    """An act of the clinic's catalogue: an NGAP key letter × coefficient (its amount follows the
    dated value of the letter), or a free-tariff act at a set price (psychologues, bilans not
    reimbursed, non-conventionnés)."""

    __tablename__ = "billing_act"
    __table_args__ = (clinic_key("billing_act"),)

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=200)
    kind: str = Field(default=NGAP, max_length=8)
    letter: str | None = Field(default=None, max_length=8)
    coefficient_hundredths: int | None = Field(default=None)
    price_cents: int | None = Field(default=None)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TypeAct(ClinicOwned, table=True):
    """The act a practitioner last invoiced for an appointment type of the agenda (its name, as
    scheduling publishes it): the batch page proposes it for that type's next sessions. Names a
    type and an act of the clinic's catalogue, never a patient."""

    __tablename__ = "billing_type_act"
    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "practitioner_id", "type_name", name="uq_billing_type_act"),
        same_clinic("act_id", "billing_act", ondelete="CASCADE"),
    )

    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int = Field(foreign_key="core_user.id")
    type_name: str = Field(max_length=120)
    act_id: int
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NumberSeries(ClinicOwned, table=True):
    """The last number given in a practitioner's series of a year: notes and credit notes share
    it, so the series is continuous and chronological (taken under a row lock when issuing)."""

    __tablename__ = "billing_number_series"
    __table_args__ = (sa.UniqueConstraint("clinic_id", "practitioner_id", "year", name="uq_billing_number_series"),)

    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int = Field(foreign_key="core_user.id")
    year: int
    last_seq: int = Field(default=0)


class Note(ClinicOwned, table=True):
    """A note d'honoraires (kind "note") or a credit note cancelling one, fully or partly (kind
    "credit", `credit_of_id`). A draft has no number; issuing gives one and freezes the row."""

    __tablename__ = "billing_note"
    __table_args__ = (
        clinic_key("billing_note"),
        same_clinic("patient_id", "core_patient"),
        same_clinic("credit_of_id", "billing_note"),
        sa.UniqueConstraint("clinic_id", "practitioner_id", "year", "seq", name="uq_billing_note_number"),
        sa.Index("ix_billing_note_practitioner_status", "practitioner_id", "status"),
        sa.CheckConstraint("total_cents >= 0", name="total_positive"),
        sa.CheckConstraint(
            "(status = 'draft' AND number IS NULL AND seq IS NULL) OR "
            "(status = 'issued' AND number IS NOT NULL AND seq IS NOT NULL AND issued_on IS NOT NULL)",
            name="number_when_issued"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=NOTE, max_length=8)
    status: str = Field(default=DRAFT, max_length=8)
    practitioner_id: int = Field(foreign_key="core_user.id")
    patient_id: int = Field(index=True)
    credit_of_id: int | None = Field(default=None, index=True)
    number: str | None = Field(default=None, max_length=16)
    year: int | None = Field(default=None)
    seq: int | None = Field(default=None)
    issued_on: date | None = Field(default=None)
    issued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    total_cents: int = Field(default=0)
    # the patient objects to their name on the note: none is printed
    name_withheld: bool = Field(default=False)
    # the patient's name as printed, taken when issuing (sealed with the clinic's key, see above)
    patient_name: bytes | None = Field(default=None, sa_type=Sealed)
    # the practitioner's mentions as printed (JSON of the billing profile), taken when issuing
    issuer: str | None = Field(default=None, max_length=2000)
    # the practitioner's hash chain of issued documents (services/chain.py): the previous
    # document's hash and this one's, over its canonical content
    prev_hash: str | None = Field(default=None, max_length=64)
    chain_hash: str | None = Field(default=None, max_length=64)
    # drafts proposed from sessions: the group they gather ("month:<patient>:2026-03", …), so the
    # next batch adds that patient's later sessions of the month (or series) to the same draft
    session_group: str | None = Field(default=None, max_length=48)
    created_by: int | None = Field(default=None, foreign_key="core_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NoteLine(ClinicOwned, table=True):
    """One act of a note: its date and place, its code and label (sealed: they say what the
    patient is treated for), the key letter's value in force on the act's date, the amount."""

    __tablename__ = "billing_note_line"
    __table_args__ = (
        same_clinic("note_id", "billing_note", ondelete="CASCADE"),
        # a session is invoiced once: the database refuses a second line for it in the clinic
        sa.Index("uq_billing_note_line_session", "clinic_id", "session_ref", unique=True),
        sa.CheckConstraint("amount_cents >= 0", name="amount_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    note_id: int = Field(index=True)
    position: int = Field(default=0)
    act_day: date
    code: bytes | None = Field(default=None, sa_type=Sealed)  # e.g. "AMO 10.1"; sealed text
    label: bytes | None = Field(default=None, sa_type=Sealed)  # e.g. "Séance de rééducation"; sealed text
    place: bytes | None = Field(default=None, sa_type=Sealed)  # where the act took place; sealed text
    coefficient_hundredths: int | None = Field(default=None)
    unit_cents: int = Field(default=0)  # the key letter's value on act_day, or the free act's price
    quantity: int = Field(default=1)
    amount_cents: int = Field(default=0)
    # the honoured session this act invoices ("scheduling.appointment:<id>"), from scheduling's
    # `scheduling_honoured_sessions` hook; None for an act typed by hand
    session_ref: str | None = Field(default=None, max_length=64)


# Payments: who paid (the patient, the Assurance Maladie's part, a complémentaire's) and how.
PAYERS = ("patient", "amo", "amc")
METHODS = ("card", "cash", "cheque", "transfer")


class Payment(ClinicOwned, table=True):
    """A payment received for an issued note, partial or whole. An accounting record: never
    updated or deleted (triggers of `billing_0002`)."""

    __tablename__ = "billing_payment"
    __table_args__ = (
        same_clinic("note_id", "billing_note"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    note_id: int = Field(index=True)
    paid_on: date
    method: str = Field(max_length=8)
    payer: str = Field(default="patient", max_length=8)
    amount_cents: int
    created_by: int | None = Field(default=None, foreign_key="core_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- documents and accounting exports (billing_0004) ---------------------------------------------

DOCUMENT_PDF = "pdf"  # a note or credit note as PDF/A-3b
DOCUMENT_FACTURX = "facturx"  # a business invoice as Factur-X (PDF/A-3 with its CII XML)


class Document(ClinicOwned, table=True):
    """The PDF of an issued note or credit note, rendered once by the worker (`billing.render_note`)
    and kept sealed with the clinic's key (it prints the patient's name and acts; an accounting
    record kept 10 years, readable after the patient's erasure like the note itself). No digest of
    the clear PDF is kept in clear: rendering is deterministic, so a clear hash would let whoever
    reads the database confirm a guessed name (the rest of the note is in clear)."""

    __tablename__ = "billing_document"
    __table_args__ = (
        same_clinic("note_id", "billing_note"),
        sa.UniqueConstraint("clinic_id", "note_id", "kind", name="uq_billing_document_note"),
    )

    id: int | None = Field(default=None, primary_key=True)
    note_id: int = Field(index=True)
    kind: str = Field(default=DOCUMENT_PDF, max_length=8)
    body: bytes | None = Field(default=None, sa_type=Sealed)  # the PDF, sealed (seal_bytes)
    size: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# Export kinds: the receipts journal (CSV, PDF) and the FEC.
JOURNAL_CSV, JOURNAL_PDF, FEC = "journal_csv", "journal_pdf", "fec"
EXPORT_KINDS = (JOURNAL_CSV, JOURNAL_PDF, FEC)
EXPORT_PENDING, EXPORT_RUNNING, EXPORT_READY, EXPORT_FAILED, EXPORT_EXPIRED = (
    "pending", "running", "ready", "failed", "expired")


class Export(ClinicOwned, table=True):
    """An accounting export of one practitioner's period, built by the worker (`billing.build_export`)
    into a file under the data folder, with its progress; downloadable until `expires_at`."""

    __tablename__ = "billing_export"
    __table_args__ = (sa.Index("ix_billing_export_practitioner", "practitioner_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int = Field(foreign_key="core_user.id")
    kind: str = Field(max_length=16)
    period_start: date
    period_end: date
    status: str = Field(default=EXPORT_PENDING, max_length=8)
    done: int = Field(default=0)  # rows written so far
    total: int = Field(default=0)  # rows to write
    file_name: str | None = Field(default=None, max_length=64)  # the name the download gets
    stored_as: str | None = Field(default=None, max_length=64)  # the random file name on disk
    size: int = Field(default=0)
    sha256: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=200)
    created_by: int | None = Field(default=None, foreign_key="core_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# Unpaid follow-up: the clinic's schedule (days after issue) and each step's record.
PLANNED, SENT, SKIPPED, STOPPED, NO_EMAIL = "planned", "sent", "skipped", "stopped", "no_email"
FOLLOWUP_STATUSES = (PLANNED, SENT, SKIPPED, STOPPED, NO_EMAIL)


class FollowupSchedule(ClinicOwned, table=True):
    """The clinic's follow-up of unpaid notes: e-mails to the patient so many days after issue
    ("15,30": J+15 and J+30); empty, none (the default: an owner switches it on)."""

    __tablename__ = "billing_followup_schedule"
    __table_args__ = (sa.UniqueConstraint("clinic_id", name="uq_billing_followup_schedule_clinic"),)

    id: int | None = Field(default=None, primary_key=True)
    days: str = Field(default="", max_length=40)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Followup(ClinicOwned, table=True):
    """One step of a note's follow-up (`step`: days after issue). Unique per note and step: the
    database itself keeps a step from being planned, so sent, twice."""

    __tablename__ = "billing_followup"
    __table_args__ = (
        same_clinic("note_id", "billing_note"),
        sa.UniqueConstraint("clinic_id", "note_id", "step", name="uq_billing_followup_step"),
    )

    id: int | None = Field(default=None, primary_key=True)
    note_id: int = Field(index=True)
    step: int
    status: str = Field(default=PLANNED, max_length=10)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Attestation(ClinicOwned, table=True):
    """A patient's yearly payment attestation as a PDF/A-3b (billing_0008): asked for on its page,
    rendered by the worker (`billing.render_attestation`), kept sealed with the patient's key (it
    prints their name and what they paid a health practitioner) and downloadable by whoever asked
    for it, or an owner, until `expires_at`; then its body is wiped. `practitioner_id` is the
    scope the asker sees: one practitioner's notes, or every practitioner's (None: owners and
    secretaries). `issued_on` is the day printed on it (the clinic's day when asked)."""

    __tablename__ = "billing_attestation"
    __sealed_subject__ = "patient_id"
    __table_args__ = (
        same_clinic("patient_id", "core_patient"),
        sa.Index("ix_billing_attestation_patient", "patient_id", "year"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int
    year: int
    issued_on: date
    practitioner_id: int | None = Field(default=None, foreign_key="core_user.id")
    requested_by: int | None = Field(default=None, foreign_key="core_user.id")
    status: str = Field(default=EXPORT_PENDING, max_length=8)
    body: bytes | None = Field(default=None, sa_type=Sealed)  # the PDF, base64 text sealed (seal)
    size: int = Field(default=0)
    error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
