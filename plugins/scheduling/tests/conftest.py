"""Scheduling test fixtures: a clinic with practitioners, a secretary, patients registered in core's
patient registry (sealed names), a place with two rooms and two appointment types. Pages and API
tests log in for real with core's `staff` and `login_as` fixtures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from carnet_core.testing import register_patients

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
    return register_patients(carnet_db, clinic_id, _names(count), practitioner_id)


def _names(count: int) -> list[tuple[str, str]]:
    return [(NAMES[n % len(NAMES)], f"Patient{len(NAMES) + n}") for n in range(count)]


def make_world(carnet_db, make_team, slug="cabinet-sched", plugins=None) -> World:
    from carnet_scheduling.services import setup

    team = make_team(slug, plugins=plugins, names=_names(5))
    with carnet_db.session(clinic_id=team.clinic.id) as db:
        db.info["principal"] = "system:tests"
        place = setup.create_place(db, "Cabinet", "cabinet", "1 rue des Tilleuls")
        room = setup.create_room(db, place.id, "Salle 1")
        room2 = setup.create_room(db, place.id, "Salle 2")
        session_type = setup.create_appointment_type(db, "Séance", 30)
        bilan = setup.create_appointment_type(db, "Bilan", 60, bookable_online=True, colour="#16a34a")
        ids = (place.id, room.id, room2.id, session_type.id, bilan.id)
    return World(team.clinic, team.owner, team.practitioner, team.secretary, team.patients, *ids)


@pytest.fixture
def world(carnet_db, make_team) -> World:
    return make_world(carnet_db, make_team)


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
