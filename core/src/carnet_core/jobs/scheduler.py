"""Periodic schedules from plugins, fired by one leader.

Leadership is a lease row in the database (`core_job_lease`), renewed on each tick; a scheduler
that loses it stops firing. Each firing also advances its schedule with a conditional UPDATE in the
same transaction as the outbox rows it writes, so even two schedulers that both believe they lead
(a paused leader waking after its lease expired) cannot fire one occurrence twice.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from carnet_core.clinics.services import clinics_with_plugin
from carnet_core.contrib import Schedule
from carnet_core.db.base import utcnow
from carnet_core.db.session import Database
from carnet_core.jobs.config import JobsConfig, JobsError
from carnet_core.jobs.models import JobLease, ScheduleState
from carnet_core.jobs.outbox import ACTOR_NAME_RE, enqueue_with_options
from carnet_core.plugins import CORE_PLUGIN, PluginHost

log = logging.getLogger("carnet.jobs.scheduler")

LEADER_LEASE = "scheduler"


@dataclass(frozen=True)
class PluginSchedule:
    plugin: str
    schedule: Schedule

    @property
    def key(self) -> str:
        return f"{self.plugin}.{self.schedule.name}"


def collect_schedules(host: PluginHost) -> list[PluginSchedule]:
    found: list[PluginSchedule] = []
    seen: set[str] = set()
    for plugin, schedules in host.call_each("register_schedules"):
        for schedule in schedules or []:
            item = PluginSchedule(plugin, schedule)
            if item.key in seen:
                raise JobsError(f"plugin '{plugin}' declares schedule '{schedule.name}' twice")
            if not ACTOR_NAME_RE.match(schedule.actor):
                raise JobsError(
                    f"schedule {item.key} names actor '{schedule.actor}'; use '<plugin>.<name>'"
                )
            if schedule.every <= timedelta(0):
                raise JobsError(f"schedule {item.key}: 'every' must be a positive duration")
            if schedule.per_clinic and plugin == CORE_PLUGIN:
                raise JobsError(f"schedule {item.key}: core schedules cannot be per clinic")
            seen.add(item.key)
            found.append(item)
    return found


def try_lease(db: Database, name: str, holder: str, ttl: float) -> bool:
    """Take or renew the lease `name` for `holder`; True while `holder` holds it."""
    t = JobLease.__table__.c
    now = utcnow()
    until = now + timedelta(seconds=ttl)
    with db.session(unscoped=True) as s:
        result = s.execute(
            sa.update(JobLease.__table__)
            .where(t.name == name, sa.or_(t.holder == holder, t.expires_at < now))
            .values(holder=holder, expires_at=until)
        )
        if result.rowcount:
            return True
        exists = s.execute(sa.select(t.name).where(t.name == name)).first()
    if exists:
        return False
    try:
        with db.session(unscoped=True) as s:
            s.execute(
                sa.insert(JobLease.__table__).values(name=name, holder=holder, expires_at=until)
            )
        return True
    except IntegrityError:
        return False


def release_lease(db: Database, name: str, holder: str) -> None:
    t = JobLease.__table__.c
    with db.session(unscoped=True) as s:
        s.execute(sa.delete(JobLease.__table__).where(t.name == name, t.holder == holder))


def lease_holder(db: Database, name: str = LEADER_LEASE) -> tuple[str, datetime] | None:
    t = JobLease.__table__.c
    with db.session(unscoped=True) as s:
        row = s.execute(sa.select(t.holder, t.expires_at).where(t.name == name)).first()
    return (row[0], row[1]) if row else None


class Scheduler:
    """Fires due schedules when it holds the leader lease."""

    def __init__(self, db: Database, host: PluginHost, config: JobsConfig, name: str | None = None):
        self.db = db
        self.host = host
        self.config = config
        self.name = name or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.schedules = collect_schedules(host)
        self.leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def elect(self) -> bool:
        was = self.leader
        self.leader = try_lease(self.db, LEADER_LEASE, self.name, self.config.scheduler_lease)
        if self.leader != was:
            log.info("scheduler %s %s leadership", self.name, "took" if self.leader else "lost")
        return self.leader

    def tick(self, now: datetime | None = None) -> int:
        """If leader, fire every due schedule; returns how many jobs were enqueued."""
        if not self.elect():
            return 0
        now = now or utcnow()
        return sum(self.fire_if_due(item, now) for item in self.schedules)

    def fire_if_due(self, item: PluginSchedule, now: datetime) -> int:
        t = ScheduleState.__table__.c
        with self.db.session(unscoped=True) as s:
            seen = s.execute(
                sa.select(t.next_run_at).where(t.name == item.key)
            ).scalar_one_or_none()
        if seen is None:
            # First sight: fire now, then every `every`.
            try:
                with self.db.session(unscoped=True) as s:
                    s.execute(
                        sa.insert(ScheduleState.__table__).values(name=item.key, next_run_at=now)
                    )
            except IntegrityError:
                pass
            seen = now
            with self.db.session(unscoped=True) as s:
                seen = s.execute(sa.select(t.next_run_at).where(t.name == item.key)).scalar_one()
        if seen > now:
            return 0
        # Skip missed occurrences: the next one is the first after now on the same grid.
        every = item.schedule.every
        steps = int((now - seen) / every) + 1
        following = seen + steps * every
        with self.db.session(unscoped=True) as s:
            claimed = s.execute(
                sa.update(ScheduleState.__table__)
                .where(t.name == item.key, t.next_run_at == seen)
                .values(next_run_at=following, last_run_at=now)
            ).rowcount
            if not claimed:
                return 0  # another scheduler fired this occurrence
            return self._enqueue(s, item)

    def _enqueue(self, s: object, item: PluginSchedule) -> int:
        schedule = item.schedule
        if not schedule.per_clinic:
            enqueue_with_options(s, schedule.actor, kwargs=dict(schedule.kwargs))  # type: ignore[arg-type]
            return 1
        clinic_ids = clinics_with_plugin(s, item.plugin)  # type: ignore[arg-type]
        for clinic_id in clinic_ids:
            enqueue_with_options(
                s,
                schedule.actor,
                args=(clinic_id,),
                kwargs=dict(schedule.kwargs),  # type: ignore[arg-type]
                clinic_id=clinic_id,
            )
        return len(clinic_ids)

    # -- thread ---------------------------------------------------------------------------------
    def run_forever(self, stop: threading.Event | None = None) -> None:
        stop = stop or self._stop
        while not stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed; retrying")
            stop.wait(self.config.scheduler_interval)
        if self.leader:
            try:
                release_lease(self.db, LEADER_LEASE, self.name)
            except Exception:
                log.exception("could not release the scheduler lease")
            self.leader = False

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run_forever, name="carnet-scheduler", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
