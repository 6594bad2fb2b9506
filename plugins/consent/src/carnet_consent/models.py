"""Consent's tables (prefix `consent_`), all owned by a clinic, every reference a same-clinic key.

- `consent_template`: a clinic's form (its working draft: title, Markdown body, named clauses,
  who signs for a minor). Clinic content, not patient data.
- `consent_version`: each publication of a template, immutable (database triggers refuse UPDATE
  and DELETE) with the SHA-256 of its canonical content; a signature points at the exact version.
- `consent_request`: a form sent to a patient (status pending, complete, cancelled).
- `consent_signer`: who must sign a request (the patient, or one holder of parental authority
  recorded in core), with the patient link they received.
- `consent_signature`: the evidence of one signature, immutable: version hash, sealed clause
  answers and sealed evidence (typed name, channel, code check, address, user agent), the position
  of its audit record in core's chain.
- `consent_decision`: the ledger "patient P allows purpose X" (accepted, refused, withdrawn),
  append-only (triggers refuse UPDATE and DELETE): a withdrawal adds a row, history never goes.
- `consent_scan`: the scan of a consent given on paper (a PDF, sealed with the patient's key).
- `consent_setting`: the clinic owner's choices for the module (one row; none: the defaults).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from carnet_core.plugin_api import ClinicOwned, Sealed, UTCDateTime, clinic_key, same_clinic, utcnow

SIGNERS = ("one", "both")  # for a minor: one holder of parental authority, or each of them
REQUEST_STATUSES = ("pending", "complete", "cancelled")
SIGNER_STATUSES = ("pending", "signed", "cancelled")
SOURCES = ("signature", "withdrawal_link", "staff")


class Template(ClinicOwned, table=True):
    __tablename__ = "consent_template"
    __table_args__ = (clinic_key("consent_template"), sa.UniqueConstraint("clinic_id", "key"))

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=40)  # short code, unique in the clinic (consent_to_care, telesoin, …)
    title: str = Field(max_length=200)
    body: str = Field(default="")  # Markdown (rendered with markdown-it-py, sanitised with nh3)
    clauses: str = Field(default="[]")  # JSON [{"key": "telesoin", "text": "…"}]
    signers: str = Field(default="one", max_length=8)
    archived: bool = Field(default=False)
    current_version_id: int | None = Field(default=None)  # the version sent now (None: never published)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Version(ClinicOwned, table=True):
    __tablename__ = "consent_version"
    __table_args__ = (clinic_key("consent_version"), same_clinic("template_id", "consent_template"))

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(index=True)
    number: int
    title: str = Field(max_length=200)
    body: str
    clauses: str  # JSON, as published
    signers: str = Field(max_length=8)
    content_hash: str = Field(max_length=64)  # SHA-256 of the canonical JSON of the four above
    published_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_by: int | None = Field(default=None, foreign_key="core_user.id")


class Request(ClinicOwned, table=True):
    __tablename__ = "consent_request"
    __table_args__ = (
        clinic_key("consent_request"), same_clinic("patient_id", "core_patient"),
        same_clinic("version_id", "consent_version"), same_clinic("template_id", "consent_template"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(index=True)
    template_id: int = Field(index=True)
    version_id: int  # moves to a newer version while nobody has signed yet
    rule: str = Field(max_length=8)  # "patient", "one" or "both"
    status: str = Field(default="pending", max_length=12)
    created_by: int | None = Field(default=None, foreign_key="core_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Signer(ClinicOwned, table=True):
    __tablename__ = "consent_signer"
    __sealed_subject__ = "patient_id"
    __table_args__ = (
        clinic_key("consent_signer"), same_clinic("request_id", "consent_request"),
        same_clinic("patient_id", "core_patient"),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(index=True)
    patient_id: int = Field(index=True)
    role: str = Field(max_length=12)  # "patient" or "guardian"
    guardian_id: int | None = Field(default=None)  # core's guardian row (its id; the registry holds it)
    relation: str | None = Field(default=None, max_length=16)  # mother, father, guardian, other
    name: bytes | None = Field(default=None, sa_type=Sealed)  # the signer's name as recorded
    email: bytes | None = Field(default=None, sa_type=Sealed)  # where the link and code went
    phone: bytes | None = Field(default=None, sa_type=Sealed)  # where the SMS link and its code went (if any)
    link_id: int | None = Field(default=None)  # core_patient_link of the e-mailed signing link
    sms_link_id: int | None = Field(default=None)  # core_patient_link of the signing link sent by SMS
    status: str = Field(default="pending", max_length=12)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    signed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Signature(ClinicOwned, table=True):
    __tablename__ = "consent_signature"
    __sealed_subject__ = "patient_id"
    __table_args__ = (
        clinic_key("consent_signature"), same_clinic("request_id", "consent_request"),
        same_clinic("signer_id", "consent_signer"), same_clinic("version_id", "consent_version"),
        same_clinic("patient_id", "core_patient"),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(index=True)
    signer_id: int = Field(index=True)
    patient_id: int = Field(index=True)
    version_id: int
    version_hash: str = Field(max_length=64)
    answers: bytes | None = Field(default=None, sa_type=Sealed)  # JSON {clause: true/false}
    evidence: bytes | None = Field(default=None, sa_type=Sealed)  # JSON: name typed, channel, code, address, agent
    # "email" / "sms": the link came through that channel and its code went to the same; "paper": a
    # signed sheet recorded by staff (its scan in consent_scan); "tablet": signed in the cabinet, on a
    # kiosk link staff opened
    channel: str = Field(max_length=12)
    # when the signer's identity was confirmed: the e-mailed code verified ("email"); the staff
    # member recording the sheet, or handing over the tablet, vouching for it ("paper", "tablet")
    code_verified_at: datetime = Field(sa_type=UTCDateTime)
    signed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    audit_seq: int | None = Field(default=None)  # position of the signature's record in core's audit chain


class Decision(ClinicOwned, table=True):
    __tablename__ = "consent_decision"
    __table_args__ = (
        clinic_key("consent_decision"), same_clinic("patient_id", "core_patient"),
        same_clinic("signature_id", "consent_signature"),
        sa.Index("ix_consent_decision_patient_purpose", "clinic_id", "patient_id", "purpose", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(index=True)
    purpose: str = Field(max_length=40)  # a clause key (carnet_core PURPOSES, or the clinic's own)
    allowed: bool
    source: str = Field(max_length=20)  # signature, withdrawal_link, staff
    signature_id: int | None = Field(default=None)
    version_id: int | None = Field(default=None)
    actor: str = Field(max_length=64)  # who recorded it: user:<id>, patient_link:<id>
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SigningKey(ClinicOwned, table=True):
    """The clinic's key pair that signs consent PDFs (PAdES): an ECDSA P-256 private key sealed
    with the clinic's data key (core encryption, so rotation rewraps it and the clinic's erasure
    shreds it), and its self-signed X.509 certificate in clear (public by nature: every signed
    PDF carries it). The newest row signs; older ones still verify the PDFs they signed."""

    __tablename__ = "consent_signing_key"
    __table_args__ = (clinic_key("consent_signing_key"),)

    id: int | None = Field(default=None, primary_key=True)
    certificate: str  # PEM of the self-signed certificate (public)
    fingerprint: str = Field(max_length=64, index=True)  # SHA-256 of the certificate's DER
    private_key: bytes | None = Field(default=None, sa_type=Sealed)  # PKCS#8 DER, base64, sealed
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    not_after: datetime = Field(sa_type=UTCDateTime)


class Document(ClinicOwned, table=True):
    """The signed PDF of a completed request: the form as signed, an evidence page, the clinic's
    PAdES signature. Body sealed with the patient's key (it prints names and answers; erasure
    shreds it). `sha256` is of the signed file: it carries a fresh ECDSA signature, so unlike a
    deterministic rendering its digest confirms nothing guessed about the patient; it lets staff
    find the request a PDF handed back to them belongs to."""

    __tablename__ = "consent_document"
    __sealed_subject__ = "patient_id"
    __table_args__ = (
        clinic_key("consent_document"), same_clinic("request_id", "consent_request"),
        same_clinic("patient_id", "core_patient"), same_clinic("key_id", "consent_signing_key"),
        sa.UniqueConstraint("clinic_id", "request_id", name="uq_consent_document_request"),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(index=True)
    patient_id: int = Field(index=True)
    key_id: int
    sha256: str = Field(max_length=64, index=True)
    size: int = Field(default=0)
    body: bytes | None = Field(default=None, sa_type=Sealed)  # the signed PDF, base64, sealed
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


RIGHTS_KINDS = ("access", "rectification", "erasure", "objection", "portability", "restriction")
RIGHTS_REQUESTERS = ("patient", "parent", "guardian", "representative")
RIGHTS_CHECKS = ("in_person", "id_document", "known_address", "signed_link")
RIGHTS_STATUSES = ("open", "answered", "refused")


class RightsRequest(ClinicOwned, table=True):
    """A patient's RGPD request in the clinic's register: what was asked, by whom, how their
    identity was checked, the legal deadline (and its extension with a reason), the decision with
    its reason, who handled it, and for an access or portability request the export delivered
    through an expiring single-use link with a one-time code (sealed with the patient's key)."""

    __tablename__ = "consent_rights_request"
    __sealed_subject__ = "patient_id"
    __table_args__ = (
        clinic_key("consent_rights_request"), same_clinic("patient_id", "core_patient"),
        sa.Index("ix_consent_rights_request_open", "clinic_id", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(index=True)
    kind: str = Field(max_length=16)  # RIGHTS_KINDS
    requester: str = Field(max_length=16)  # RIGHTS_REQUESTERS
    identity_check: str = Field(max_length=16)  # RIGHTS_CHECKS
    details: bytes | None = Field(default=None, sa_type=Sealed)  # what the person asks, in their words
    old_data: bool = Field(default=False)  # access to data older than 5 years: 2 months, not 8 days
    received_at: datetime = Field(sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)  # the legal deadline (after any extension)
    extended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    extension_reason: bytes | None = Field(default=None, sa_type=Sealed)
    status: str = Field(default="open", max_length=12)  # RIGHTS_STATUSES
    decision_reason: bytes | None = Field(default=None, sa_type=Sealed)
    handled_by: int | None = Field(default=None, foreign_key="core_user.id")
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    export: bytes | None = Field(default=None, sa_type=Sealed)  # JSON of core's patient export
    export_link_id: int | None = Field(default=None)  # core_patient_link that delivers it
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the link e-mailed
    downloaded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: int | None = Field(default=None, foreign_key="core_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Setting(ClinicOwned, table=True):
    """The clinic owner's choices for the module, one row per clinic (no row: the defaults).
    `accesses_view`: patients may see who looked at their file through their consent links
    (on by default, and in the demo). `sms_links`: signing links (and their codes) also go by SMS
    to a signer with a phone, where SMS can be sent (off by default). `reminder_every_days` and
    `reminder_count`: an unsigned form is reminded every so many days after it was sent, so many
    times (0: never)."""

    __tablename__ = "consent_setting"
    __table_args__ = (sa.UniqueConstraint("clinic_id", name="uq_consent_setting_clinic"),)

    id: int | None = Field(default=None, primary_key=True)
    accesses_view: bool = Field(default=True)
    sms_links: bool = Field(default=False)
    reminder_every_days: int = Field(default=3)
    reminder_count: int = Field(default=2)
    updated_by: int | None = Field(default=None, foreign_key="core_user.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Scan(ClinicOwned, table=True):
    """The scan of a consent given on paper: a PDF (its type decided from the content), sealed with
    the patient's key (erasure shreds it), with its SHA-256 printed in the signature's evidence."""

    __tablename__ = "consent_scan"
    __sealed_subject__ = "patient_id"
    __table_args__ = (
        clinic_key("consent_scan"), same_clinic("request_id", "consent_request"),
        same_clinic("patient_id", "core_patient"),
        sa.UniqueConstraint("clinic_id", "request_id", name="uq_consent_scan_request"),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(index=True)
    patient_id: int = Field(index=True)
    sha256: str = Field(max_length=64)
    size: int
    body: bytes | None = Field(default=None, sa_type=Sealed)  # the PDF, base64, sealed
    created_by: int | None = Field(default=None, foreign_key="core_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
