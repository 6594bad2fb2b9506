"""Billing test world: core's team (an owner-practitioner, a practitioner, a secretary, patients
registered through core's patient registry, from the `make_team` fixture) with complete billing
profiles; principals as core builds them (roles -> the permissions billing grants by default)."""

from __future__ import annotations

from typing import Any

from carnet_billing.permissions import PERMISSIONS
from carnet_billing.services import profiles
from carnet_core.plugin_api import Principal
from carnet_core.testing import Team as World
from carnet_core.testing import register_patients

# core's registry defaults (carnet_core.patients.permissions)
CORE_PERMISSIONS = {"core.patients.view": ("owner", "practitioner", "secretary"),
                    "core.patients.view_all": ("owner", "secretary"),
                    "core.patients.edit": ("owner", "practitioner", "secretary"),
                    "core.patients.clinical": ("practitioner",)}
PROFILE = {"name": "Claire Martin", "profession": "Orthophoniste", "address": "1 rue des Tilleuls, 69001 Lyon",
           "rpps": "10001234567", "siret": "12345678900011", "zone": "metropole", "conventionne": True}

__all__ = ["PROFILE", "World", "make_staffed_world", "make_world", "principal", "principal_in"]


def principal(world: World, user: Any, *roles: str) -> Principal:
    return principal_in(world.clinic.id, user, *roles)


def principal_in(clinic_id: int, user: Any, *roles: str) -> Principal:
    granted = frozenset(p.name for p in PERMISSIONS if set(p.roles) & set(roles)) | frozenset(
        name for name, holders in CORE_PERMISSIONS.items() if set(holders) & set(roles))
    return Principal(kind="user", user_id=user.id, clinic_id=clinic_id, roles=frozenset(roles),
                     permissions=granted)


def make_world(carnet_db, make_team, slug: str = "cabinet-billing", patients: int = 3) -> World:
    world = make_team(slug, patients=patients)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        profiles.save(db, world.owner.id, PROFILE)
        profiles.save(db, world.practitioner.id, {**PROFILE, "name": "Julien Petit", "rpps": "", "adeli": "691234567"})
    return world


def make_staffed_world(carnet_db, clinic, staff, patients: int = 2) -> World:
    """The same world on enrolled members of `clinic` (`staff` fixture): real logins for pages."""
    owner = staff("owner,practitioner", email="claire@cabinet.test", name="Claire Martin")
    colleague = staff("practitioner", email="julien@cabinet.test", name="Julien Petit")
    secretary = staff("secretary", email="sophie@cabinet.test", name="Sophie Bernard")
    ids = register_patients(carnet_db, clinic.id, [(f"Lefèvre{n}", "Élodie") for n in range(patients)], owner.id)
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        profiles.save(db, owner.id, PROFILE)
        profiles.save(db, colleague.id, {**PROFILE, "name": "Julien Petit", "rpps": "", "adeli": "691234567"})
    return World(clinic, owner, colleague, secretary, ids)
