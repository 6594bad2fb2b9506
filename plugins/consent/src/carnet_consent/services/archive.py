"""Consent's part of the clinic export (core's `export_clinic_data`): every row (versions with
their content hashes, requests, signers, signatures with their evidence, decisions)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from carnet_core.plugin_api import table_records


def models() -> list[Any]:
    """Every consent table, parents before the rows that point at them."""
    from carnet_consent import models as m

    return [m.Template, m.Version, m.Request, m.Signer, m.Signature, m.Decision]


def clinic_records(db: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for model in models():
        entity = model.__tablename__.removeprefix("consent_")
        for record in table_records(db, model):
            yield entity, record
