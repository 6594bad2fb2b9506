"""Clinic services: create, look up, enable and disable modules."""

from __future__ import annotations

import re

from sqlmodel import select

from carnet_core.clinics.models import Clinic, ClinicPlugin
from carnet_core.db.base import utcnow
from carnet_core.db.session import CarnetSession
from carnet_core.inputs import text_problem

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class ClinicError(ValueError):
    """Invalid clinic operation; the message says what to change."""


def create_clinic(db: CarnetSession, slug: str, name: str, plugins: list[str] | None = None) -> Clinic:
    """Create a clinic and enable `plugins` for it (an unscoped session)."""
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise ClinicError("slug: use 1 to 63 lowercase letters, digits and hyphens, e.g. 'cabinet-lyon'")
    name = name.strip()
    if not name or len(name) > 200:
        raise ClinicError("name: give a name of 1 to 200 characters")
    if (problem := text_problem(name)) is not None:
        raise ClinicError(f"name: {problem.message}")
    if db.exec(select(Clinic).where(Clinic.slug == slug)).first() is not None:
        raise ClinicError(f"a clinic with slug '{slug}' already exists")
    clinic = Clinic(slug=slug, name=name)
    db.add(clinic)
    db.flush()
    for plugin in plugins or []:
        db.add(ClinicPlugin(clinic_id=clinic.id, plugin=plugin, enabled=True))
    db.flush()
    return clinic


def get_clinic_by_slug(db: CarnetSession, slug: str) -> Clinic | None:
    return db.exec(select(Clinic).where(Clinic.slug == slug)).first()


def list_clinics(db: CarnetSession) -> list[Clinic]:
    return list(db.exec(select(Clinic).order_by(Clinic.slug)))


def enabled_plugins(db: CarnetSession, clinic_id: int, allowed: list[str] | None = None) -> set[str]:
    """Names of plugins the clinic has enabled, restricted to those loaded in this process."""
    rows = db.exec(
        select(ClinicPlugin.plugin).where(
            ClinicPlugin.clinic_id == clinic_id, ClinicPlugin.enabled == True  # noqa: E712
        )
    )
    names = set(rows)
    return names if allowed is None else names & set(allowed)


def set_plugin_enabled(db: CarnetSession, clinic_id: int, plugin: str, enabled: bool, allowed: list[str]) -> bool:
    """Enable or disable a plugin for a clinic. Returns True when something changed."""
    if plugin not in allowed:
        raise ClinicError(
            f"plugin '{plugin}' is not installed or not allowed here; available: {', '.join(allowed) or 'none'}"
        )
    row = db.exec(
        select(ClinicPlugin).where(ClinicPlugin.clinic_id == clinic_id, ClinicPlugin.plugin == plugin)
    ).first()
    if row is None:
        row = ClinicPlugin(clinic_id=clinic_id, plugin=plugin, enabled=enabled)
        db.add(row)
        db.flush()
        return True
    if row.enabled == enabled:
        return False
    row.enabled = enabled
    row.changed_at = utcnow()
    db.add(row)
    db.flush()
    return True


def clinics_with_plugin(db: CarnetSession, plugin: str) -> list[int]:
    """Ids of clinics that enabled `plugin` (unscoped session; used by the scheduler)."""
    rows = db.exec(
        select(ClinicPlugin.clinic_id).where(ClinicPlugin.plugin == plugin, ClinicPlugin.enabled == True)  # noqa: E712
    )
    return sorted(set(rows))
