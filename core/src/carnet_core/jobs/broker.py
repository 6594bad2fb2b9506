"""Broker set-up per process, the middleware that ties messages to the outbox, actor declaration.

The broker is built from settings before any actor exists; plugin actors are declared from their
`register_actors()` hook as `<plugin>.<name>` on queue `<plugin>`, bound to that broker explicitly.
"""

from __future__ import annotations

import inspect
import json
import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dramatiq
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    SkipMessage,
    TimeLimit,
)

from carnet_core.db.base import utcnow
from carnet_core.jobs.config import JobsConfig, JobsError
from carnet_core.jobs.context import JobContext, set_current
from carnet_core.jobs.models import (
    DONE,
    EXPIRED,
    FAILED,
    PENDING,
    PUBLISHED,
    FailedJob,
    OutboxMessage,
)
from carnet_core.jobs.outbox import ACTOR_NAME_RE, CLINIC_ID_OPTION, OUTBOX_ID_OPTION

if TYPE_CHECKING:
    from carnet_core.db.session import Database
    from carnet_core.plugins import PluginHost
    from carnet_core.settings import Settings

log = logging.getLogger("carnet.jobs")

REDIS_MODE = "redis"
IN_PROCESS_MODE = "in-process"


class InProcessBroker(StubBroker):
    """Dramatiq's in-memory broker, used by the embedded default (web process runs the worker).

    Failed messages are kept in the database by `OutboxMiddleware`, not in memory.
    """

    def __init__(self, middleware: list[Middleware] | None = None):
        super().__init__(middleware, fail_fast_default=False)
        self.dead_letters_by_queue = _Discard()  # type: ignore[assignment]


class _Discard(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> list[Any]:
        return _NullList()


class _NullList(list):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        pass


def _bookkeeping_statements() -> tuple[Any, Any]:
    """A job's start and finish marks, built once with their values as parameters (building a
    statement and its cache key for each job cost more than running it)."""
    t = OutboxMessage.__table__.c
    message_id = sa.bindparam("job", type_=t.message_id.type)
    now = sa.bindparam("now", type_=t.last_seen_at.type)
    start = (
        sa.update(OutboxMessage.__table__)
        .where(t.message_id == message_id, t.status.in_((PENDING, PUBLISHED)))
        .values(last_seen_at=now, runs=t.runs + 1)
        .returning(t.status)
    )
    finish = (
        sa.update(OutboxMessage.__table__)
        .where(t.message_id == message_id)
        .values(status=sa.bindparam("outcome", type_=t.status.type), finished_at=now,
                last_error=sa.bindparam("error", type_=t.last_error.type))
    )
    return start, finish


_START, _FINISH = _bookkeeping_statements()


class OutboxMiddleware(Middleware):
    """Skips messages whose job is already done, exposes the job context to actors, marks the
    outbox row done or failed, and keeps jobs that exhausted their retries in `core_failed_job`."""

    def __init__(self, settings: Settings, host: PluginHost, db: Database):
        self.settings = settings
        self.host = host
        self.db = db
        self._retries: dict[str, int] = {}  # retries made before the attempt in progress

    def _start(self, message_id: str) -> str | None:
        """Count a run of the job and note its sign of life, unless it is finished; returns the
        outbox row's state (None: no row). One bookkeeping statement (`Database.bookkeeping`):
        the UPDATE touches only a row still pending or published (a fast worker may see the row
        before the relay marked it published) and says so; only when it touched nothing is the
        state read, to tell a finished job (skipped) from a message of no outbox row (run)."""
        t = OutboxMessage.__table__.c
        with self.db.bookkeeping() as s:
            touched = s.execute(_START, {"job": message_id, "now": utcnow()}).scalar_one_or_none()
            if touched is not None:
                return str(touched)
            return s.execute(sa.select(t.status).where(t.message_id == message_id)).scalar_one_or_none()

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        outbox_id = message.options.get(OUTBOX_ID_OPTION)
        if outbox_id is not None:
            state = self._start(message.message_id)
            if state in (DONE, FAILED, EXPIRED):
                log.info("job %s already %s; skipping a redelivery", message.message_id, state)
                raise SkipMessage("job already finished")
        job = JobContext(
            message_id=message.message_id,
            actor=message.actor_name,
            retries=message.options.get("retries", 0),
            clinic_id=message.options.get(CLINIC_ID_OPTION),
            outbox_id=outbox_id,
            settings=self.settings,
            host=self.host,
            db=self.db,
        )
        self._retries[message.message_id] = job.retries
        set_current(job)

    def _touch(self, message_id: str, error: str) -> None:
        """A sign of life after a failed attempt that will be retried (bookkeeping)."""
        t = OutboxMessage.__table__.c
        with self.db.bookkeeping() as s:
            s.execute(
                sa.update(OutboxMessage.__table__)
                .where(t.message_id == message_id, t.status.in_((PENDING, PUBLISHED)))
                .values(last_seen_at=utcnow(), last_error=error)
            )

    def _finish(self, message_id: str, status: str, error: str | None = None) -> None:
        # Bookkeeping (see Database.bookkeeping): lost in a database crash, the row goes back to
        # published and is re-driven; the job's effect, committed durably under its idempotency
        # key, is not made twice. A job that failed for good is kept durably (_record_failure).
        with self.db.bookkeeping() as s:
            s.execute(_FINISH, {"job": message_id, "outcome": status, "now": utcnow(), "error": error})

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        set_current(None)
        retries = self._retries.pop(message.message_id, message.options.get("retries", 0))
        try:
            if exception is None:
                self._finish(message.message_id, DONE)
            elif message.failed:
                self._record_failure(message, exception, retries)
            else:
                self._touch(message.message_id, error=_describe(exception))
        except Exception:
            # The database is unreachable: the broker's redelivery or the relay's re-drive will
            # bring this job back, and its idempotency key keeps the effect single.
            log.exception("could not record the outcome of job %s", message.message_id)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        set_current(None)
        self._retries.pop(message.message_id, None)
        if message.failed:  # AgeLimit: too late to be useful
            try:
                self._finish(message.message_id, EXPIRED, "too old to run (max_age)")
            except Exception:
                log.exception("could not record the expiry of job %s", message.message_id)

    def _record_failure(self, message: Any, exception: BaseException, retries: int) -> None:
        error = _describe(exception)
        with self.db.session(unscoped=True) as s:
            s.add(
                FailedJob(
                    message_id=message.message_id,
                    actor=message.actor_name,
                    queue=message.queue_name.removesuffix(".DQ"),
                    args=json.dumps(list(message.args)),
                    kwargs=json.dumps(message.kwargs),
                    clinic_id=message.options.get(CLINIC_ID_OPTION),
                    retries=retries,
                    error=error,
                    traceback=_stack(exception),
                )
            )
            t = OutboxMessage.__table__.c
            s.execute(
                sa.update(OutboxMessage.__table__)
                .where(t.message_id == message.message_id)
                .values(status=FAILED, finished_at=utcnow(), last_error=error)
            )
        log.error(
            "job %s (%s) failed after %d retries", message.message_id, message.actor_name, retries
        )


def _describe(exception: BaseException) -> str:
    """Type and first line of the message, with contact details and tokens masked: the row is
    shown to operators and an actor's error text could quote what it was handling."""
    from carnet_core.logs import scrub

    text = str(exception).strip().splitlines()[0] if str(exception).strip() else ""
    return scrub(f"{type(exception).__name__}: {text}"[:1000]) if text else type(exception).__name__


def _stack(exception: BaseException) -> str:
    """Where it failed (file, line, function), without the exception's text or local values."""
    frames = traceback.extract_tb(exception.__traceback__, limit=30)
    lines = [f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames]
    return "\n".join(["Traceback (most recent call last):", *lines, type(exception).__name__])


def middleware_for(config: JobsConfig, outbox: OutboxMiddleware | None) -> list[Middleware]:
    """Dramatiq's default stack, with our outbox middleware placed so it sees the retry verdict."""
    stack: list[Middleware] = [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
    ]
    if outbox is not None:
        stack.append(outbox)
    # after_* hooks run in reverse order: Retries decides (message.fail()) before the outbox
    # middleware records the outcome.
    stack.append(Retries(min_backoff=config.min_backoff_ms, max_backoff=config.max_backoff_ms))
    return stack


def redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(
        url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30
    )


def check_redis_policy(client: Any, url_shown: str) -> None:
    """Refuse a Redis that may evict queued jobs. Raises JobsError; connection errors propagate."""
    import redis

    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except redis.ResponseError:
        log.warning(
            "cannot read maxmemory-policy from Redis at %s (CONFIG disabled?); make sure it "
            "is 'noeviction' or queued jobs may be silently dropped",
            url_shown,
        )
        return
    if policy != "noeviction":
        raise JobsError(
            f"Redis at {url_shown} has maxmemory-policy '{policy}', which may evict queued jobs; "
            "set "
            "'maxmemory-policy noeviction' in redis.conf (or run `CONFIG SET maxmemory-policy "
            "noeviction` and `CONFIG REWRITE`), then start again"
        )


def build_broker(
    settings: Settings,
    config: JobsConfig,
    outbox: OutboxMiddleware | None,
    redis_url: str | None = None,
) -> tuple[dramatiq.Broker, str]:
    """The process's broker: Redis when CARNET_REDIS_URL is set, else in-process. Also made the
    Dramatiq global broker, so nothing silently falls back to a default one."""
    url = redis_url if redis_url is not None else settings.redis_url
    stack = middleware_for(config, outbox)
    if url:
        from dramatiq.brokers.redis import RedisBroker

        broker: dramatiq.Broker = RedisBroker(
            client=redis_client(url),
            middleware=stack,
            namespace=config.namespace,
            heartbeat_timeout=config.heartbeat_timeout_ms,
            maintenance_chance=config.maintenance_chance,
        )
        mode = REDIS_MODE
    else:
        broker = InProcessBroker(middleware=stack)
        mode = IN_PROCESS_MODE
    dramatiq.set_broker(broker)
    return broker, mode


def declare_actors(
    host: PluginHost, broker: dramatiq.Broker | None
) -> dict[str, dramatiq.Actor[Any, Any]]:
    """Declare every plugin's `register_actors()` as `<plugin>.<name>` on queue `<plugin>`."""
    if broker is None:
        raise JobsError(
            "no broker is configured: build the jobs runtime (carnet_core.jobs.setup_jobs) before "
            "declaring actors"
        )
    actors: dict[str, dramatiq.Actor[Any, Any]] = {}
    for plugin, specs in host.call_each("register_actors"):
        for spec in specs or []:
            name = f"{plugin}.{spec.name}"
            if not ACTOR_NAME_RE.match(name):
                raise JobsError(
                    f"plugin '{plugin}' declares actor '{spec.name}'; use lowercase letters, "
                    "digits and underscores"
                )
            if name in actors:
                raise JobsError(f"plugin '{plugin}' declares actor '{spec.name}' twice")
            options: dict[str, Any] = {
                "max_retries": spec.max_retries,
                "time_limit": spec.time_limit_ms,
            }
            if spec.max_age_ms is not None:
                options["max_age"] = spec.max_age_ms
            actors[name] = dramatiq.Actor(
                _bind_job(spec.fn),
                broker=broker,
                actor_name=name,
                queue_name=spec.queue or plugin,
                priority=0,
                options=options,
            )
    return actors


def _bind_job(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Pass the running job as `job=` to functions that declare such a parameter."""
    try:
        wants_job = "job" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        wants_job = False
    if not wants_job:
        return fn

    def run(*args: Any, **kwargs: Any) -> Any:
        from carnet_core.jobs.context import current_job

        return fn(*args, job=current_job(), **kwargs)

    run.__name__ = getattr(fn, "__name__", "job")
    run.__module__ = getattr(fn, "__module__", __name__)
    run.__qualname__ = getattr(fn, "__qualname__", "job")
    return run
