"""Billing's part of the clinic export (core's `export_clinic_data`): every row (numbers, series
and hash chain as stored), each note's PDF as a file, and the notes as a CSV a person can read;
and its import (`import_clinic_data`): every row back under its id, each PDF from its file."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from carnet_core.plugin_api import insert_records, table_records


def models() -> list[Any]:
    """Every billing table, parents before the rows that point at them."""
    from carnet_billing import models as m

    return [m.BillingProfile, m.KeyLetterValue, m.Act, m.TypeAct, m.NumberSeries, m.Note, m.NoteLine, m.Payment,
            m.Document, m.Export, m.FollowupSchedule, m.Followup, m.Attestation]


def clinic_records(db: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    from carnet_billing.models import Attestation, Document, Note

    for model in models():
        entity = model.__tablename__.removeprefix("billing_")
        # a document's PDF goes as a file of its own (below), not inside a JSON line; an
        # attestation's PDF is a day's copy of the payments, exported as rows: its row only
        for record in table_records(db, model, exclude=("body",) if model in (Document, Attestation) else ()):
            yield entity, record
    numbers = {r["id"]: r["number"] for r in table_records(db, Note) if r["number"]}
    for record in table_records(db, Document):
        if record["body"] and record["note_id"] in numbers:
            yield f"file:notes/{numbers[record['note_id']]}.pdf", {"content": base64.b64decode(record["body"])}
    for record in table_records(db, Note):
        if record["number"]:
            yield "csv:notes", {
                "numero": record["number"], "type": record["kind"], "statut": record["status"],
                "emise_le": record["issued_on"], "patient_id": record["patient_id"],
                "patient": record["patient_name"], "praticien_id": record["practitioner_id"],
                "total_euros": f"{record['total_cents'] / 100:.2f}".replace(".", ","),
            }


def import_records(db: Any, archive: Any) -> dict[str, int]:
    """Every billing row of the archive, parents first; a PDF from `files/billing/notes/<number>.pdf`.

    The database refuses a line under an issued note: issued notes are written as drafts (without
    their number), their lines after them, then issued again with their number and sequence (dates
    and chain hash as they were)."""
    import sqlalchemy as sa

    from carnet_billing.models import EXPORT_EXPIRED, Attestation, Document, Note

    numbers = {r["id"]: r.get("number") for r in archive.records("note") if r.get("number")}
    issued: list[dict[str, Any]] = []

    def as_draft(record: dict[str, Any]) -> dict[str, Any]:
        if record.get("status") != "issued":
            return {}
        issued.append({"note": record["id"], "number": record.get("number"), "seq": record.get("seq")})
        return {"status": "draft", "number": None, "seq": None}

    def pdf(record: dict[str, Any]) -> dict[str, Any]:
        number = numbers.get(record.get("note_id"))
        content = archive.file(f"notes/{number}.pdf") if number else None
        return {"body": base64.b64encode(content).decode("ascii") if content is not None else None}

    def expired(record: dict[str, Any]) -> dict[str, Any]:
        # an attestation's PDF is not exported (a day's copy): it comes back expired, to ask again
        return {"status": EXPORT_EXPIRED, "body": None}

    fills = {Note: as_draft, Document: pdf, Attestation: expired}
    written = {}
    for model in models():
        entity = model.__tablename__.removeprefix("billing_")
        written[entity] = insert_records(db, model, archive.records(entity), fill=fills.get(model))
        if model.__tablename__ == "billing_note_line" and issued:
            notes = Note.__table__
            # the connection's statement, not the ORM's: the import is audited once, as a whole
            db.connection().execute(
                sa.update(notes).where(notes.c.clinic_id == db.info["clinic_id"], notes.c.id == sa.bindparam("note"))
                .values(status="issued", number=sa.bindparam("number"), seq=sa.bindparam("seq")), issued)
    return written
