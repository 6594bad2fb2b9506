"""Writing audit records in the caller's transaction, and reading them back.

`record(db, action=..., resource_type=...)` appends one record to the clinic's hash chain in the
session's current transaction: if the action's transaction rolls back, so does its record, and
if the record cannot be written the action fails with it. Call it once the action's own writes
are done: appending locks the clinic's chain head until the transaction ends.
"""

from __future__ import annotations

import json
import logging
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import col, select

from carnet_core.audit.chain import GENESIS, canonical, canonical_columns, canonical_json, chain_hash, iso_utc
from carnet_core.audit.models import AuditHead, AuditRecord
from carnet_core.db.base import utcnow
from carnet_core.db.session import CarnetSession, ScopeError, drop_values

log = logging.getLogger("carnet.audit")

ACTOR_KINDS = ("user", "token", "patient_link", "job", "system", "anonymous")
OUTCOMES = ("success", "failure", "denied")
# Common actions; others are allowed if they look like an identifier ("sign", "send", …).
ACTIONS = (
    "read", "list", "search", "create", "update", "delete", "export", "import", "login",
    "logout", "login_failed", "erase", "purge", "checkpoint", "rotate", "rewrap", "use",
)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_.]{0,31}$")
_RESOURCE_RE = re.compile(r"^[a-z][a-z0-9_.]{0,62}$")
MAX_DETAILS_BYTES = 2048

# Session info keys (per transaction state; cleared at commit and rollback).
_HEADS = "_audit_heads"
_PENDING = "_audit_pending"
_AT_COMMIT = "_audit_at_commit"  # records of record_at_commit, appended with the trace's batch
_MARKS = "_audit_at_commit_marks"  # {savepoint transaction: how many were queued when it began}
# (clinic, patient id) and (clinic, resource type, resource id) named by this transaction's records.
NAMED = "_audit_named"
NOTIFIER = "audit_notifier"  # a callable(events, session_info) set by the process (see events.py)


class AuditError(RuntimeError):
    """An audit record could not be written or was refused; the action must fail with it."""


@dataclass(frozen=True)
class Actor:
    kind: str
    id: str | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class AuditEvent:
    """What `audit_event` observers receive once the record's transaction has committed."""

    id: int
    clinic_id: int
    seq: int
    occurred_at: datetime
    actor_kind: str
    actor_id: str | None
    actor_user_id: int | None
    patient_id: int | None
    resource_type: str
    resource_id: str | None
    action: str
    outcome: str
    address: str | None
    request_id: str | None
    details: dict[str, Any] = field(default_factory=dict)  # read-only: records of a batch may share it
    hash: str = ""


def resolve_actor(actor: Any, info: dict[str, Any]) -> Actor:
    """`actor` as given ("job:reminders", "system", "user:12", a Principal) or the session's."""
    if actor is None:
        actor = info.get("principal")
        if actor is None:
            raise AuditError(
                "no actor: outside a web request pass actor='job:<name>', 'system:<what>' "
                "or 'user:<id>' to audit.record"
            )
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, str):
        kind, _, ident = actor.partition(":")
        if kind not in ACTOR_KINDS:
            raise AuditError(f"actor '{actor}': the kind must be one of {', '.join(ACTOR_KINDS)}")
        user_id = None
        if kind == "user":
            if not ident.isdigit():
                raise AuditError(f"actor '{actor}': a user actor is 'user:<numeric id>'")
            user_id = int(ident)
        return Actor(kind, ident[:128] or None, user_id)
    # A carnet_core.web.principal.Principal (duck-typed: services do not import the web layer).
    kind = getattr(actor, "kind", None)
    if kind not in ACTOR_KINDS:
        raise AuditError(f"cannot audit an actor of kind {kind!r}")
    user_id = getattr(actor, "user_id", None)
    extra = getattr(actor, "extra", None) or {}
    if kind == "user":
        ident = user_id
    elif kind == "token":
        ident = extra.get("token_id", user_id)
    elif kind == "patient_link":
        ident = extra.get("link_id") or extra.get("actor_id")
    else:
        ident = extra.get("actor_id")
    return Actor(kind, None if ident is None else str(ident)[:128], user_id if kind in ("user", "token") else None)


def _clinic_of(db: CarnetSession, clinic_id: int | None) -> int:
    bound = db.info.get("clinic_id")
    if clinic_id is None:
        if bound is None:
            raise AuditError("no clinic: bind the session to a clinic or pass clinic_id=")
        return bound
    if bound is not None and bound != clinic_id:
        raise ScopeError(f"audit record for clinic {clinic_id} written from a session of clinic {bound}")
    return clinic_id


def _details_text(details: dict[str, Any] | None) -> str:
    if details is None:
        return "{}"
    if not isinstance(details, dict):
        raise AuditError("details must be a small JSON object (dict)")
    try:
        text = canonical_json(details)
    except (TypeError, ValueError) as exc:
        raise AuditError(f"details must be JSON-serialisable: {exc}") from None
    if len(text.encode("utf-8")) > MAX_DETAILS_BYTES:
        raise AuditError(f"details exceed {MAX_DETAILS_BYTES} bytes; keep them to ids and counts")
    return text


_TABLE = AuditRecord.__table__  # type: ignore[attr-defined]
_WRITTEN = tuple(c.name for c in _TABLE.c if c.name != "id")  # every column but the id, table order
_GET = tuple(operator.itemgetter(name) for name in _WRITTEN)


@dataclass(frozen=True)
class _Statements:
    """The audit trail's statements for one database dialect, run on the driver's connection of
    the session's transaction: a page appends 40 records or more, and the ORM's per-statement work
    (compiling, binding each value, building results) cost more than writing them."""

    bump: str  # UPDATE ... RETURNING: takes the chain head's lock first, then reads it
    create: str
    set_head: str
    insert: str
    insert_returning: str
    ids: str
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, the dialect's bind processor)


_STATEMENTS: dict[tuple[str, str], _Statements | None] = {}


def _statements(conn: sa.Connection) -> _Statements | None:
    """The dialect's statements; None for a driver whose parameter style is not positional."""
    dialect = conn.dialect
    key = (dialect.name, dialect.paramstyle)
    if key not in _STATEMENTS:
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
        found = None
        if mark is not None:
            # Written with "?" and given the driver's placeholder: the text holds only the
            # model's column names, never a value.
            insert = "INSERT INTO core_audit (%s) VALUES (%s)" % (", ".join(_WRITTEN), ", ".join("?" * len(_WRITTEN)))  # noqa: S608, UP031
            converters = []
            for position, name in enumerate(_WRITTEN):
                # What SQLAlchemy would bind: UTCDateTime's conversion, then the dialect's (SQLite
                # stores text).
                process = _TABLE.c[name].type._cached_bind_processor(dialect)
                if process is not None:
                    converters.append((position, _faster(process, dialect.name, name)))
            found = _Statements(
                bump=("UPDATE core_audit_head SET seq = seq + 1 WHERE clinic_id = ? "
                      "RETURNING seq, hash").replace("?", mark),
                create=("INSERT INTO core_audit_head (clinic_id, seq, hash) VALUES (?, 0, ?) "
                        "ON CONFLICT (clinic_id) DO NOTHING").replace("?", mark),
                set_head="UPDATE core_audit_head SET seq = ?, hash = ? WHERE clinic_id = ?".replace("?", mark),
                insert=insert.replace("?", mark),
                insert_returning=(insert + " RETURNING id").replace("?", mark),
                ids=("SELECT id FROM core_audit WHERE clinic_id = ? AND seq BETWEEN ? AND ? "
                     "ORDER BY seq").replace("?", mark),
                converters=tuple(converters),
            )
        _STATEMENTS[key] = found
    return _STATEMENTS[key]


def _sqlite_time(value: datetime) -> str:
    """SQLAlchemy's SQLite text of a UTC-aware time ("YYYY-MM-DD HH:MM:SS.ffffff", UTC), written
    by datetime itself (SQLAlchemy formats a dict of its fields, several times slower)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given where a UTC-aware one is required")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_SAMPLES = (datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(2027, 3, 28, 3, 0, tzinfo=UTC))


def _faster(process: Callable[[Any], Any], dialect: str, column: str) -> Callable[[Any], Any]:
    """The SQLite time writer above in place of SQLAlchemy's processor when they agree."""
    if dialect == "sqlite" and column == "occurred_at" and all(_sqlite_time(v) == process(v) for v in _SAMPLES):
        return _sqlite_time
    return process


def _driver(conn: sa.Connection) -> Any:
    """The driver's connection under `conn` (sqlite3, psycopg), in the session's transaction."""
    return conn.connection.driver_connection


def _lock_head(conn: sa.Connection, clinic_id: int) -> tuple[int, str]:
    """Take the clinic's chain head for this transaction; returns (next seq, previous hash).

    The UPDATE is the first statement so that it takes the write lock before reading: a row
    lock on PostgreSQL (concurrent writers wait for our commit), the database write lock on
    SQLite (so the head read is never a stale snapshot).
    """
    sql = _statements(conn)
    if sql is None:
        row = _lock_head_orm(conn, clinic_id)
    else:
        raw = _driver(conn)
        row = raw.execute(sql.bump, (clinic_id,)).fetchone()
        if row is None:
            raw.execute(sql.create, (clinic_id, GENESIS))
            row = raw.execute(sql.bump, (clinic_id,)).fetchone()
    if row is None:
        raise AuditError(f"could not create the audit chain head of clinic {clinic_id}")
    return int(row[0]), str(row[1])


# The same statements through SQLAlchemy, for a driver whose parameters are not positional.
_INSERT = sa.insert(_TABLE)
_BUMP_HEAD = sa.text(
    "UPDATE core_audit_head SET seq = seq + 1 WHERE clinic_id = :clinic_id RETURNING seq, hash"
)
_CREATE_HEAD = sa.text(
    "INSERT INTO core_audit_head (clinic_id, seq, hash) VALUES (:clinic_id, 0, :hash) "
    "ON CONFLICT (clinic_id) DO NOTHING"
)
_SET_HEAD = sa.text("UPDATE core_audit_head SET seq = :seq, hash = :hash WHERE clinic_id = :clinic_id")
_IDS = (
    sa.select(_TABLE.c.id)
    .where(_TABLE.c.clinic_id == sa.bindparam("clinic_id"),
           _TABLE.c.seq.between(sa.bindparam("first"), sa.bindparam("last")))
    .order_by(_TABLE.c.seq)
)


def _lock_head_orm(conn: sa.Connection, clinic_id: int) -> Any:
    row = conn.execute(_BUMP_HEAD, {"clinic_id": clinic_id}).first()
    if row is None:
        conn.execute(_CREATE_HEAD, {"clinic_id": clinic_id, "hash": GENESIS})
        row = conn.execute(_BUMP_HEAD, {"clinic_id": clinic_id}).first()
    return row


def _write(conn: sa.Connection, batch: list[dict[str, Any]], ids_wanted: bool = True) -> list[int] | None:
    """Insert the chained rows of one clinic and move its head to the last; returns their ids
    (None when not `ids_wanted` and the driver counted every row inserted: nothing reads them)."""
    clinic, first, last = batch[0]["clinic_id"], batch[0], batch[-1]
    sql = _statements(conn)
    if sql is None:
        conn.execute(_INSERT, batch)
        ids = list(conn.execute(_IDS, {"clinic_id": clinic, "first": first["seq"], "last": last["seq"]}).scalars())
        conn.execute(_SET_HEAD, {"clinic_id": clinic, "seq": last["seq"], "hash": last["hash"]})
        return ids
    rows = []
    converted: dict[tuple[int, int], Any] = {}  # the records of a batch often share their time
    for fields in batch:
        row = [get(fields) for get in _GET]
        for position, process in sql.converters:
            value = row[position]
            slot = (position, id(value))  # the batch holds each value: ids are not reused meanwhile
            done = converted.get(slot)
            if done is None:
                done = converted[slot] = process(value)
            row[position] = done
        rows.append(row)
    raw = _driver(conn)
    ids: list[int] | None
    if len(rows) == 1 and ids_wanted:
        cursor = raw.execute(sql.insert_returning, rows[0])
        ids = [cursor.fetchone()[0]]
    else:
        cursor = raw.cursor()
        try:
            # One executemany (psycopg sends it as one pipeline), then the ids by the seq range
            # (unique per clinic): INSERT ... RETURNING gives no order for several rows on SQLite.
            # Without a reader of the ids, the driver's count of rows inserted checks the batch
            # (the ids are read, and counted, when it has none to give).
            cursor.executemany(sql.insert, rows)
            if ids_wanted or cursor.rowcount != len(rows):
                ids = [r[0] for r in cursor.execute(sql.ids, (clinic, first["seq"], last["seq"])).fetchall()]
            else:
                ids = None
        finally:
            cursor.close()
    raw.execute(sql.set_head, (last["seq"], last["hash"], clinic))
    return ids


def _check_names(action: str, resource_type: str, outcome: str) -> None:
    if not _NAME_RE.match(action or ""):
        raise AuditError(f"action '{action}': use a lowercase word such as {', '.join(ACTIONS[:6])}")
    if not _RESOURCE_RE.match(resource_type or ""):
        raise AuditError(f"resource_type '{resource_type}': use a lowercase name such as 'patient'")
    if outcome not in OUTCOMES:
        raise AuditError(f"outcome '{outcome}': use one of {', '.join(OUTCOMES)}")


def _check_patient(patient_id: Any) -> None:
    if patient_id is not None and (isinstance(patient_id, bool) or not isinstance(patient_id, int)):
        raise AuditError("patient_id must be the patient's integer id")


def _validated(
    db: CarnetSession, *, action: str, resource_type: str, resource_id: Any, patient_id: int | None,
    outcome: str, details: dict[str, Any] | None, actor: Any, clinic_id: int | None,
    occurred_at: datetime | None, who: Actor | None = None, details_text: str | None = None,
) -> dict[str, Any]:
    """The record's fields (without seq and hashes), or AuditError naming what is wrong."""
    _check_names(action, resource_type, outcome)
    _check_patient(patient_id)
    who = who or resolve_actor(actor, db.info)
    clinic = _clinic_of(db, clinic_id)
    return {
        "clinic_id": clinic,
        "occurred_at": occurred_at or utcnow(),
        "actor_kind": who.kind,
        "actor_id": who.id,
        "actor_user_id": who.user_id,
        "patient_id": patient_id,
        "resource_type": resource_type,
        "resource_id": None if resource_id is None else str(resource_id)[:128],
        "action": action,
        "outcome": outcome,
        "address": (db.info.get("address") or None) and str(db.info["address"])[:64],
        "request_id": (db.info.get("request_id") or None) and str(db.info["request_id"])[:64],
        "details": _details_text(details) if details_text is None else details_text,
    }


def _observed(db: CarnetSession) -> bool:
    """Whether anything will read this session's records as events once it commits (the
    process's notifier, when some installed plugin implements `audit_event`)."""
    notifier = db.info.get(NOTIFIER)
    if notifier is None:
        return False
    observes = getattr(notifier, "observes", None)
    return observes is None or bool(observes())


def _append(db: CarnetSession, batch: list[dict[str, Any]], events: bool = True) -> list[AuditEvent]:
    """Chain `batch` (fields of one clinic) after the clinic's head: one head lock, one INSERT.
    Returns the records as events; with `events=False` (core's own batch at commit, whose caller
    reads nothing back) they are built, with their ids, only if an `audit_event` observer will
    receive them."""
    clinic = batch[0]["clinic_id"]
    events = events or _observed(db)
    try:
        conn = db.connection()
        heads: dict[int, tuple[int, str]] = db.info.setdefault(_HEADS, {})
        if clinic in heads:
            # This transaction already holds the head row: no need to lock it again.
            seq, prev = heads[clinic][0] + 1, heads[clinic][1]
        else:
            seq, prev = _lock_head(conn, clinic)
        for fields in batch:  # the batch's own dicts become the rows (no copies)
            fields["seq"] = seq
            seq += 1
        for fields, content in zip(batch, _canonical_batch(batch), strict=True):
            fields["prev_hash"] = prev
            fields["hash"] = prev = chain_hash(prev, content)
        ids = _write(conn, batch, ids_wanted=events)
        if ids is not None and len(ids) != len(batch):
            raise AuditError(f"{len(batch)} audit records written but {len(ids)} found; the action is refused")
        last = batch[-1]
        heads[clinic] = (last["seq"], last["hash"])
    except AuditError:
        db.info.pop(_HEADS, None)
        raise
    except Exception as exc:
        db.info.pop(_HEADS, None)
        drop_values(exc)
        raise AuditError("the audit record could not be written; the action is refused") from exc
    named = db.info.setdefault(NAMED, set())
    for row in batch:
        if row["patient_id"] is not None:
            named.add((clinic, row["patient_id"]))
        if row["resource_id"] is not None:
            named.add((clinic, row["resource_type"], row["resource_id"]))
    if not events or ids is None:
        return []
    parsed: dict[str, Any] = {}  # a batch's records often share their details (the trace's do)
    recorded = []
    for row_id, row in zip(ids, batch, strict=True):
        text = row["details"]
        details = parsed.get(text)
        if details is None:
            details = parsed[text] = json.loads(text)
        recorded.append(AuditEvent(
            int(row_id), row["clinic_id"], row["seq"], row["occurred_at"], row["actor_kind"], row["actor_id"],
            row["actor_user_id"], row["patient_id"], row["resource_type"], row["resource_id"], row["action"],
            row["outcome"], row["address"], row["request_id"], details, row["hash"],
        ))
    db.info.setdefault(_PENDING, []).extend(recorded)
    return recorded


def _canonical_batch(batch: list[dict[str, Any]]) -> list[bytes]:
    """`canonical` of each record of a batch: one record alone, several column by column
    (`canonical_columns`, byte for byte the same: a week view's trace is 40 records)."""
    if len(batch) == 1:
        return [canonical(batch[0])]
    column = lambda name: [fields[name] for fields in batch]  # noqa: E731
    return canonical_columns(
        column("action"), column("actor_id"), column("actor_kind"), column("actor_user_id"), column("address"),
        column("clinic_id"), column("details"), [iso_utc(fields["occurred_at"]) for fields in batch],
        column("outcome"), column("patient_id"), column("request_id"), column("resource_id"),
        column("resource_type"), column("seq"),
    )


def record(
    db: CarnetSession,
    *,
    action: str,
    resource_type: str,
    resource_id: Any = None,
    patient_id: int | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
    actor: Any = None,
    clinic_id: int | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append an audit record in `db`'s transaction and return it.

    Actor, request id and address default from the session (`db.info`, set per web request and
    per job); commands pass `actor="system:<what>"`. The clinic is the
    session's, or `clinic_id=` for an unscoped session. `details` is a small JSON object of
    ids and counts, never patient data. Raises AuditError (and the action must fail) when the
    record cannot be written.

    A record naming a patient covers, for this transaction, what core would otherwise trace by
    itself for that patient (sealed values opened, patient rows written: see `audit.trace`).
    """
    fields = _validated(
        db, action=action, resource_type=resource_type, resource_id=resource_id, patient_id=patient_id,
        outcome=outcome, details=details, actor=actor, clinic_id=clinic_id, occurred_at=occurred_at,
    )
    return _append(db, [fields])[0]


def record_at_commit(
    db: CarnetSession,
    *,
    action: str,
    resource_type: str,
    resource_id: Any = None,
    patient_id: int | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
    actor: Any = None,
    clinic_id: int | None = None,
) -> None:
    """`record`, appended when the transaction commits, in one batch with core's trace of what it
    opened and wrote (one chain-head lock and one INSERT for the whole transaction) instead of
    at once: for a read whose caller needs nothing back (a page listing what it shows).

    Checked now (a bad call raises AuditError here), timed now, and in the same transaction: if
    it rolls back (or the savepoint it was made in), the record goes with it; if the record cannot
    be written, the commit fails. It covers the trace of its patient as `record` does."""
    fields = _validated(
        db, action=action, resource_type=resource_type, resource_id=resource_id, patient_id=patient_id,
        outcome=outcome, details=details, actor=actor, clinic_id=clinic_id, occurred_at=None,
    )
    db.info.setdefault(_AT_COMMIT, []).append(fields)


def record_many_at_commit(db: CarnetSession, entries: list[dict[str, Any]]) -> None:
    """`record_many`, appended when the transaction commits, like `record_at_commit`: the clinic's
    chain head is locked only for the commit's batch, not from now to the commit (a job that opens
    a patient's address and then writes keeps the other writers of its clinic waiting that much
    less). Checked now; same rules as `record_at_commit`."""
    if entries:
        db.info.setdefault(_AT_COMMIT, []).extend(checked(db, entries))


def take_at_commit(db: CarnetSession) -> list[dict[str, Any]]:
    """The records `record_at_commit` queued (checked fields), forgotten here; NAMED updated so
    that the trace leaves out what they cover (called by the trace before its own entries)."""
    queued = db.info.pop(_AT_COMMIT, None) or []
    db.info.pop(_MARKS, None)
    if queued:
        named = db.info.setdefault(NAMED, set())
        for fields in queued:
            if fields["patient_id"] is not None:
                named.add((fields["clinic_id"], fields["patient_id"]))
            if fields["resource_id"] is not None:
                named.add((fields["clinic_id"], fields["resource_type"], fields["resource_id"]))
    return queued


def append_batch(db: CarnetSession, batch: list[dict[str, Any]], events: bool = True) -> list[AuditEvent]:
    """Append checked records (fields of `_validated`, any clinics) in their order: one head lock
    and one INSERT per clinic."""
    by_clinic: dict[int, list[dict[str, Any]]] = {}
    for fields in batch:
        by_clinic.setdefault(fields["clinic_id"], []).append(fields)
    recorded: list[AuditEvent] = []
    for part in by_clinic.values():
        recorded.extend(_append(db, part, events))
    return recorded


def record_many(db: CarnetSession, entries: list[dict[str, Any]]) -> list[AuditEvent]:
    """Append several records (keyword arguments of `record` each) in one go: one head lock and
    one INSERT per clinic. Used by core's structural trace; same rules as `record`."""
    return append_batch(db, checked(db, entries))


def checked(db: CarnetSession, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fields of each entry (keyword arguments of `record`), or AuditError."""
    batch: list[dict[str, Any]] = []
    # The entries of a batch mostly share one actor, and often one details object (the trace's
    # do): each is resolved and encoded once.
    actors: dict[Any, tuple[Any, Actor]] = {}
    texts: dict[int, tuple[Any, str]] = {}
    for entry in entries:
        actor, details = entry.get("actor"), entry.get("details")
        # actor names ("user:12") by their text, other actors (a Principal) by identity
        slot = actor if type(actor) is str else id(actor)
        known = actors.get(slot)
        if known is None or known[0] is not actor and slot is not actor:
            known = actors[slot] = (actor, resolve_actor(actor, db.info))
        text = texts.get(id(details))
        if text is None or text[0] is not details:
            text = texts[id(details)] = (details, _details_text(details))
        fields = _validated(
            db, action=entry["action"], resource_type=entry["resource_type"],
            resource_id=entry.get("resource_id"), patient_id=entry.get("patient_id"),
            outcome=entry.get("outcome", "success"), details=details, actor=actor,
            clinic_id=entry.get("clinic_id"), occurred_at=entry.get("occurred_at"), who=known[1],
            details_text=text[1],
        )
        batch.append(fields)
    return batch


def checked_rows(
    db: CarnetSession, actor: Any, occurred_at: datetime,
    rows: list[tuple[int, int | None, str, str, str | None, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """`checked` for records of one actor and one time given as (clinic_id, patient_id, action,
    resource_type, resource_id, details) tuples, outcome "success": the same checks and fields,
    each distinct clinic, name pair and details object checked once (core's trace: 40 records a
    page, alike but for their patient)."""
    who = resolve_actor(actor, db.info)
    address = (db.info.get("address") or None) and str(db.info["address"])[:64]
    request_id = (db.info.get("request_id") or None) and str(db.info["request_id"])[:64]
    clinics: dict[int, int] = {}
    names: set[tuple[str, str]] = set()
    texts: dict[int, tuple[Any, str]] = {}
    batch: list[dict[str, Any]] = []
    for clinic_id, patient_id, action, resource_type, resource_id, details in rows:
        clinic = clinics.get(clinic_id)
        if clinic is None:
            clinic = clinics[clinic_id] = _clinic_of(db, clinic_id)
        if (action, resource_type) not in names:
            _check_names(action, resource_type, "success")
            names.add((action, resource_type))
        _check_patient(patient_id)
        text = texts.get(id(details))
        if text is None or text[0] is not details:  # held in the tuple: its id is not reused meanwhile
            text = texts[id(details)] = (details, _details_text(details))
        batch.append({
            "clinic_id": clinic, "occurred_at": occurred_at, "actor_kind": who.kind, "actor_id": who.id,
            "actor_user_id": who.user_id, "patient_id": patient_id, "resource_type": resource_type,
            "resource_id": None if resource_id is None else str(resource_id)[:128], "action": action,
            "outcome": "success", "address": address, "request_id": request_id, "details": text[1],
        })
    return batch


@event.listens_for(CarnetSession, "before_commit")
def _before_commit(session: CarnetSession) -> None:
    from carnet_core.audit.trace import flush_trace  # the trace builds on this module

    flush_trace(session)  # core's own records of opens and writes join the transaction first
    # Whatever the notifier needs from the database is read now, on this transaction's own
    # connection: after the commit that connection is still held, and opening a second one from
    # every request at once can exhaust the pool.
    pending = session.info.get(_PENDING)
    notifier = session.info.get(NOTIFIER)
    prepare = getattr(notifier, "prepare", None)
    if pending and prepare is not None:
        prepare(session, pending)


@event.listens_for(CarnetSession, "after_commit")
def _after_commit(session: CarnetSession) -> None:
    if session.in_nested_transaction():
        # A savepoint released (SQLAlchemy announces it as a commit): the transaction still
        # holds the chain head, and its records are not committed yet.
        return
    session.info.pop(_HEADS, None)
    session.info.pop(NAMED, None)
    pending = session.info.pop(_PENDING, None)
    notifier: Callable[[list[AuditEvent], dict[str, Any]], None] | None = session.info.get(NOTIFIER)
    if pending and notifier is not None:
        try:
            notifier(pending, session.info)
        except Exception:  # observers never undo or break a committed action
            log.exception("audit_event observers failed")


@event.listens_for(CarnetSession, "after_transaction_create")
def _mark_savepoint(session: CarnetSession, transaction: Any) -> None:
    # Records queued for the commit inside a savepoint that rolls back go with it.
    if transaction.nested and session.info.get(_AT_COMMIT):
        session.info.setdefault(_MARKS, {})[transaction] = len(session.info[_AT_COMMIT])


@event.listens_for(CarnetSession, "after_soft_rollback")
def _after_rollback(session: CarnetSession, previous_transaction: Any) -> None:
    # Any rollback (savepoint included) may have undone appended records: forget the cached
    # head and the events that will never be committed.
    session.info.pop(_HEADS, None)
    session.info.pop(_PENDING, None)
    if previous_transaction.nested:
        queued = session.info.get(_AT_COMMIT)
        if queued:
            del queued[(session.info.get(_MARKS) or {}).pop(previous_transaction, 0):]
    else:
        session.info.pop(_AT_COMMIT, None)
        session.info.pop(_MARKS, None)
    from carnet_core.audit.trace import forget

    forget(session, outermost=not previous_transaction.nested)


def accesses_for_patient(db: CarnetSession, patient_id: int, limit: int = 200) -> list[AuditRecord]:
    """Who accessed this patient's file, newest first (for the patient page).

    `db` is bound to the patient's clinic; reading the list is not itself audited here: the
    patient page's own read record covers it.
    """
    stmt = (
        select(AuditRecord)
        .where(AuditRecord.patient_id == patient_id)
        .order_by(col(AuditRecord.seq).desc())
        .limit(limit)
    )
    return list(db.exec(stmt))


def chain_head(db: CarnetSession, clinic_id: int) -> AuditHead | None:
    return db.get(AuditHead, clinic_id)


@dataclass(frozen=True)
class TrailFilter:
    """Filters of the owners' audit page; all optional. Dates are inclusive UTC bounds."""

    since: datetime | None = None
    until: datetime | None = None
    actor_kind: str | None = None
    actor_id: str | None = None
    patient_id: int | None = None
    action: str | None = None
    actor_user_id: int | None = None  # a person, whether through the pages or an API token


def search_trail(
    db: CarnetSession, filters: TrailFilter, *, before_seq: int | None = None, limit: int = 50
) -> tuple[list[AuditRecord], int | None]:
    """A page of the clinic's records, newest first; returns (rows, seq to continue before)."""
    stmt = select(AuditRecord)
    if filters.since is not None:
        stmt = stmt.where(AuditRecord.occurred_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditRecord.occurred_at < filters.until)
    if filters.actor_kind:
        stmt = stmt.where(AuditRecord.actor_kind == filters.actor_kind)
    if filters.actor_id:
        stmt = stmt.where(AuditRecord.actor_id == filters.actor_id)
    if filters.actor_user_id is not None:
        stmt = stmt.where(AuditRecord.actor_user_id == filters.actor_user_id)
    if filters.patient_id is not None:
        stmt = stmt.where(AuditRecord.patient_id == filters.patient_id)
    if filters.action:
        stmt = stmt.where(AuditRecord.action == filters.action)
    if before_seq is not None:
        stmt = stmt.where(AuditRecord.seq < before_seq)
    rows = list(db.exec(stmt.order_by(col(AuditRecord.seq).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more and rows else None)
