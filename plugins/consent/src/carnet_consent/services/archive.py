"""Consent's part of the clinic export (core's `export_clinic_data`): every row (versions with
their content hashes, requests, signers, signatures with their evidence, decisions, the signing
certificates, the register of rights requests), and each signed PDF as a file. The clinic's
private signing key never leaves."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from carnet_core.plugin_api import table_records


def models() -> list[Any]:
    """Every consent table, parents before the rows that point at them."""
    from carnet_consent import models as m

    return [m.Template, m.Version, m.Request, m.Signer, m.Signature, m.Decision, m.SigningKey, m.Document,
            m.RightsRequest]


def clinic_records(db: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    from carnet_consent.models import Document, SigningKey

    left_out = {SigningKey: ("private_key",), Document: ("body",)}  # the key stays; PDFs go as files
    for model in models():
        entity = model.__tablename__.removeprefix("consent_")
        for record in table_records(db, model, exclude=left_out.get(model, ())):
            yield entity, record
    for record in table_records(db, Document):
        if record["body"]:
            yield f"file:signed/{record['request_id']}.pdf", {"content": base64.b64decode(record["body"])}
