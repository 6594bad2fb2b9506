"""Scheduling test fixtures: a clinic with practitioners, a secretary, patients registered in core's
patient registry (sealed names), a place with two rooms and two appointment types. Pages and API
tests log in for real with core's `staff` and `login_as` fixtures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from carnet_core.plugin_api import Principal

NAMES = ("Lefèvre", "Moreau", "Garnier", "Faure", "Rousseau", "Blanc", "Guerin", "Muller", "Henry", "Roussel")


@dataclass
class World:
    clinic: Any
    practitioner: Any
    colleague: Any
    secretary: Any
    patients: list[int]
    place_id: int
    room_id: int
    room2_id: int
    session_type_id: int
    bilan_type_id: int
    other: dict[str, Any] = field(default_factory=dict)


def add_patients(carnet_db, clinic_id: int, count: int, practitioner_id: int | None = None) -> list[int]:
    """Register patients through core's registry (sealed names "NAME Prénom n")."""
    from carnet_core.plugin_api import patient_access

    ids = []
    with carnet_db.session(clinic_id=clinic_id) as db:
        db.info["principal"] = "system:tests"
        registrar = Principal(kind="user", user_id=None, clinic_id=clinic_id, roles=frozenset({"owner"}))
        start = len(NAMES)
        for n in range(count):
            data = {"last_name": f"{NAMES[n % len(NAMES)]}", "first_name": f"Patient{start + n}"}
            if practitioner_id is not None:
                data["practitioner_id"] = practitioner_id
            ids.append(patient_access(db, registrar).register(data))
    return ids


def make_world(carnet_db, make_clinic, slug="cabinet-sched", plugins=None) -> World:
    from carnet_core.testing import identity_services as identity
    from carnet_scheduling.services import setup

    clinic = make_clinic(slug, plugins=plugins)
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
        place = setup.create_place(db, "Cabinet", "cabinet", "1 rue des Tilleuls")
        room = setup.create_room(db, place.id, "Salle 1")
        room2 = setup.create_room(db, place.id, "Salle 2")
        session_type = setup.create_appointment_type(db, "Séance", 30)
        bilan = setup.create_appointment_type(db, "Bilan", 60, bookable_online=True, colour="#16a34a")
        ids = (place.id, room.id, room2.id, session_type.id, bilan.id)
    patients = add_patients(carnet_db, clinic.id, 5, practitioner_id=users[0].id)
    return World(clinic, users[0], users[1], users[2], patients, *ids)


@pytest.fixture
def world(carnet_db, make_clinic) -> World:
    return make_world(carnet_db, make_clinic)


@pytest.fixture
def scoped(carnet_db, world):
    """`with scoped() as db:` a unit of work in the world's clinic, acting as its owner."""

    def open_(clinic_id=None, actor=None):
        ctx = carnet_db.session(clinic_id=clinic_id or world.clinic.id)
        session = ctx.__enter__()
        session.info["principal"] = actor or f"user:{world.practitioner.id}"

        class _Ctx:
            def __enter__(self):
                return session

            def __exit__(self, *exc):
                return ctx.__exit__(*exc)

        return _Ctx()

    return open_


__all__ = ["World", "add_patients", "make_world"]
