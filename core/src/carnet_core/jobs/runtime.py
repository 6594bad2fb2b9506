"""The jobs runtime of one process: broker, declared actors, relay, scheduler, worker threads."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq import Worker

from carnet_core.db.session import Database
from carnet_core.jobs.broker import (
    IN_PROCESS_MODE,
    REDIS_MODE,
    OutboxMiddleware,
    build_broker,
    check_redis_policy,
    declare_actors,
)
from carnet_core.jobs.config import JobsConfig, JobsError, jobs_config
from carnet_core.jobs.outbox import Relay
from carnet_core.jobs.scheduler import Scheduler
from carnet_core.plugins import PluginHost
from carnet_core.settings import Settings, _redact_url

log = logging.getLogger("carnet.jobs")


@dataclass
class JobsRuntime:
    settings: Settings
    host: PluginHost
    db: Database
    config: JobsConfig
    broker: dramatiq.Broker
    mode: str
    redis_url: str | None = None
    actors: dict[str, dramatiq.Actor[Any, Any]] = field(default_factory=dict)
    relay: Relay | None = None
    scheduler: Scheduler | None = None
    worker: Worker | None = None

    @property
    def queues(self) -> list[str]:
        return sorted({a.queue_name for a in self.actors.values()})

    def check_broker(self, strict: bool = True) -> bool:
        """Production check: the Redis broker must not evict. True if checked, False if Redis is
        unreachable (then the relay checks before its first publish). Raises JobsError if wrong."""
        if self.mode != REDIS_MODE:
            return True
        import redis

        shown = _redact_url(self.redis_url or "")
        try:
            check_redis_policy(self.broker.client, shown)  # type: ignore[attr-defined]
            return True
        except (redis.ConnectionError, redis.TimeoutError):
            if strict:
                raise JobsError(
                    f"Redis at {shown} is unreachable; start it or fix CARNET_REDIS_URL"
                ) from None
            log.warning(
                "Redis at %s is unreachable; jobs stay in the outbox until it is back", shown
            )
            return False

    def start_worker(self, threads: int | None = None, queues: set[str] | None = None) -> Worker:
        if self.worker is None:
            self.worker = Worker(
                self.broker,
                queues=queues,
                worker_threads=threads or self.config.worker_threads,
                worker_timeout=self.config.worker_timeout_ms,
            )
            self.worker.start()
        return self.worker

    def start(
        self,
        worker: bool = True,
        relay: bool = True,
        scheduler: bool = True,
        threads: int | None = None,
    ) -> None:
        """Start background threads (the web process in embedded mode, `carnet worker`)."""
        if worker:
            self.start_worker(threads)
        if relay and self.relay is not None:
            self.relay.start()
        if scheduler:
            if self.scheduler is None:
                self.scheduler = Scheduler(self.db, self.host, self.config)
            self.scheduler.start()

    def stop(self, timeout_ms: int = 30_000) -> None:
        """Stop the scheduler, the relay and the worker within `timeout_ms` in all: running jobs
        get what is left (Dramatiq waits that long twice: for its workers, then its consumers)."""
        deadline = time.monotonic() + timeout_ms / 1000

        def left() -> float:
            return max(0.1, deadline - time.monotonic())

        if self.scheduler is not None:
            self.scheduler.stop(left())
        if self.relay is not None:
            self.relay.stop(left())
        if self.worker is not None:
            self.worker.stop(timeout=int(left() * 1000 / 2))
            self.worker = None

    def close(self) -> None:
        self.stop()
        self.broker.close()


def setup_jobs(
    settings: Settings,
    host: PluginHost,
    db: Database,
    *,
    redis_url: str | None = None,
    config: JobsConfig | None = None,
    broker: dramatiq.Broker | None = None,
) -> JobsRuntime:
    """Build the broker for this process (before any actor), then declare plugin actors on it.

    `redis_url` overrides settings (tests); `broker` supplies a ready broker (it must carry an
    `OutboxMiddleware`).
    """
    config = config or jobs_config(settings.env)
    url = redis_url if redis_url is not None else settings.redis_url
    if broker is None:
        outbox = OutboxMiddleware(settings, host, db)
        broker, mode = build_broker(settings, config, outbox, redis_url=url or None)
    else:
        mode = REDIS_MODE if type(broker).__name__ == "RedisBroker" else IN_PROCESS_MODE
        dramatiq.set_broker(broker)
    runtime = JobsRuntime(
        settings=settings,
        host=host,
        db=db,
        config=config,
        broker=broker,
        mode=mode,
        redis_url=url or None,
    )
    runtime.actors = declare_actors(host, broker)
    runtime.relay = Relay(db, broker, config)
    if mode == REDIS_MODE:
        runtime.relay.before_publish.append(lambda: runtime.check_broker(strict=True))
    return runtime
