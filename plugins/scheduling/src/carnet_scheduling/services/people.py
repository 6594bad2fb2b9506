"""Patients as the agenda shows them: names opened from core's sealed registry for staff who may
see them, exact (blind-index) search for the booking form. Reads are audited by the callers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from carnet_core.plugin_api import CarnetSession

try:  # core's patient registry (carnet_core.patients); absent on older cores
    from carnet_core.plugin_api import patient_registry as _registry
except ImportError:  # pragma: no cover - exercised only without the registry
    _registry = None


def registry_available() -> bool:
    return _registry is not None


def names(
    db: CarnetSession, principal: Any, patient_ids: Iterable[int], *, own_ids: Iterable[int] = (),
) -> dict[int, str]:
    """Display names of the patients this staff member may see: every patient for who sees the
    whole registry (or when the clinic shares patients), else the patients they follow and those
    booked with them (`own_ids`). Others are left out (the agenda then shows them as busy)."""
    ids = sorted(set(patient_ids))
    if not ids or _registry is None or principal is None or not principal.is_authenticated:
        return {}
    sees_all = principal.can(_registry.VIEW_ALL) or _registry.shares_patients(db)
    own = set(own_ids)

    def may_see(patient_id: int, practitioner_id: int | None) -> bool:
        return sees_all or practitioner_id == principal.user_id or patient_id in own

    return _display_names(db, ids, may_see)


def _display_names(db: CarnetSession, ids: list[int], keep: Any = None) -> dict[int, str]:
    opened = _registry.names_of(db, ids, keep)
    return {pid: _registry.display_name(last, first) for pid, (last, first) in opened.items()}


def feed_names(db: CarnetSession, patient_ids: Iterable[int]) -> dict[int, str]:
    """Names for a practitioner's own calendar feed, once they opted in (their own appointments)."""
    ids = sorted(set(patient_ids))
    if not ids or _registry is None:
        return {}
    return _display_names(db, ids)


def search(db: CarnetSession, principal: Any, q: str, limit: int = 10) -> list[tuple[int, str]]:
    """Exact search by last name, e-mail or phone through core's registry (audited there)."""
    q = (q or "").strip()
    if not q or _registry is None or len(q) > 200:
        return []
    views = _registry.search_patients(db, principal, q, limit=limit)
    return [(v.id, v.display_name) for v in views]


def one(db: CarnetSession, principal: Any, patient_id: int) -> str | None:
    return names(db, principal, [patient_id]).get(patient_id)
