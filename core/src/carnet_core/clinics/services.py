"""Clinic services: create, look up, enable and disable modules."""

from __future__ import annotations

import re

from sqlmodel import select

from carnet_core.clinics.models import Clinic, ClinicPlugin
from carnet_core.db.base import utcnow
from carnet_core.db.session import CarnetSession
from carnet_core.errors import FieldError, InvalidInput
from carnet_core.i18n import N_
from carnet_core.inputs import text_problem

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# A French postcode: five digits, the first two a department (01-95, 2A/2B are written 20, overseas 97-98).
POSTCODE_RE = re.compile(r"^(?:0[1-9]|[1-8]\d|9[0-8])\d{3}$")
DETAIL_LIMITS = {"name": 200, "address": 200, "city": 100}


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


def _detail_problem(field: str, value: str) -> FieldError | None:
    if not value:
        return FieldError("required", N_("This field is required."))
    if len(value) > DETAIL_LIMITS.get(field, 5):
        return FieldError("too_long", N_("At most %(n)s characters."), n=DETAIL_LIMITS[field])
    if field == "postcode":
        if not POSTCODE_RE.match(value):
            return FieldError("postcode", N_("Enter the five digits of a French postcode, such as 69003."))
        return None
    if (problem := text_problem(value)) is not None:
        return FieldError(problem.code, problem.message)
    if "\n" in value or "\r" in value:
        return FieldError("one_line", N_("Write it on one line."))
    return None


def update_details(db: CarnetSession, clinic_id: int, *, name: str, address: str, postcode: str, city: str,
                   actor: object = None) -> Clinic:
    """Change the clinic's name and postal address (shown on every patient page), every field checked
    first: InvalidInput names each bad field and nothing is written. Audited when something changed."""
    values = {"name": " ".join(name.split()), "address": " ".join(address.split()),
              "postcode": "".join(postcode.split()), "city": " ".join(city.split())}
    errors = {field: problem for field, value in values.items() if (problem := _detail_problem(field, value))}
    if errors:
        raise InvalidInput(errors)
    clinic = db.get(Clinic, clinic_id)
    if clinic is None:
        raise ClinicError(f"no clinic with id {clinic_id}")
    changed = sorted(field for field, value in values.items() if getattr(clinic, field) != value)
    if not changed:
        return clinic
    for field in changed:
        setattr(clinic, field, values[field])
    db.add(clinic)
    db.flush()
    from carnet_core import audit

    audit.record(db, actor=actor, action="update", resource_type="clinic", resource_id=clinic.id,
                 details={"fields": changed}, clinic_id=clinic.id)
    return clinic


def postal_address(clinic: Clinic | None) -> str:
    """The clinic's address on one line ("12 rue des Tilleuls, 69003 Lyon"), "" when not filled in."""
    if clinic is None:
        return ""
    town = " ".join(part for part in (clinic.postcode, clinic.city) if part)
    return ", ".join(part for part in (clinic.address, town) if part)


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
