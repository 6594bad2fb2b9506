"""Whole-platform contract (issue #14, item 3): no free text about a patient is stored in clear.

Every text column of a clinic-owned table that references a patient — a `patient_id` column, or
foreign keys leading to `core_patient` (an appointment's reminder, a waiting-list offer) — is
either a `Sealed` column or listed below with the reason it holds no health data. A plugin that
adds such a column in clear fails here until it seals it or explains why it need not."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from carnet_core.db.migrate import import_models
from carnet_core.encryption.types import Sealed

# (table, column): why the value holds no health data. Codes from a fixed list, never free text.
NO_HEALTH_DATA = {
    # the audit trail names who did what to which record: ids, codes and hashes, never data
    ("core_audit", "action"): "action code (read, update, cancel, …)",
    ("core_audit", "actor_kind"): "code: user, token, job, system, patient_link, anonymous",
    ("core_audit", "actor_id"): "id of the user, token, job or link",
    ("core_audit", "address"): "client IP address (no health data; kept for the access trail)",
    ("core_audit", "details"): "JSON of ids and counts (audit.record: never patient data, 2 KB at most)",
    ("core_audit", "hash"): "SHA-256 of the record (hash chain)",
    ("core_audit", "prev_hash"): "SHA-256 of the previous record",
    ("core_audit", "outcome"): "code: success, failure, denied",
    ("core_audit", "request_id"): "random request id",
    ("core_audit", "resource_id"): "id of the record acted on",
    ("core_audit", "resource_type"): "table or resource name",
    ("core_patient_link", "purpose"): "code naming what the link allows (scheduling.manage, …)",
    ("core_patient_link", "subject_type"): "name of the kind of record the link is for",
    ("core_patient_link", "token_hash"): "SHA-256 of the link's token",
    ("core_patient", "identity_status"): "INS identity status code: provisional, retrieved, validated, qualified",
    ("core_patient_guardian", "relation"): "code: mother, father, guardian, other",
    ("core_legal_hold", "reason"): "code from retention's HOLD_REASONS (litigation, …), chosen in a list",
    ("core_destruction_proposal", "rule"): "code of the retention rule that made the proposal",
    ("core_destruction_proposal", "status"): "code: proposed, destroyed, withdrawn",
    ("scheduling_series", "rule"): "JSON of weekdays and times of the series' weekly slots",
    ("scheduling_appointment", "status"): "status code: booked, honoured, absent, excused, cancelled",
    ("scheduling_appointment", "source"): "code: staff, series, online, api",
    ("scheduling_reminder", "channel"): "code: email, sms",
    ("scheduling_reminder", "status"): "delivery status code",
    ("scheduling_reminder", "detail"): "why a reminder was cancelled or failed, written by the code (no patient data)",
    ("scheduling_waiting_entry", "availability"): "JSON of weekdays and time ranges the family is free",
    ("scheduling_waiting_entry", "status"): "code: active, booked, removed",
    ("scheduling_waiting_entry", "removed_reason"): "code chosen by the code (silent, booked, …), not typed",
    ("scheduling_offer", "status"): "code: offered, accepted, taken, expired, declined",
    ("scheduling_waiting_listing", "state"): "triage code: new, accepted, refused",
    ("billing_note", "kind"): "code: note, credit",
    ("billing_note", "session_group"): "ids of the patient's month or series a proposed draft gathers (month:<id>:2026-03)",
    ("billing_note_line", "session_ref"): "id of the invoiced session (scheduling.appointment:<id>)",
    ("billing_followup", "status"): "code: planned, sent, skipped, stopped, no_email",
    ("billing_note", "status"): "code: draft, issued",
    ("billing_note", "number"): "the note's number in its series (2026-000123)",
    ("billing_note", "issuer"): "JSON of the practitioner's billing mentions (name, address, RPPS, SIRET)",
    ("billing_note", "prev_hash"): "SHA-256 of the previous issued document (hash chain)",
    ("billing_note", "chain_hash"): "SHA-256 of the document's canonical content (hash chain)",
    ("billing_payment", "method"): "code: card, cash, cheque, transfer",
    ("billing_document", "kind"): "code: pdf, facturx",
    ("billing_payment", "payer"): "code: patient, amo, amc",
    ("billing_attestation", "status"): "code: pending, ready, failed",
    ("billing_attestation", "error"): "code chosen by the code (pdf_unavailable), not typed",
    ("telecare_access", "channel"): "code: email, sms",
    ("telecare_attachment", "media_type"): "file type detected from the content, from a fixed list (application/pdf, image/png…)",
    ("telecare_attachment", "scan"): "code: not_scanned, clean",
    ("telecare_conversation", "kind"): "code: clinical, administrative",
    ("telecare_conversation", "status"): "code: open, closed",
    ("telecare_message", "author"): "code: staff, patient",
    ("telecare_session", "status"): "code: scheduled, waiting, started, ended, cancelled",
    ("telecare_session", "seat"): "SHA-256 of a random cookie given to the browser that entered the waiting room",
    ("consent_decision", "actor"): "who recorded it: user:<id>, patient_link:<id>, signature:<id>",
    ("consent_decision", "purpose"): "clause key, a code of the clinic's forms ([a-z0-9_], e.g. sms_reminders)",
    ("consent_decision", "source"): "code: signature, withdrawal_link, staff",
    ("consent_request", "rule"): "code: patient, one, both",
    ("consent_request", "status"): "code: pending, complete, cancelled",
    ("consent_signature", "channel"): "code: email",
    ("consent_signature", "version_hash"): "SHA-256 of the form version signed (clinic text, not patient data)",
    ("consent_signer", "relation"): "code: mother, father, guardian, other",
    ("consent_signer", "role"): "code: patient, guardian",
    ("consent_signer", "status"): "code: pending, signed, cancelled",
    ("consent_rights_request", "kind"): "code: access, rectification, erasure, objection, portability, restriction",
    ("consent_rights_request", "requester"): "code: patient, parent, guardian, representative",
    ("consent_rights_request", "identity_check"): "code: in_person, id_document, known_address, signed_link",
    ("consent_rights_request", "status"): "code: open, answered, refused",
    ("consent_document", "sha256"): "SHA-256 of a signed PDF (carries a fresh ECDSA signature: confirms no guess)",
    ("consent_scan", "sha256"): "SHA-256 of a scanned paper form (a scan's pixels are unique: confirms no guess), "
                                "printed in the signature's evidence",
}
# Free text that must stay sealed (issue #14: these were in clear).
MUST_BE_SEALED = {
    ("scheduling_appointment", "cancel_reason"), ("scheduling_appointment", "notes"),
    ("scheduling_prescription", "prescriber"), ("scheduling_prescription", "acts"),
    ("billing_note", "patient_name"), ("billing_note_line", "code"), ("billing_note_line", "label"),
    ("billing_note_line", "place"),
}


def _reaches_patient(table: sa.Table, tables: dict[str, sa.Table], seen: frozenset[str] = frozenset()) -> bool:
    if table.name == "core_patient" or "patient_id" in table.c:
        return True
    for fk in table.foreign_keys:
        target = fk.target_fullname.split(".")[0]
        if target not in seen and target != table.name and target in tables and _reaches_patient(
                tables[target], tables, seen | {table.name}):
            return True
    return False


def _is_text(column: sa.Column) -> bool:
    kind = column.type.impl_instance if isinstance(column.type, sa.TypeDecorator) else column.type
    return isinstance(kind, (sa.String, sa.Text, sa.JSON))


def patient_text_columns(host) -> dict[tuple[str, str], sa.Column]:
    """Text and sealed columns of clinic-owned tables that reference a patient, in loaded models."""
    import_models(host)
    tables = dict(SQLModel.metadata.tables)
    found = {}
    for table in tables.values():
        if "clinic_id" not in table.c or not _reaches_patient(table, tables):
            continue
        for column in table.columns:
            if isinstance(column.type, Sealed) or _is_text(column):
                found[(table.name, column.name)] = column
    return found


def test_every_patient_text_column_is_sealed_or_explained(plugin_host):
    columns = patient_text_columns(plugin_host)
    in_clear = sorted(key for key, column in columns.items()
                      if not isinstance(column.type, Sealed) and key not in NO_HEALTH_DATA)
    assert in_clear == [], (
        "text columns about a patient stored in clear: seal them (carnet_core.encryption.Sealed, "
        f"docs/DEVELOPING.md) or add them to NO_HEALTH_DATA with the reason: {in_clear}")


def test_the_allow_list_names_real_text_columns_only(plugin_host):
    columns = patient_text_columns(plugin_host)
    stale = sorted(key for key in NO_HEALTH_DATA
                   if key not in columns or isinstance(columns[key].type, Sealed))
    assert stale == [], f"remove these from NO_HEALTH_DATA (gone, or sealed now): {stale}"
    assert all(reason.strip() for reason in NO_HEALTH_DATA.values())


def test_cancellation_reasons_prescriptions_and_notes_are_sealed(plugin_host):
    columns = patient_text_columns(plugin_host)
    assert {key for key in MUST_BE_SEALED if isinstance(columns[key].type, Sealed)} == MUST_BE_SEALED


def test_the_contract_notices_a_new_clear_column(plugin_host):
    # a table like a plugin's "consent" one with a free-text column in clear is caught
    metadata_table = sa.Table(
        "example_consent_note", SQLModel.metadata,
        sa.Column("id", sa.Integer, primary_key=True), sa.Column("clinic_id", sa.Integer),
        sa.Column("patient_id", sa.Integer), sa.Column("remark", sa.String(200)),
    )
    try:
        columns = patient_text_columns(plugin_host)
        assert ("example_consent_note", "remark") in columns
        assert not isinstance(columns[("example_consent_note", "remark")].type, Sealed)
    finally:
        SQLModel.metadata.remove(metadata_table)
