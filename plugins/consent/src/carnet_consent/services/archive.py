"""Consent's part of the clinic export (core's `export_clinic_data`): every row (versions with
their content hashes, requests, signers, signatures with their evidence, decisions, the signing
certificates, the register of rights requests, the owner's settings, the paper scans' fingerprints),
and each signed PDF and paper scan as a file. The clinic's private signing key never leaves: after
an import (`import_clinic_data`) its certificates still verify the PDFs they signed, and the
instance makes a key of its own for the next signatures."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from carnet_core.plugin_api import insert_records, table_records


def models() -> list[Any]:
    """Every consent table, parents before the rows that point at them."""
    from carnet_consent import models as m

    return [m.Template, m.Version, m.Request, m.Signer, m.Signature, m.Decision, m.SigningKey, m.Document,
            m.RightsRequest, m.Setting, m.Scan]


def clinic_records(db: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    from carnet_consent.models import Document, Scan, SigningKey

    left_out = {SigningKey: ("private_key",), Document: ("body",), Scan: ("body",)}  # the key stays; PDFs: files
    for model in models():
        entity = model.__tablename__.removeprefix("consent_")
        for record in table_records(db, model, exclude=left_out.get(model, ())):
            yield entity, record
    for record in table_records(db, Document):
        if record["body"]:
            yield f"file:signed/{record['request_id']}.pdf", {"content": base64.b64decode(record["body"])}
    for record in table_records(db, Scan):
        if record["body"]:
            yield f"file:paper/{record['request_id']}.pdf", {"content": base64.b64decode(record["body"])}


def import_records(db: Any, archive: Any) -> dict[str, int]:
    """Every consent row of the archive, parents first; a signed PDF from
    `files/consent/signed/<request>.pdf`, a paper scan from `files/consent/paper/<request>.pdf`."""
    from carnet_consent.models import Document, Scan

    def file_of(folder: str) -> Any:
        def fill(record: dict[str, Any]) -> dict[str, Any]:
            content = archive.file(f"{folder}/{record.get('request_id')}.pdf")
            return {"body": base64.b64encode(content).decode("ascii") if content is not None else None}

        return fill

    fills = {Document: file_of("signed"), Scan: file_of("paper")}
    written = {}
    for model in models():
        entity = model.__tablename__.removeprefix("consent_")
        written[entity] = insert_records(db, model, archive.records(entity), fill=fills.get(model))
    return written
