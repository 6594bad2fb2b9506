"""Billing test world: a clinic with an owner-practitioner, a practitioner, a secretary, patients
registered through core's patient registry, complete billing profiles; principals as core builds
them (roles -> the permissions billing grants them by default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carnet_billing.permissions import PERMISSIONS
from carnet_billing.services import profiles
from carnet_core.plugin_api import Principal, patient_access

# core's registry defaults (carnet_core.patients.permissions)
CORE_PERMISSIONS = {"core.patients.view": ("owner", "practitioner", "secretary"),
                    "core.patients.view_all": ("owner", "secretary"),
                    "core.patients.edit": ("owner", "practitioner", "secretary"),
                    "core.patients.clinical": ("practitioner",)}
PROFILE = {"name": "Claire Martin", "profession": "Orthophoniste", "address": "1 rue des Tilleuls, 69001 Lyon",
           "rpps": "10001234567", "siret": "12345678900011", "zone": "metropole", "conventionne": True}


@dataclass
class World:
    clinic: Any
    owner: Any
    practitioner: Any
    secretary: Any
    patients: list[int]


def principal(world: World, user: Any, *roles: str) -> Principal:
    return principal_in(world.clinic.id, user, *roles)


def principal_in(clinic_id: int, user: Any, *roles: str) -> Principal:
    granted = frozenset(p.name for p in PERMISSIONS if set(p.roles) & set(roles)) | frozenset(
        name for name, holders in CORE_PERMISSIONS.items() if set(holders) & set(roles))
    return Principal(kind="user", user_id=user.id, clinic_id=clinic_id, roles=frozenset(roles),
                     permissions=granted)


def make_world(carnet_db, make_clinic, slug: str = "cabinet-billing", patients: int = 3) -> World:
    from carnet_core.testing import identity_services as identity

    clinic = make_clinic(slug)
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        users = []
        for email, name, roles in (
            (f"claire@{slug}.fr", "Claire Martin", ("owner", "practitioner")),
            (f"julien@{slug}.fr", "Julien Petit", ("practitioner",)),
            (f"sophie@{slug}.fr", "Sophie Bernard", ("secretary",)),
        ):
            user = identity.create_or_get_user(db, email, name)
            identity.set_membership(db, clinic.id, user.id, roles)
            users.append(user)
        registrar = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
        ids = [patient_access(db, registrar).register({"last_name": f"Lefèvre{n}", "first_name": "Élodie",
                                                       "practitioner_id": users[0].id}) for n in range(patients)]
        profiles.save(db, users[0].id, PROFILE)
        profiles.save(db, users[1].id, {**PROFILE, "name": "Julien Petit", "rpps": "", "adeli": "691234567"})
    return World(clinic, users[0], users[1], users[2], ids)


def make_staffed_world(carnet_db, clinic, staff, patients: int = 2) -> World:
    """The same world on enrolled members of `clinic` (`staff` fixture): real logins for pages."""
    owner = staff("owner,practitioner", email="claire@cabinet.test", name="Claire Martin")
    colleague = staff("practitioner", email="julien@cabinet.test", name="Julien Petit")
    secretary = staff("secretary", email="sophie@cabinet.test", name="Sophie Bernard")
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        registrar = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
        ids = [patient_access(db, registrar).register({"last_name": f"Lefèvre{n}", "first_name": "Élodie",
                                                       "practitioner_id": owner.id}) for n in range(patients)]
        profiles.save(db, owner.id, PROFILE)
        profiles.save(db, colleague.id, {**PROFILE, "name": "Julien Petit", "rpps": "", "adeli": "691234567"})
    return World(clinic, owner, colleague, secretary, ids)
