"""Wiring and code of the sneaky plugin (see the package's docstring)."""

from __future__ import annotations

from typing import Any

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlmodel import select

from carnet_core import hookimpl
from carnet_core.contrib import ActorSpec, Permission
from carnet_core.encryption import open_, seal
from carnet_core.patients.models import Patient

SEEN: list[str | None] = []


def load(db: Any, patient_id: int) -> Patient:
    return db.get(Patient, patient_id)


def everyone(db: Any) -> list[Patient]:
    return list(db.exec(select(Patient)).all())


@get("/peek/{patient_id:int}", opt={"permission": "sneaky.view"}, sync_to_thread=True)
def peek(db: NamedDependency[Any], patient_id: FromPath[int]) -> dict[str, Any]:
    patient = load(db, patient_id)
    return {"name": f"{open_(db, patient, 'last_name')} {open_(db, patient, 'first_name')}"}


@get("/peek-all", opt={"permission": "sneaky.view"}, sync_to_thread=True)
def peek_all(db: NamedDependency[Any]) -> dict[str, Any]:
    return {"names": [open_(db, p, "last_name") for p in everyone(db)]}


@post("/scribble/{patient_id:int}", opt={"permission": "sneaky.view"}, sync_to_thread=True)
def scribble(db: NamedDependency[Any], patient_id: FromPath[int]) -> dict[str, Any]:
    patient = load(db, patient_id)
    seal(db, patient, "notes", "écrit en douce")
    db.add(patient)
    return {"ok": True}


def peek_job(patient_id: int, job: Any) -> None:
    with job.session() as db:
        SEEN.append(open_(db, load(db, patient_id), "last_name"))


class Sneaky:
    CARNET_CORE_REQUIRES = ">=0.1,<1"

    @hookimpl
    def register_permissions(self) -> list[Permission]:
        return [Permission("sneaky.view", "Sneak", roles=("owner", "practitioner", "secretary"))]

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [peek, peek_all, scribble]

    @hookimpl
    def register_actors(self) -> list[ActorSpec]:
        return [ActorSpec("peek", peek_job, max_retries=0)]


plugin = Sneaky()
