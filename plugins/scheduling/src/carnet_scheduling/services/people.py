"""Patients as the agenda shows them, through core's patient access (`carnet_core.plugin_api.patient_access`):
its visibility rules, its clinical gate, and its audit. Scheduling never loads patient rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from carnet_core.plugin_api import CarnetSession, patient_access


def registry_available() -> bool:
    return True


def names(
    db: CarnetSession, principal: Any, patient_ids: Iterable[int], *, own_ids: Iterable[int] = (),
) -> dict[int, str]:
    """Display names of the patients this staff member may see under core's rules, counting the
    patients booked with them (`own_ids`) as patients they care for. Others are left out (the
    agenda then shows them as busy)."""
    if principal is None or not principal.is_authenticated:
        return {}
    return patient_access(db, principal).names(patient_ids, cared_for=own_ids)


def phones(
    db: CarnetSession, principal: Any, patient_ids: Iterable[int], *, own_ids: Iterable[int] = (),
) -> dict[int, str]:
    """The number to call (E.164) for each patient this staff member may see, as `names` decides;
    the patient's own, else their main contact's (core's patient access, audited)."""
    if principal is None or not principal.is_authenticated:
        return {}
    return patient_access(db, principal).phones(patient_ids, cared_for=own_ids)


def feed_names(db: CarnetSession, feed: Any, patient_ids: Iterable[int]) -> dict[int, str]:
    """Names for a practitioner's own calendar feed, once they opted in: read on the
    practitioner's behalf (the feed's token acts for them), their own appointments only."""
    from carnet_core.plugin_api import Principal

    ids = list(patient_ids)
    holder = Principal(kind="token", user_id=feed.practitioner_id, clinic_id=db.clinic_id,
                       extra={"token_id": f"calendar_feed:{feed.id}"})
    return patient_access(db, holder).names(ids, cared_for=ids)


def search(db: CarnetSession, principal: Any, q: str, limit: int = 10) -> list[tuple[int, str, str | None]]:
    """(id, display name, birth date) of the patients this person sees whose names start with the
    query's words, or with exactly this e-mail or phone (audited by core)."""
    return [(ref.id, ref.display_name or "", ref.birth_date)
            for ref in patient_access(db, principal).search(q, limit=limit)]


def one(db: CarnetSession, principal: Any, patient_id: int) -> str | None:
    return names(db, principal, [patient_id]).get(patient_id)


def may_read_clinical(db: CarnetSession, principal: Any, patient_id: int, *, cares: bool) -> bool:
    """Core's clinical gate: clinical permission on a patient they follow (or the clinic shares),
    or on the patient of an appointment that is theirs (`cares`)."""
    return patient_access(db, principal).may_read_clinical(patient_id, cares=cares)


def clinical_allowed(db: CarnetSession, principal: Any, appointment: Any) -> bool:
    """Whether this person may read and write the appointment's clinical notes: scheduling's
    clinical permission and core's clinical gate on its patient (the appointment's own
    practitioner counts as caring for the patient)."""
    from carnet_scheduling import permissions as perm

    if principal is None or not principal.can(perm.CLINICAL):
        return False
    cares = appointment.practitioner_id == principal.user_id
    return may_read_clinical(db, principal, appointment.patient_id, cares=cares)
