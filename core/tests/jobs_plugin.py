"""A test plugin with actors and schedules, shared by the jobs tests."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from carnet_core.clinics.models import Clinic
from carnet_core.contrib import ActorSpec, Schedule
from carnet_core.hookspecs import hookimpl
from carnet_core.jobs import JobContext, once


class ExamplePlugin:
    """`example.mark` appends "!" to a clinic's name once per message (a non-idempotent change
    made idempotent by `once`); `example.boom` always fails; `example.tick` records its calls."""

    CARNET_CORE_REQUIRES = ">=0.1,<1"

    def __init__(self, mark_delay: float = 0.0, schedule_every: timedelta = timedelta(hours=1)):
        self.calls: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.mark_delay = mark_delay
        self.schedule_every = schedule_every
        # when set, each `mark` waits there until as many deliveries are inside the actor
        self.rendezvous: threading.Barrier | None = None

    def _record(self, name: str, value: Any) -> None:
        with self.lock:
            self.calls.append((name, value))

    def mark(self, clinic_id: int, job: JobContext) -> None:
        self._record("mark", (clinic_id, job.message_id, job.clinic_id))
        if self.rendezvous is not None:
            self.rendezvous.wait(timeout=10)
        with job.session(unscoped=True) as db:
            if not once(db, job.key()):
                return
            time.sleep(self.mark_delay)  # widen the window for concurrent deliveries
            db.execute(
                sa.update(Clinic.__table__)
                .where(Clinic.__table__.c.id == clinic_id)
                .values(name=Clinic.__table__.c.name + "!")
            )

    def boom(self, job: JobContext) -> None:
        self._record("boom", job.retries)
        raise RuntimeError("the SMS gateway refused the message")

    def tick(self, clinic_id: int, job: JobContext) -> None:
        self._record("tick", clinic_id)

    def nightly(self) -> None:
        self._record("nightly", None)

    def calls_of(self, name: str) -> list[Any]:
        with self.lock:
            return [v for n, v in self.calls if n == name]

    @hookimpl
    def register_actors(self) -> list[ActorSpec]:
        return [
            ActorSpec("mark", self.mark),
            ActorSpec("boom", self.boom, max_retries=2),
            ActorSpec("tick", self.tick),
            ActorSpec("nightly", self.nightly, queue="example_slow"),
        ]

    @hookimpl
    def register_schedules(self) -> list[Schedule]:
        return [
            Schedule("tick", actor="example.tick", every=self.schedule_every, per_clinic=True),
            Schedule("nightly", actor="example.nightly", every=timedelta(days=1), per_clinic=False),
        ]


def clinic_name(db: Any, clinic_id: int) -> str:
    with db.session(unscoped=True) as s:
        return s.get(Clinic, clinic_id).name
