"""Telecare's part of the clinic export (core's `export_clinic_data`): every conversation,
message, access, video session and profile row, and each attachment as a file of its own."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from carnet_core.plugin_api import table_records


def models() -> list[Any]:
    """Every telecare table, parents before the rows that point at them."""
    from carnet_telecare import models as m

    return [m.Conversation, m.Message, m.Attachment, m.Access, m.Session, m.Profile]


def clinic_records(db: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    from carnet_telecare.models import Attachment

    for model in models():
        entity = model.__tablename__.removeprefix("telecare_")
        # an attachment's content goes as a file (below); its row keeps the name, type and size
        for record in table_records(db, model, exclude=("content",) if model is Attachment else ()):
            yield entity, record
    for record in table_records(db, Attachment):
        if record["content"]:
            yield f"file:attachments/{record['id']}", {"content": base64.b64decode(record["content"])}
