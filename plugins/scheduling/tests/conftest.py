"""Scheduling test fixtures: a clinic with practitioners, a secretary, patients, a room, types.

Until core's patient registry lands on main, the tests create the `core_patient` rows the plugin
references (id, clinic_id) in a minimal table; the plugin only ever checks id and clinic there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from carnet_core.contrib import PUBLIC
from carnet_core.web.principal import Principal
from carnet_core.web.state import carnet_state

PATIENT_DDL = "CREATE TABLE IF NOT EXISTS core_patient (id INTEGER PRIMARY KEY, clinic_id INTEGER NOT NULL)"


def ensure_patient_table(db) -> bool:
    if "core_patient" in SQLModel.metadata.tables:
        return False
    with db.engine.begin() as conn:
        conn.exec_driver_sql(PATIENT_DDL)
    return True


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


def add_patients(carnet_db, clinic_id: int, count: int) -> list[int]:
    """Bare registry rows (no sealed fields): the plugin only checks a patient's id and clinic."""
    from carnet_core.db.base import utcnow

    table = SQLModel.metadata.tables.get("core_patient")
    with carnet_db.engine.begin() as conn:
        start = conn.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM core_patient")).scalar() + 1
        rows = [{"id": start + i, "clinic_id": clinic_id} for i in range(count)]
        if table is None:
            conn.execute(sa.text("INSERT INTO core_patient (id, clinic_id) VALUES (:id, :clinic_id)"), rows)
        else:
            now = utcnow()
            extra = {"identity_status": "provisional", "archived": False, "created_at": now, "updated_at": now}
            conn.execute(sa.insert(table), [{**r, **extra} for r in rows])
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequence past them
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('core_patient', 'id'), "
                                 "(SELECT MAX(id) FROM core_patient))")
    return list(range(start, start + count))


def make_world(carnet_db, make_clinic, slug="cabinet-sched", plugins=None) -> World:
    from carnet_core.identity import services as identity
    from carnet_scheduling.services import setup

    clinic = make_clinic(slug, plugins=plugins)
    ensure_patient_table(carnet_db)
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
    patients = add_patients(carnet_db, clinic.id, 5)
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


ROLE_PERMS: dict[str, set[str]] = {}


@pytest.fixture
def login(app, carnet_db):
    """Act as a staff user through a request header (stands in for core's login in these tests):
    `headers = login(user, clinic, roles)`."""
    state = carnet_state(app)

    def authenticate(connection, st):
        raw = connection.headers.get("x-test-user")
        if not raw:
            return None
        user_id, clinic_id, roles = raw.split(":")
        from carnet_core.clinics.models import Clinic

        with st.db.session(unscoped=True) as db:
            clinic = db.get(Clinic, int(clinic_id))
        role_set = frozenset(roles.split(","))
        return Principal(kind="user", user_id=int(user_id), clinic_id=int(clinic_id), clinic=clinic,
                         roles=role_set, permissions=st.role_permissions(role_set))

    state.authenticators.insert(0, authenticate)

    def headers(user, clinic, roles: str) -> dict[str, str]:
        return {"x-test-user": f"{user.id}:{clinic.id}:{roles}"}

    return headers


__all__ = ["PUBLIC", "World", "add_patients", "make_world"]
