"""Fail closed per record: a sealed value that fails its integrity check never takes a page down.

Pages and APIs that show many records (patient list and search, agenda week and day, day sheet,
waiting list, feeds, exports) open values with `open_or_unreadable` / `open_fields`. A value that
does not open (a flipped bit, a value moved to another row) becomes an `Unreadable` marker for
that record only: the rest of the page works, the marker renders as "données illisibles (n° 12)"
in the page's language (its `__html__`, with the gettext core's Jinja environment sets while a
page renders; plain-text message templates translate it in their `finalize`), and the damage is reported once
per transaction — a log line and an audit record (action `integrity`, outcome `failure`) naming the
table, row id and column, never a value. `carnet check` lists every damaged record.

An erased patient's values (`KeyDestroyed`) are not damage: they still raise, and callers keep
filtering erased patients out as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from markupsafe import escape
from sqlalchemy import event

from carnet_core.db.session import CarnetSession
from carnet_core.encryption.services import DecryptionError, KeyDestroyed, open_, open_bytes, row_context
from carnet_core.i18n import N_

log = logging.getLogger("carnet.encryption.integrity")

MESSAGE = N_("Unreadable data (record %(id)s)")
INTEGRITY_ACTION = "integrity"
_REPORTED = "carnet.integrity.reported"
# The gettext of the page being rendered: set by core's Jinja environment while a template renders
# (`carnet_core.web.templating`), so that a marker printed in it speaks the page's language.
page_gettext: ContextVar[Any] = ContextVar("carnet_page_gettext", default=None)


class Unreadable(str):
    """Stands for the plaintext of a damaged sealed value (or a record holding one).

    It is a `str` (so names, sorting and `or` fallbacks keep working) whose text is the English
    message; templates show it translated. APIs turn it into null plus an `unreadable` list."""

    table: str
    row_id: Any
    column: str

    def __new__(cls, table: str, row_id: Any, column: str = "") -> Unreadable:
        self = super().__new__(cls, MESSAGE % {"id": row_id})
        self.table, self.row_id, self.column = table, row_id, column
        return self

    def translated(self, gettext: Any) -> str:
        """The marker in a language: `gettext(msgid)` is the catalog's translation function."""
        return gettext(MESSAGE) % {"id": self.row_id}

    def __html__(self) -> str:
        """Printed by an HTML template (autoescape calls this): the message in the language of
        the page being rendered, escaped. No per-value hook runs for the thousands of other values
        a page prints."""
        gettext = page_gettext.get()
        return str(escape(self.translated(gettext) if gettext is not None else str.__str__(self)))


def is_unreadable(value: Any) -> bool:
    return isinstance(value, Unreadable)


def report_unreadable(db: Any, table: str, row_id: Any, column: str, clinic_id: int | None = None) -> None:
    """Log and audit that `table.column` of row `row_id` failed its integrity check (once per
    transaction and value). Ids only: the value itself is never logged."""
    reported = db.info.setdefault(_REPORTED, set())
    slot = (table, str(row_id), column)
    if slot in reported:
        return
    reported.add(slot)
    log.error(
        "sealed value failed its integrity check: %s.%s row %s", table, column, row_id,
        extra={"event": "integrity", "table": table, "row_id": row_id, "column": column},
    )
    from carnet_core import audit

    actor = None if db.info.get("principal") is not None else "system:integrity"
    audit.record(
        db, actor=actor, action=INTEGRITY_ACTION, resource_type=table, resource_id=row_id, outcome="failure",
        clinic_id=clinic_id, details={"column": column},
    )


def open_or_unreadable(db: Any, obj: Any, column: str) -> str | None:
    """`open_(db, obj, column)`, or an `Unreadable` marker (reported) when the value is damaged."""
    try:
        return open_(db, obj, column)
    except KeyDestroyed:
        raise
    except DecryptionError:
        table = type(obj).__table__.name
        report_unreadable(db, table, obj.id, column, getattr(obj, "clinic_id", None))
        return Unreadable(table, obj.id, column)


def open_row_value(db: Any, clinic_id: int, table: str, column: str, row_id: Any, sealed: bytes | None) -> str | None:
    """Open a sealed value read as a plain column (not through a model instance), e.g. from a
    query that selects columns of many rows; damaged values become `Unreadable` markers."""
    if sealed is None:
        return None
    try:
        return open_bytes(db, clinic_id, row_context(table, column, row_id), bytes(sealed)).decode("utf-8")
    except KeyDestroyed:
        raise
    except DecryptionError:
        report_unreadable(db, table, row_id, column, clinic_id)
        return Unreadable(table, row_id, column)


def open_fields(db: Any, obj: Any, columns: Iterable[str]) -> dict[str, str | None]:
    """Open several columns of one row; damaged ones become `Unreadable` markers."""
    return {column: open_or_unreadable(db, obj, column) for column in columns}


def unreadable_fields(fields: dict[str, Any]) -> list[str]:
    """Names of the fields whose value is an `Unreadable` marker."""
    return [name for name, value in fields.items() if isinstance(value, Unreadable)]


def readable(value: Any) -> Any:
    """None for an `Unreadable` marker, else the value (for JSON answers and exports)."""
    return None if isinstance(value, Unreadable) else value


@event.listens_for(CarnetSession, "after_commit")
def _forget_reported(session: CarnetSession) -> None:
    session.info.pop(_REPORTED, None)


@event.listens_for(CarnetSession, "after_soft_rollback")
def _forget_reported_on_rollback(session: CarnetSession, previous_transaction: Any) -> None:
    session.info.pop(_REPORTED, None)
