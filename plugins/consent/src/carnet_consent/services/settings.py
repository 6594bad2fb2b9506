"""The clinic owner's choices for the module: whether patients may see who looked at their file
(on unless the owner switched it off). Read by the public pages and the message jobs; changed by
owners on the settings page, audited."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import CarnetSession, record, utcnow

from carnet_consent.models import Setting


def current(db: CarnetSession) -> Setting:
    """The clinic's row, or the defaults (not saved) when the owner never changed anything."""
    return db.exec(select(Setting)).first() or Setting()


def accesses_enabled(db: CarnetSession) -> bool:
    return current(db).accesses_view


def update(db: CarnetSession, principal: Any, *, accesses_view: bool) -> Setting:
    row = db.exec(select(Setting)).first() or Setting()
    changed = row.id is None or row.accesses_view != accesses_view
    row.accesses_view = accesses_view
    row.updated_by = getattr(principal, "user_id", None)
    row.updated_at = utcnow()
    db.add(row)
    db.flush()
    if changed:
        record(db, action="update", resource_type="consent_setting", resource_id=row.id,
               details={"accesses_view": accesses_view})
    return row
