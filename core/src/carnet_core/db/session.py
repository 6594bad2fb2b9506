"""Engine and sessions. Every session is either bound to one clinic or explicitly unscoped."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, orm
from sqlalchemy.sql import util as sql_util
from sqlalchemy.sql import visitors
from sqlmodel import Session
from sqlmodel.main import default_registry

from carnet_core.db.base import ClinicOwned

# Where carnet_core.audit.trace notes the sealed values a transaction opened.
TRACE_OPENS = "_trace_opens"
# Packages whose direct loads of patient rows fail (carnet_core.patients.guard); tests only.
PATIENT_GUARD = "carnet.patient_guard"
ACTORS = "carnet.actors"  # the actor names the installed plugins declare (enqueue refuses others)
# Set by carnet_core.jobs.enqueue: this transaction wrote outbox rows; once it commits, the relays
# running in this process (Database.relay_wakers) are woken instead of waiting for their next poll.
ENQUEUED = "carnet.enqueued"
RELAY_WAKERS = "carnet.relay_wakers"
# Set by `Database.session(durable=False)`: this session's transactions commit without waiting for
# the disk on PostgreSQL (`synchronous_commit = off` for each of them).
NOT_DURABLE = "carnet.not_durable"


class ScopeError(RuntimeError):
    """A clinic-owned table was touched by a session that is not bound to a clinic."""


class CarnetSession(Session):
    """A session carrying `info["clinic_id"]` (scoped) or `info["unscoped"]` (system work)."""

    @property
    def clinic_id(self) -> int | None:
        return self.info.get("clinic_id")


def _is_owned(mapper: Any) -> bool:
    return isinstance(mapper.class_, type) and issubclass(mapper.class_, ClinicOwned)


def _scope_queries(state: orm.ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return
    session = state.session
    clinic_id = session.info.get("clinic_id")
    if clinic_id is None and session.info.get("unscoped"):
        return
    statement = state.statement
    only = _single_table(statement)
    if only is not None:
        # The statement reads or writes that one table once (no join, alias or subquery): a plain
        # WHERE is the same criterion, without the cost of loader criteria (~0.1 ms a query).
        if only.name not in _owned_tables():
            return
        _refuse_unbound(clinic_id)
        state.statement = statement.where(only.c.clinic_id == clinic_id)
        return
    # Only the clinic-owned tables this statement touches (selected, joined, in subqueries or
    # targeted by an UPDATE/DELETE) get the criterion: one per touched table, not one per model.
    involved = _owned_of(_tables_in(statement))
    if not involved:
        return
    _refuse_unbound(clinic_id)
    state.statement = statement.options(*(_criteria(cls, clinic_id) for cls in involved))


_CRITERIA: dict[tuple[type, int], Any] = {}
_CRITERIA_MAX = 4096


def _criteria(cls: type, clinic_id: int) -> Any:
    """The loader criteria that bind `cls` to the clinic, built once per model and clinic (an
    option is immutable; building it analyses the lambda's closure each time)."""
    key = (cls, clinic_id)
    option = _CRITERIA.get(key)
    if option is None:
        if len(_CRITERIA) >= _CRITERIA_MAX:
            _CRITERIA.clear()
        option = _CRITERIA[key] = orm.with_loader_criteria(cls, _clinic_criterion(clinic_id), include_aliases=True)
    return option


def _clinic_criterion(clinic_id: int) -> Any:
    return lambda c: c.clinic_id == clinic_id


def _refuse_unbound(clinic_id: int | None) -> None:
    if clinic_id is None:
        raise ScopeError(
            "query on a clinic-owned table from a session bound to no clinic; "
            "use db.session(clinic_id=...) or db.session(unscoped=True) for system work"
        )


# Registered by plain calls, not decorators: mutmut (`make mutation`) skips decorated functions.
event.listen(CarnetSession, "do_orm_execute", _scope_queries)

_owned_cache: dict[str, type] | None = None


@event.listens_for(orm.Mapper, "instrument_class")
def _forget_owned_tables(mapper: Any, class_: Any) -> None:
    global _owned_cache
    _owned_cache = None  # a model was mapped (a plugin's, a test's): recompute on next use
    _CRITERIA.clear()


def _owned_tables() -> dict[str, type]:
    """Table name -> mapped ClinicOwned class (recomputed when new models are mapped)."""
    global _owned_cache
    if _owned_cache is None:
        _owned_cache = {m.local_table.name: m.class_ for m in default_registry.mappers if _is_owned(m)}
    return _owned_cache


_FILTERABLE = (sa.Select, sa.Update, sa.Delete)


def _single_table(statement: Any) -> sa.Table | None:
    """The one table of a SELECT, UPDATE or DELETE that reads or writes nothing else: no join,
    alias, subquery, CTE or other FROM, no loader option, a single table however often its columns
    appear (`find_tables` lists an entity's table twice in `select(Model)`); None otherwise. One
    walk of the statement, as `find_tables` makes (the same elements)."""
    if not isinstance(statement, _FILTERABLE) or statement._with_options:
        return None
    found: sa.Table | None = None
    for element in visitors.iterate(statement):
        if element is statement:
            continue
        if isinstance(element, sa.Table):
            if found is None:
                found = element
            elif element.name != found.name or element.schema != found.schema:
                return None
        elif isinstance(element, _NESTED) and not isinstance(element, sa.sql.functions.FunctionElement):
            return None  # a subquery, join, alias, CTE, VALUES, text as a FROM...
    return found


# Anything that nests a statement or brings another FROM (a function used as a column is a FromClause
# too, and its arguments are walked like the rest).
_NESTED = (sa.sql.selectable.FromClause, sa.sql.selectable.SelectBase, sa.sql.selectable.ScalarSelect,
           sa.sql.selectable.Exists, sa.sql.dml.UpdateBase)


def _tables_in(statement: Any) -> list[Any]:
    """Every table, alias and join the statement touches, once per occurrence."""
    return list(sql_util.find_tables(statement, include_aliases=True, include_joins=True, include_crud=True))


def _owned_of(tables: list[Any]) -> list[type]:
    owned = _owned_tables()
    found: dict[str, type] = {}
    for table in tables:
        base = getattr(table, "original", table)
        name = getattr(base, "name", None)
        if name in owned:
            found[name] = owned[name]
    return list(found.values())


def _stamp_clinic(session: CarnetSession, flush_context: Any, instances: Any) -> None:
    clinic_id = session.info.get("clinic_id")
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, ClinicOwned):
            continue
        if clinic_id is None:
            if session.info.get("unscoped"):
                if obj.clinic_id is None:
                    raise ScopeError(f"{type(obj).__name__} written without a clinic_id")
                continue
            raise ScopeError(f"{type(obj).__name__} written from a session bound to no clinic")
        if obj.clinic_id is None:
            obj.clinic_id = clinic_id
        elif obj.clinic_id != clinic_id:
            raise ScopeError(f"{type(obj).__name__} of clinic {obj.clinic_id} written from clinic {clinic_id}")


event.listen(CarnetSession, "before_flush", _stamp_clinic)


def _wake_relays(session: CarnetSession) -> None:
    """After a commit that enqueued jobs, wake this process's relays (a savepoint released is no
    commit yet). A relay woken for nothing finds nothing due; one not woken polls as before."""
    if session.in_nested_transaction() or not session.info.pop(ENQUEUED, False):
        return
    for wake in list(session.info.get(RELAY_WAKERS) or ()):
        wake()


def _forget_enqueued(session: CarnetSession, previous_transaction: Any) -> None:
    if not session.in_transaction():  # the whole transaction rolled back: its outbox rows with it
        session.info.pop(ENQUEUED, None)


event.listen(CarnetSession, "after_commit", _wake_relays)
event.listen(CarnetSession, "after_soft_rollback", _forget_enqueued)


@event.listens_for(CarnetSession, "after_begin")
def _bind_transaction(session: CarnetSession, transaction: Any, connection: Any) -> None:
    """PostgreSQL: tell the row-level security policies which clinic this transaction is bound to
    (`carnet.clinic_id`) or that it is explicitly unscoped (`carnet.unscoped`); both last until the
    transaction ends. A session bound to neither sees no clinic row, like the ORM refuses it."""
    if connection.dialect.name != "postgresql":
        return
    clinic_id = session.info.get("clinic_id")
    unscoped = clinic_id is None and bool(session.info.get("unscoped"))
    # SET LOCAL, not SELECT set_config(): a utility statement takes no snapshot, so a REPEATABLE
    # READ transaction still gets its snapshot at its first real statement (audit.begin_snapshot
    # relies on it). The values are an integer and a keyword, never text from outside.
    clinic = "" if clinic_id is None else str(int(clinic_id))
    # in the same round trip: the commit of a `durable=False` session does not wait for the disk
    not_durable = "; SET LOCAL synchronous_commit = off" if session.info.get(NOT_DURABLE) else ""
    connection.exec_driver_sql(
        f"SET LOCAL carnet.clinic_id = '{clinic}'; SET LOCAL carnet.unscoped = '{'on' if unscoped else 'off'}'"
        f"{not_durable}"
    )


# A statement waiting longer than this for a lock another transaction holds fails (SQLite's busy
# timeout, PostgreSQL's lock_timeout), and the request answers 503 + Retry-After with nothing
# changed, instead of holding a connection and a thread indefinitely. Migrations on PostgreSQL wait
# as long as they must.
LOCK_TIMEOUT_S = 30.0


def make_engine(url: str, lock_timeout: float = LOCK_TIMEOUT_S, role: str | None = None, bookkeeping: bool = False,
                **kwargs: Any) -> sa.Engine:
    """An engine for `url`; on PostgreSQL, `role` makes every connection `SET ROLE` to it (the
    application role that row-level security applies to, see CARNET_DATABASE_ROLE), and
    `bookkeeping` makes a small pool of autocommit connections whose commits do not wait for the
    disk (`Database.bookkeeping`, PostgreSQL only)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": lock_timeout}, hide_parameters=True,
            # as many connections as Litestar's worker threads (40): requests never wait for one
            pool_size=10, max_overflow=30, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # The sqlite3 module opens a transaction just before the first write; make it take the
            # write lock at once (BEGIN IMMEDIATE, waiting up to busy_timeout). A deferred BEGIN
            # reads first and fails at once with "database is locked" when another writer
            # commits in between (a stale WAL snapshot cannot be upgraded), which concurrent
            # requests hit.
            dbapi_conn.isolation_level = "IMMEDIATE"
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "savepoint")
        def _savepoint(conn: Any, name: str) -> None:
            # The sqlite3 module opens a transaction only before its first write, so a SAVEPOINT
            # taken earlier would start (and its RELEASE commit) a transaction of its own. Open
            # the real one first. Reads stay outside a write lock until the first write, which
            # keeps concurrent requests from failing on a lock upgrade.
            raw = conn.connection.dbapi_connection
            if not raw.in_transaction:
                raw.execute("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    options = f"-c lock_timeout={int(lock_timeout * 1000)}"
    if bookkeeping:
        options += " -c synchronous_commit=off"
        kwargs = {"isolation_level": "AUTOCOMMIT", "pool_size": 2, **kwargs}
    engine = sa.create_engine(
        url, **{"pool_size": 10, "pool_recycle": POOL_RECYCLE_S, **kwargs}, max_overflow=30, hide_parameters=True,
        connect_args={"options": options}
    )
    event.listen(engine, "checkin", _note_checkin)

    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        _ping_if_idle(engine.dialect, dbapi_conn, record)

    event.listen(engine, "checkout", _checkout)
    if role:

        @event.listens_for(engine, "connect")
        def _set_role(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute(f'SET ROLE "{role}"')  # validated as an identifier by the settings
            dbapi_conn.commit()

    event.listen(engine, "handle_error", _values_out_of_errors)
    return engine


# PostgreSQL connections: one idle in the pool longer than PING_AFTER_IDLE_S is pinged when checked
# out (a dead one is replaced, and the pool renewed, before the caller's transaction starts); one
# back in use sooner is not (a busy process pays no round trip per transaction). None lives longer
# than POOL_RECYCLE_S. See docs/OPERATIONS.md, "Database connections".
PING_AFTER_IDLE_S = 10.0
POOL_RECYCLE_S = 3600
_CHECKED_IN = "carnet.checked_in"


def _note_checkin(dbapi_conn: Any, record: Any) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_conn: Any, record: Any) -> None:
    """Checkout: ping a connection that sat idle (a fresh one has no check-in yet). A failed ping
    raises InvalidatePoolError: the pool discards every connection older than now (a server restart
    took them all) and hands out a new one; the caller never sees the dead connection."""
    since = record.info.get(_CHECKED_IN)
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
        return
    try:
        alive = dialect.do_ping(dbapi_conn)
    except Exception as exc:  # the driver's error for a closed connection or a restarted server
        raise sa.exc.InvalidatePoolError(f"idle connection found dead on checkout: {type(exc).__name__}") from exc
    if not alive:
        raise sa.exc.InvalidatePoolError("idle connection found dead on checkout")


def _values_out_of_errors(context: Any) -> None:
    """PostgreSQL puts the offending values in an error's DETAIL line ("Key (clinic_id, email)=(3,
    x@y.fr) already exists."); `hide_parameters` does not reach it. Drop that line from the error
    and from the driver's error it wraps, so a logged error never carries what was written (code
    that needs it still has `orig.diag.message_detail`)."""
    for exc in (context.sqlalchemy_exception, context.original_exception):
        drop_values(exc)


def drop_values(exc: BaseException | None) -> None:
    """Remove the DETAIL line (the values written) from a database error's message, in place: for
    errors of statements run on the driver's connection directly, which `handle_error` never sees."""
    if exc is not None and exc.args and isinstance(exc.args[0], str) and "DETAIL:" in exc.args[0]:
        kept = [line for line in exc.args[0].splitlines() if not line.lstrip().startswith("DETAIL:")]
        exc.args = ("\n".join(kept), *exc.args[1:])


class Database:
    """Owns the engine; hands out clinic-bound or explicitly unscoped sessions."""

    def __init__(
        self, url: str, engine: sa.Engine | None = None, lock_timeout: float = LOCK_TIMEOUT_S, role: str | None = None
    ):
        self.url = url
        self.engine = engine or make_engine(url, lock_timeout=lock_timeout, role=role)
        self._lock_timeout, self._role = lock_timeout, role
        self._bookkeeping_engine: sa.Engine | None = None
        self._bookkeeping_lock = threading.Lock()
        self._factory = orm.sessionmaker(
            bind=self.engine, class_=CarnetSession, expire_on_commit=False
        )
        # The process keyring (carnet_core.encryption.install_keyring); sessions carry it.
        self.keyring: Any = None
        # Announces committed audit records (carnet_core.audit.events.install_audit_notifier).
        self.audit_notifier: Any = None
        # Plugin packages that may not load patient rows themselves (carnet_core.patients.guard).
        self.patient_guard: frozenset[str] | None = None
        # Actors the process's plugins declare (carnet_core.process.prepare_database); None: unchecked.
        self.actors: frozenset[str] | None = None
        # Whether this process already checked that row-level security applies (process.warn_rls_bypass).
        self.rls_checked = False
        # Wake-ups of the outbox relays running in this process (Relay.start adds its own): called
        # after a commit that enqueued jobs, so a job is published at once, not at the next poll.
        self.relay_wakers: list[Any] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def new_session(self, clinic_id: int | None = None, unscoped: bool = False, durable: bool = True) -> CarnetSession:
        session = self._factory()
        if not durable:
            session.info[NOT_DURABLE] = True
        if self.keyring is not None:
            session.info["carnet.keyring"] = self.keyring
        if self.audit_notifier is not None:
            session.info["audit_notifier"] = self.audit_notifier
        if self.patient_guard:
            session.info[PATIENT_GUARD] = self.patient_guard
        if self.actors is not None:
            session.info[ACTORS] = self.actors
        session.info[RELAY_WAKERS] = self.relay_wakers
        if clinic_id is not None:
            session.info["clinic_id"] = clinic_id
        elif unscoped:
            session.info["unscoped"] = True
        return session

    @contextmanager
    def session(self, clinic_id: int | None = None, unscoped: bool = False,
                durable: bool = True) -> Iterator[CarnetSession]:
        """A unit of work: commits when the block ends, rolls back on any exception.

        `durable=False` (PostgreSQL; SQLite in WAL with synchronous=NORMAL never waits for the disk
        at a commit): the commit does not wait for the disk. It is visible at once and reaches the
        disk within a fraction of a second (the WAL writer) or with the next durable commit of any
        session, which flushes the WAL up to itself; a database crash in between loses it together
        with every commit after it, never one without the others (so an audit chain it appended to
        keeps no gap). Only for a transaction whose loss makes its job run again, harmlessly: a
        job's record of an effect it made under an idempotency key, whose outbox row (marked done
        after it, so lost with it) brings the job back to make the effect again under the same key.
        """
        session = self.new_session(clinic_id=clinic_id, unscoped=unscoped, durable=durable)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            _keep_opens(session)
            raise
        finally:
            session.close()

    @contextmanager
    def bookkeeping(self) -> Iterator[sa.Connection]:
        """A connection for the jobs machinery's own bookkeeping, each statement committed on its
        own without waiting for the disk on PostgreSQL.

        Only for rows whose loss in a database crash means a job delivered once more, never for
        data: the outbox's claims and marks (published, started, done, expired), releases and
        re-drives, each one statement on the outbox (not clinic-owned: no row-level security
        setting to carry). On PostgreSQL the connection comes from a small pool of its own, in
        autocommit (no BEGIN and COMMIT round trips) with `synchronous_commit = off`: a commit
        is visible at once and reaches the disk within a fraction of a second (the WAL writer), or
        with the next ordinary commit, which flushes the WAL up to itself. A crash in between can
        only roll a row back to an earlier state: a claimed row claimable again, a published or
        done row published again; jobs are at-least-once and safe to run twice (their effects,
        under an idempotency key, are committed durably in the job's own transaction). The
        caller's data, the audit trail, billing and every business row stay in ordinary, durable
        transactions (`session`). On SQLite (WAL, synchronous=NORMAL: no commit waits for the
        disk) the block is one ordinary transaction.
        """
        if self.dialect != "postgresql":
            with self.engine.begin() as conn:
                yield conn
            return
        with self._bookkeeping_lock:
            if self._bookkeeping_engine is None:
                self._bookkeeping_engine = make_engine(self.url, lock_timeout=self._lock_timeout, role=self._role,
                                                       bookkeeping=True)
        with self._bookkeeping_engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
        if self._bookkeeping_engine is not None:
            self._bookkeeping_engine.dispose()


def _keep_opens(session: CarnetSession) -> None:
    """Sealed values opened by a unit of work that failed were seen all the same: trace them."""
    if session.info.get(TRACE_OPENS):
        from carnet_core.audit.trace import keep_opens_after_rollback

        keep_opens_after_rollback(session)
