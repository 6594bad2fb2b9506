"""Transactional outbox: `enqueue` writes a row in the caller's transaction; the relay publishes it.

Nothing reaches the broker unless the caller's transaction commits. The relay claims due rows
under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a single conditional UPDATE on SQLite,
whose writers are serialised), publishes them, and marks them published. If the broker is down the
rows stay pending and are retried with backoff; a crash between publishing and marking only means
a second delivery, which idempotent actors absorb.

The relay's own writes (claims, marks, releases, re-drives) are bookkeeping, one statement each,
committed without waiting for the disk on PostgreSQL (`Database.bookkeeping`): losing one in a
database crash only brings a row back to an earlier state, and so a job delivered once more. The
outbox row itself is written in the caller's (durable) transaction.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from dramatiq import Message
from dramatiq.errors import ActorNotFound

from carnet_core.db.base import utcnow
from carnet_core.db.session import ACTORS, ENQUEUED, CarnetSession, Database
from carnet_core.jobs.config import JobsConfig, JobsError
from carnet_core.jobs.models import DONE, EXPIRED, FAILED, PENDING, PUBLISHED, OutboxMessage

if TYPE_CHECKING:
    from dramatiq import Broker

log = logging.getLogger("carnet.jobs.relay")

ACTOR_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
OUTBOX_ID_OPTION = "carnet_outbox_id"
CLINIC_ID_OPTION = "carnet_clinic_id"


def enqueue(db: CarnetSession, actor: str, *args: Any, **kwargs: Any) -> OutboxMessage:
    """Ask for `actor(*args, **kwargs)` to run once the caller's transaction commits."""
    return enqueue_with_options(db, actor, args=args, kwargs=kwargs)


def enqueue_with_options(
    db: CarnetSession,
    actor: str,
    *,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    not_before: datetime | None = None,
    clinic_id: int | None = None,
    max_age: timedelta | None = None,
) -> OutboxMessage:
    """Like `enqueue`, with options: run no earlier than `not_before` (UTC-aware), tag the job
    with `clinic_id` (default: the session's clinic), drop it when it is `max_age` past due."""
    if not ACTOR_NAME_RE.match(actor):
        raise JobsError(
            f"actor name '{actor}' must be '<plugin>.<name>' in lowercase, "
            "e.g. 'scheduling.send_reminder'"
        )
    declared = db.info.get(ACTORS)
    if declared is not None and actor not in declared:
        raise JobsError(
            f"no installed plugin declares the actor '{actor}', so no worker would ever run it; "
            f"a plugin declares '<plugin>.<name>' by returning ActorSpec('<name>', fn) from its "
            f"register_actors hook (declared: {', '.join(sorted(declared)) or 'none'})"
        )
    if not_before is not None and not_before.tzinfo is None:
        raise JobsError(
            "not_before must be a timezone-aware datetime (UTC), e.g. datetime.now(UTC)"
        )
    args = list(args)
    kwargs = dict(kwargs or {})
    try:
        encoded_args = json.dumps(args, separators=(",", ":"))
        encoded_kwargs = json.dumps(kwargs, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise JobsError(
            f"arguments of {actor} are not JSON-serialisable ({exc}); pass ids and plain values, "
            "and let the job reload what it needs"
        ) from None
    row = OutboxMessage(
        message_id=str(uuid.uuid4()),
        actor=actor,
        args=encoded_args,
        kwargs=encoded_kwargs,
        clinic_id=clinic_id if clinic_id is not None else db.clinic_id,
        not_before=not_before,
        max_age_ms=int(max_age.total_seconds() * 1000) if max_age is not None else None,
    )
    db.add(row)
    db.flush()
    db.info[ENQUEUED] = True  # wake this process's relays once the transaction commits
    return row


def _mark_published_statement() -> Any:
    t = OutboxMessage.__table__.c
    now = sa.bindparam("now", type_=t.published_at.type)
    return (
        sa.update(OutboxMessage.__table__)
        .where(
            t.id.in_(sa.bindparam("ids", expanding=True)),
            t.claimed_by == sa.bindparam("token", type_=t.claimed_by.type),
            t.status == PENDING,
        )
        .values(
            status=PUBLISHED,
            published_at=now,
            last_seen_at=now,
            claimed_by=None,
            claimed_until=None,
            publish_attempts=t.publish_attempts + 1,
        )
    )


# The published batch's mark (built once: see Relay._claim_statement)
_MARK_PUBLISHED = _mark_published_statement()


def declared_actors(host: Any) -> frozenset[str]:
    """The full names (`<plugin>.<name>`) of the actors the host's plugins declare."""
    return frozenset(
        f"{plugin}.{spec.name}" for plugin, specs in host.call_each("register_actors") for spec in specs or []
    )


def _to_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class Relay:
    """Publishes committed outbox rows to the broker. Safe to run in several processes."""

    def __init__(self, db: Database, broker: Broker, config: JobsConfig, name: str | None = None):
        self.db = db
        self.broker = broker
        self.config = config
        self.name = name or str(uuid.uuid4())
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._next_redrive = 0.0  # monotonic time of the next re-drive pass (the first pass does one)
        self.clock = time.monotonic
        self.broker_checked = False
        self.before_publish: list[Any] = []  # callables run once before the first publish
        self._claim: Any = None  # the claim statement, built at the first pass

    # -- claiming -----------------------------------------------------------------------------
    def _due_condition(self, now: Any) -> Any:
        t = OutboxMessage.__table__.c
        return sa.and_(
            t.status == PENDING,
            sa.or_(t.not_before.is_(None), t.not_before <= now),
            sa.or_(t.claimed_until.is_(None), t.claimed_until < now),
        )

    def _claim_statement(self) -> Any:
        """The claim, built once per relay with its values as parameters (`now`, `until`, `token`,
        `limit`): building it and its cache key on every pass cost more than running it."""
        statement = self._claim
        if statement is None:
            t = OutboxMessage.__table__.c
            now = sa.bindparam("now", type_=t.claimed_until.type)
            candidates = (
                sa.select(t.id)
                .where(self._due_condition(now))
                .order_by(t.id)
                .limit(sa.bindparam("limit", type_=sa.Integer))
            )
            if self.db.dialect == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            statement = self._claim = (
                sa.update(OutboxMessage.__table__)
                .where(t.id.in_(candidates.scalar_subquery()), self._due_condition(now))
                .values(claimed_by=sa.bindparam("token", type_=t.claimed_by.type),
                        claimed_until=sa.bindparam("until", type_=t.claimed_until.type))
                .returning(*OutboxMessage.__table__.c)
            )
        return statement

    def claim(self, limit: int | None = None) -> list[sa.Row[Any]]:
        """Claim due pending rows for this relay (committed before anything is published): the
        database's rows as they come (attribute access like `OutboxMessage`), not ORM objects,
        whose construction took a third of the relay's time."""
        now = utcnow()
        values = {"now": now, "until": now + timedelta(seconds=self.config.relay_lease),
                  "token": str(uuid.uuid4()), "limit": limit or self.config.relay_batch}
        # one statement claims and returns what it claimed (committed before anything is published)
        with self.db.bookkeeping() as s:
            claimed = s.execute(self._claim_statement(), values).all()
        # RETURNING gives rows in no set order: published in id order
        return sorted(claimed, key=lambda row: row.id)

    # -- publishing ---------------------------------------------------------------------------
    def message_for(self, row: Any) -> Message[Any]:
        actor = self.broker.get_actor(row.actor)
        born = row.created_at if row.not_before is None else max(row.created_at, row.not_before)
        options: dict[str, Any] = {OUTBOX_ID_OPTION: row.id}
        if row.clinic_id is not None:
            options[CLINIC_ID_OPTION] = row.clinic_id
        if row.max_age_ms is not None:
            options["max_age"] = row.max_age_ms
        return Message(
            queue_name=actor.queue_name,
            actor_name=row.actor,
            args=tuple(json.loads(row.args)),
            kwargs=json.loads(row.kwargs),
            options=options,
            message_id=row.message_id,
            message_timestamp=_to_millis(born),
        )

    def publish(self, rows: list[Any]) -> int:
        """Publish claimed rows; returns how many reached the broker. Stops at a broker error.

        The rows that reached the broker are marked published together, in one statement after the
        batch (or before the rest are released at a broker error): a crash before it leaves them
        pending under this relay's lease, published again once it expires (a second delivery,
        which idempotent actors absorb). A worker may start or finish a job before its row is
        marked: the mark touches only rows still pending, so it never undoes a job's "done"."""
        published: list[Any] = []
        try:
            for index, row in enumerate(rows):
                try:
                    message = self.message_for(row)
                except ActorNotFound:
                    self._release(
                        row,
                        f"no actor named {row.actor} is declared in this process; "
                        "is its plugin installed and allowed here?",
                        delay=300.0,
                    )
                    continue
                try:
                    for check in self.before_publish:
                        check()
                    self.before_publish.clear()
                    self.broker.enqueue(message)
                except Exception as exc:  # broker unreachable: keep every remaining row pending
                    self._failures += 1
                    delay = self.backoff()
                    log.warning(
                        "broker unavailable (%s); %d job(s) stay pending, next try in %.1fs",
                        type(exc).__name__,
                        len(rows) - index,
                        delay,
                    )
                    for pending in rows[index:]:
                        self._release(pending, f"publish failed: {type(exc).__name__}", delay=delay)
                    return len(published)
                published.append(row)
            self._failures = 0
            return len(published)
        finally:
            self._mark_published(published)

    def _mark_published(self, rows: list[Any]) -> None:
        if not rows:
            return
        with self.db.bookkeeping() as s:
            s.execute(_MARK_PUBLISHED, {"ids": [row.id for row in rows], "token": rows[0].claimed_by, "now": utcnow()})

    def backoff(self) -> float:
        """Seconds to wait after consecutive broker failures: 1, 2, 4 … up to 60."""
        return float(min(60, 2 ** max(0, self._failures - 1)))

    def _release(self, row: Any, error: str, delay: float) -> None:
        t = OutboxMessage.__table__.c
        with self.db.bookkeeping() as s:
            s.execute(
                sa.update(OutboxMessage.__table__)
                .where(t.id == row.id, t.claimed_by == row.claimed_by)
                .values(
                    claimed_by=None,
                    claimed_until=utcnow() + timedelta(seconds=delay),
                    last_error=error,
                    publish_attempts=t.publish_attempts + 1,
                )
            )

    def redrive(self) -> int:
        """Put back to pending the published jobs that showed no sign of life for too long
        (a message lost by the broker, a worker killed without its message being requeued)."""
        t = OutboxMessage.__table__.c
        cutoff = utcnow() - timedelta(seconds=self.config.redrive_after)
        with self.db.bookkeeping() as s:
            result = s.execute(
                sa.update(OutboxMessage.__table__)
                .where(t.status == PUBLISHED, t.last_seen_at < cutoff)
                .values(
                    status=PENDING,
                    claimed_by=None,
                    claimed_until=None,
                    last_error="re-driven: no sign of life from a worker",
                )
            )
            count = result.rowcount or 0
        if count:
            log.warning("re-driving %d published job(s) that no worker finished", count)
        return count

    @property
    def redrive_every(self) -> float:
        """Seconds between two re-drive passes: a tenth of CARNET_JOBS_REDRIVE_AFTER, at most a
        minute (a stale job is re-driven at most that late; each pass would otherwise be one
        more transaction a relay pass, every second)."""
        return min(60.0, self.config.redrive_after / 10)

    def run_once(self) -> int:
        """One pass: re-drive stale jobs (when `redrive_every` has passed since the last time),
        then claim and publish due rows; returns how many published."""
        if self.clock() >= self._next_redrive:
            self.redrive()
            self._next_redrive = self.clock() + self.redrive_every
        total = 0
        while True:
            rows = self.claim()
            if not rows:
                return total
            sent = self.publish(rows)
            total += sent
            # a batch that was not full left nothing due behind it: no second claim (a row committed
            # meanwhile goes with the next pass)
            if sent < len(rows) or len(rows) < self.config.relay_batch:
                return total

    # -- thread ---------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="carnet-relay", daemon=True)
        self._thread.start()
        # a commit in this process that enqueued jobs wakes the relay (the poll stays for jobs
        # enqueued by other processes, scheduled jobs and retries after a broker failure)
        self.db.relay_wakers.append(self.wake)

    def stop(self, timeout: float = 10.0) -> None:
        if self.wake in self.db.relay_wakers:
            self.db.relay_wakers.remove(self.wake)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
                # the broker is down: its backoff is waited out, whatever commits wake the relay
                backoff = self.backoff() if self._failures else 0.0
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                backoff = 5.0
            if backoff:
                self._stop.wait(max(self.config.relay_interval, backoff))
            else:
                # a wake-up (set before this wait, or during it) starts the next pass at once: the
                # commit that woke the relay came before, so that pass sees its rows
                self._wake.wait(self.config.relay_interval)
            self._wake.clear()


def outbox_counts(db: Database) -> dict[str, int]:
    """How many outbox rows are in each state (pending rows split into due and scheduled)."""
    t = OutboxMessage.__table__.c
    now = utcnow()
    counts = {PENDING: 0, "scheduled": 0, PUBLISHED: 0, DONE: 0, FAILED: 0, EXPIRED: 0}
    with db.session(unscoped=True) as s:
        for status, n in s.execute(sa.select(t.status, sa.func.count()).group_by(t.status)):
            counts[status] = n
        counts["scheduled"] = s.execute(
            sa.select(sa.func.count()).where(t.status == PENDING, t.not_before > now)
        ).scalar_one()
    counts[PENDING] -= counts["scheduled"]
    return counts
