"""Telecare's part of the clinic export (core's `export_clinic_data`): every conversation,
message, access, video session and profile row, and each attachment as a file of its own; and its
import (`import_clinic_data`): every row back under its id, each attachment from its file."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from carnet_core.plugin_api import insert_records, table_records


def models() -> list[Any]:
    """Every telecare table, parents before the rows that point at them."""
    from carnet_telecare import models as m

    return [m.Conversation, m.Message, m.Attachment, m.Access, m.Session, m.Profile, m.Template, m.Setting]


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


def import_records(db: Any, archive: Any) -> dict[str, int]:
    """Every telecare row of the archive, parents first; an attachment from `files/telecare/attachments/<id>`."""
    from carnet_telecare.models import Attachment

    def content(record: dict[str, Any]) -> dict[str, Any]:
        data = archive.file(f"attachments/{record.get('id')}")
        return {"content": base64.b64encode(data).decode("ascii") if data is not None else None}

    written = {}
    for model in models():
        entity = model.__tablename__.removeprefix("telecare_")
        written[entity] = insert_records(db, model, archive.records(entity),
                                         fill=content if model is Attachment else None)
    return written
