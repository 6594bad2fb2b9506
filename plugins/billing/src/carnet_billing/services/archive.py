"""Billing's part of the clinic export (core's `export_clinic_data`): every row (numbers, series
and hash chain as stored), each note's PDF as a file, and the notes as a CSV a person can read."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from carnet_core.plugin_api import table_records


def models() -> list[Any]:
    """Every billing table, parents before the rows that point at them."""
    from carnet_billing import models as m

    return [m.BillingProfile, m.KeyLetterValue, m.Act, m.TypeAct, m.NumberSeries, m.Note, m.NoteLine, m.Payment,
            m.Document, m.Export, m.FollowupSchedule, m.Followup]


def clinic_records(db: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    from carnet_billing.models import Document, Note

    for model in models():
        entity = model.__tablename__.removeprefix("billing_")
        # a document's PDF goes as a file of its own (below), not inside a JSON line
        for record in table_records(db, model, exclude=("body",) if model is Document else ()):
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
