"""Clinic facts the services need: time zone, staff and patients of the clinic, hook callers."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from carnet_core.plugin_api import CarnetSession, Clinic, Membership, User
from carnet_scheduling.services.calendar import DEFAULT_TZ


def clinic_tz(db: CarnetSession) -> str:
    cache = db.info.setdefault("scheduling.tz", {})
    if db.clinic_id not in cache:
        known = db.info.get("clinic")  # the request's clinic, read by core's middleware
        clinic = known if known is not None and known.id == db.clinic_id else (
            db.get(Clinic, db.clinic_id) if db.clinic_id is not None else None)
        cache[db.clinic_id] = clinic.timezone if clinic is not None else DEFAULT_TZ
    return cache[db.clinic_id]


def is_practitioner(db: CarnetSession, user_id: int) -> bool:
    """The user is an active practitioner (or owner) of the session's clinic."""
    row = db.exec(
        select(Membership).where(Membership.user_id == user_id, Membership.active == True)  # noqa: E712
    ).first()
    return row is not None and bool(row.role_set & {"practitioner", "owner"})


def _practitioners_query(*columns: Any) -> Any:
    roles = sa.literal(",") + Membership.roles + sa.literal(",")  # roles are a comma-separated list
    return (
        sa.select(*columns).join(Membership, Membership.user_id == User.id)
        .where(Membership.active == True, User.disabled == False,  # noqa: E712
               roles.contains(",practitioner,"))
        .order_by(User.display_name)
    )


def practitioners(db: CarnetSession) -> list[User]:
    """Active practitioners of the session's clinic, by name."""
    return list(db.exec(_practitioners_query(User)).scalars().all())


def practitioner_names(db: CarnetSession) -> list[Any]:
    """`practitioners`' rows with only `id`, `display_name` and `email` (a page's choice of
    practitioner, an agenda's labels): the same rows, without building a User per row."""
    return list(db.exec(_practitioners_query(User.id, User.display_name, User.email)).all())


def patient_exists(db: CarnetSession, patient_id: int) -> bool:
    """The patient belongs to the session's clinic (another clinic's patient does not exist here)."""
    from carnet_core.plugin_api import patient_access

    return patient_access(db).exists(patient_id)


def notify(hooks: Any, name: str, **kwargs: Any) -> None:
    """Call a scheduling_* hook on the plugins the clinic enabled (`hooks` from host.for_clinic)."""
    if hooks is not None:
        getattr(hooks, name)(**kwargs)
