"""Signed checkpoints, chain verification and retention purge.

Verification walks a clinic's records in seq order from the start of the kept chain (the
genesis, or the latest signed purge anchor) and names the first record that breaks it:
modified (content no longer matches its hash), deleted (a seq is missing), inserted or
reordered (prev_hash or seq order no longer match), truncated (a signed checkpoint or the
chain head covers records that are gone).

It reads the chain head, the checkpoints and the records in one consistent snapshot of the
database (`begin_snapshot`): while the application appends, statements run one after the other
would otherwise see a head newer than the records read before it, and report a healthy chain
as truncated.
"""

from __future__ import annotations

import bisect
import hashlib
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from carnet_core.audit import signing
from carnet_core.audit.chain import GENESIS, canonical_columns, iso_utc
from carnet_core.audit.checkpoints import (
    CheckpointLog,
    SignedCheckpoint,
    checkpoint_message,
    publish_after_commit,
    read_log,
)
from carnet_core.audit.models import AuditCheckpoint, AuditHead, AuditRecord
from carnet_core.audit.services import AuditError, record
from carnet_core.db.base import utcnow
from carnet_core.db.session import CarnetSession

CHECKPOINT = "checkpoint"
ANCHOR = "anchor"
# A write that changes nothing: the row lock on PostgreSQL, the database write lock on SQLite.
_HOLD_HEAD = sa.text("UPDATE core_audit_head SET seq = seq WHERE clinic_id = :clinic_id")
_CREATE_HEAD = sa.text(
    "INSERT INTO core_audit_head (clinic_id, seq, hash) VALUES (:clinic_id, 0, :hash) "
    "ON CONFLICT (clinic_id) DO NOTHING"
)


def _hold_head(db: CarnetSession, clinic_id: int) -> None:
    """Hold the clinic's chain head until `db` commits: its writers wait, so what is read next
    stays as it is. A clinic that has no head yet gets one first (at the genesis, as its first
    writer would make it); otherwise there would be no row to hold, and a first writer could
    commit its head and records between two of the reads that follow."""
    conn = db.connection()
    if conn.execute(_HOLD_HEAD, {"clinic_id": clinic_id}).rowcount == 0:
        conn.execute(_CREATE_HEAD, {"clinic_id": clinic_id, "hash": GENESIS})
        conn.execute(_HOLD_HEAD, {"clinic_id": clinic_id})


def _store_signed(
    db: CarnetSession, keys_dir: Path, clinic_id: int, kind: str, seq: int, hash_: str
) -> AuditCheckpoint:
    """Sign, store in `db`'s transaction, and once it commits append to the checkpoint log."""
    key = signing.load_private_key(keys_dir)
    created_at = utcnow()
    message = checkpoint_message(clinic_id, kind, seq, hash_, created_at)
    checkpoint = AuditCheckpoint(
        clinic_id=clinic_id, kind=kind, seq=seq, hash=hash_, created_at=created_at,
        key_id=signing.key_id(key.public_key()), signature=signing.sign(key, message),
    )
    db.add(checkpoint)
    db.flush()
    publish_after_commit(db, keys_dir, checkpoint)
    return checkpoint


def make_checkpoint(db: CarnetSession, keys_dir: Path, clinic_id: int) -> AuditCheckpoint | None:
    """Sign the clinic's current chain head. None when there is nothing new to sign."""
    head = db.get(AuditHead, clinic_id)
    if head is None or head.seq == 0:
        return None
    last = db.exec(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.clinic_id == clinic_id)
        .order_by(col(AuditCheckpoint.seq).desc())
        .limit(1)
    ).first()
    if last is not None and last.seq >= head.seq:
        return None
    return _store_signed(db, keys_dir, clinic_id, CHECKPOINT, head.seq, head.hash)


@dataclass
class Problem:
    reason: str
    seq: int | None = None
    record_id: int | None = None
    checkpoint_id: int | None = None
    log_line: int | None = None  # line of the checkpoint log (CARNET_HOME/keys/audit-checkpoints.jsonl)

    def describe(self) -> str:
        where = []
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.record_id is not None:
            where.append(f"record id {self.record_id}")
        if self.checkpoint_id is not None:
            where.append(f"checkpoint id {self.checkpoint_id}")
        if self.log_line is not None:
            where.append(f"checkpoint log line {self.log_line}")
        return f"{', '.join(where) or 'chain'}: {self.reason}"


@dataclass
class Verification:
    clinic_id: int | None  # None: the checkpoint log itself
    ok: bool = True
    records: int = 0
    first_seq: int | None = None
    last_seq: int = 0
    checkpoints: int = 0
    logged: int = 0  # lines of the checkpoint log for this clinic
    last_signed_seq: int | None = None
    anchor_seq: int | None = None
    problem: Problem | None = None
    warnings: list[str] = field(default_factory=list)
    one_by_one: int = 0  # records walked one at a time (in a batch with a problem or an unusual value)

    def fail(self, problem: Problem) -> Verification:
        self.ok = False
        self.problem = problem
        return self


def begin_snapshot(db: CarnetSession) -> None:
    """Make every read of `db`'s transaction see the same committed state of the database.

    PostgreSQL: the transaction runs REPEATABLE READ (one snapshot, taken at its first
    statement). SQLite: the sqlite3 module runs reads outside any transaction (each statement
    its own snapshot) until the first write; a deferred BEGIN opens a read transaction, which
    in WAL mode keeps the snapshot of its first read until it ends. Writers are not blocked.
    Call it before the session's first statement.
    """
    if db.in_transaction():
        raise RuntimeError("begin_snapshot() must be called before the session's first statement")
    if db.get_bind().dialect.name == "sqlite":
        db.connection().connection.dbapi_connection.execute("BEGIN")
    else:
        db.connection(execution_options={"isolation_level": "REPEATABLE READ"})


@contextmanager
def snapshot(database: Any) -> Iterator[CarnetSession]:
    """An unscoped session of `database` that reads one consistent snapshot (see begin_snapshot)."""
    with database.session(unscoped=True) as db:
        begin_snapshot(db)
        yield db


# The hashed columns in canonical_columns' order (their names' order), then the id and the hashes.
_HASHED = ("action", "actor_id", "actor_kind", "actor_user_id", "address", "clinic_id", "details", "occurred_at",
           "outcome", "patient_id", "request_id", "resource_id", "resource_type", "seq")
_COLUMNS = [AuditRecord.__table__.c[name] for name in (*_HASHED, "id", "prev_hash", "hash")]  # type: ignore[attr-defined]
_TIME, _SEQ, _ID, _PREV, _HASH = 7, 13, 14, 15, 16  # places in a row


# The model's column names only, values as parameters ("?" becomes the driver's placeholder).
_SELECT_ROWS = "SELECT %s FROM core_audit WHERE clinic_id = ? AND seq >= ? ORDER BY seq, id" % (  # noqa: S608, UP031
    ", ".join(c.name for c in _COLUMNS)
)


@dataclass(frozen=True)
class _Reading:
    """How a stored row becomes the values SQLAlchemy would read (the columns' own result
    processors where they have one) with the time as its `iso_utc` text."""

    processors: list[tuple[int, Callable[[Any], Any]]]
    read_time: Callable[[Any], Any]
    sqlite: bool

    def columns(self, rows: list[tuple[Any, ...]]) -> list[Sequence[Any]]:
        """A batch of rows, column by column (_COLUMNS' sequences of values)."""
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        for i, process in self.processors:
            columns[i] = list(map(process, columns[i]))
        columns[_TIME] = _time_texts(columns[_TIME], self.sqlite, self.read_time)
        return columns

    def row(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """One row, its values in _COLUMNS' order."""
        if self.processors:
            values = list(row)
            for i, process in self.processors:
                values[i] = process(values[i])
            row = tuple(values)
        return (*row[:_TIME], _time_text(row[_TIME], self.sqlite, self.read_time), *row[_TIME + 1:])


def _stored_batches(
    db: CarnetSession, clinic_id: int, first: int, batch: int
) -> Iterator[tuple[list[tuple[Any, ...]], _Reading]]:
    """The clinic's records from seq `first` on, in seq order, as the driver's rows of _COLUMNS,
    `batch` at a time: read on the driver's connection of `db`'s transaction (its snapshot;
    PostgreSQL: a server-side cursor), without a result object or a row mapping per record."""
    conn = db.connection()
    dialect = conn.dialect
    processors = [(i, c.type._cached_result_processor(dialect, None)) for i, c in enumerate(_COLUMNS)]
    reading = _Reading(
        processors=[(i, p) for i, p in processors if p is not None and i != _TIME],
        read_time=_COLUMNS[_TIME].type._cached_result_processor(dialect, None) or (lambda value: value),
        sqlite=dialect.name == "sqlite",
    )
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    raw = conn.connection.driver_connection
    if reading.sqlite:
        cursor = raw.cursor()
    else:
        cursor = raw.cursor(name="carnet_audit_verify")  # server-side: the rows arrive batch by batch
        cursor.itersize = batch
    try:
        cursor.execute(_SELECT_ROWS.replace("?", mark), (clinic_id, first))
        while True:
            rows = cursor.fetchmany(batch)
            if not rows:
                return
            yield rows, reading
    finally:
        cursor.close()


# The separators of "YYYY-MM-DD HH:MM:SS.ffffff" at positions 4, 7, 10, 13, 16 and 19.
_STORED_MARKS = "-- ::."


def _time_texts(stored: Sequence[Any], sqlite: bool, read_time: Any) -> list[str]:
    """The `iso_utc` text of each stored time: `_time_text` of each, with its checks made for the
    whole column at once when (SQLite) every value has the one shape SQLAlchemy stores."""
    if sqlite and set(map(type, stored)) == {str} and set(map(len, stored)) == {26} and (
        {when[4] + when[7] + when[10] + when[13] + when[16] + when[19] for when in stored} == {_STORED_MARKS}
    ):
        try:
            list(map(datetime.fromisoformat, stored))  # each a real time
        except ValueError:
            pass  # one is not: each is read on its own, that one through the processor
        else:
            return [when[:10] + "T" + when[11:] + "Z" for when in stored]
    return [_time_text(when, sqlite, read_time) for when in stored]


def _time_text(when: Any, sqlite: bool, read_time: Any) -> str:
    if sqlite and type(when) is str and len(when) == 26 and (
        when[4] + when[7] + when[10] + when[13] + when[16] + when[19] == _STORED_MARKS
    ):
        # "YYYY-MM-DD HH:MM:SS.ffffff", SQLAlchemy's SQLite storage of a UTC time: the same fields
        # as iso_utc writes them (checked a real time, else the processor). Every separator is
        # checked: an ISO week date ("2026-W49-6 12:34:56.123456") has the same length, space and
        # point, and fromisoformat reads it, but it is not the text iso_utc writes.
        try:
            datetime.fromisoformat(when)
            return when[:10] + "T" + when[11:] + "Z"
        except ValueError:
            pass
    return iso_utc(read_time(when))


@dataclass(frozen=True)
class _Signed:
    """A verified signed checkpoint, from the database (`id`) or only from the log (`line`)."""

    kind: str
    seq: int
    hash: str
    id: int | None = None
    line: int | None = None

    def where(self) -> dict[str, int | None]:
        return {"checkpoint_id": self.id, "log_line": self.line}


def _check_signature(cp: Any, public_keys: dict[str, Any], keys_dir: Path) -> str | None:
    """Why the signed checkpoint `cp` does not verify, or None."""
    key = public_keys.get(cp.key_id)
    if key is None:
        return (f"signed with key {cp.key_id}, whose public key is not in {keys_dir} "
                "(restore audit-signing.pub or the retired audit-signing-<key id>.pub)")
    message = checkpoint_message(cp.clinic_id, cp.kind, cp.seq, cp.hash, cp.created_at)
    if cp.kind not in (CHECKPOINT, ANCHOR) or not signing.verify(key, message, cp.signature):
        return "checkpoint signature is invalid (forged or altered checkpoint)"
    return None


class _Walk:
    """Walks a clinic's chain from `expected` (its first seq) and `running` (the hash it chains
    from), batch by batch, counting the records that verify in `result`."""

    def __init__(self, result: Verification, expected: int, running: str, covering: dict[int, list[_Signed]]):
        self.result = result
        self.expected, self.running = expected, running
        self.running_bytes: bytes | None = None  # `running` as bytes, from one record to the next
        self.last_id: int | None = None
        self.covering = covering
        self.covered = sorted(covering)

    def whole(self, rows: list[tuple[Any, ...]], reading: _Reading) -> bool:
        """Take a batch in which every record verifies, at once; False (nothing taken) for a batch
        with any problem or anything unusual, which `one_by_one` then walks to its first problem.
        Column by column: the seqs must run on from `expected`, the ids rise, each prev_hash be
        the previous hash, each stored hash the one computed, each signed checkpoint match."""
        try:
            columns = reading.columns(rows)
            contents = canonical_columns(*columns[:_ID])
            chained = []
            running = self.running_bytes or bytes.fromhex(self.running)
            sha256 = hashlib.sha256
            for content in contents:
                running = sha256(b"\x01" + running + sha256(b"\x00" + content).digest()).digest()
                chained.append(running)
        except Exception:  # noqa: BLE001 (one_by_one meets it again at its record, after any earlier problem)
            return False
        first, ids, stored, prevs = self.expected, columns[_ID], columns[_HASH], columns[_PREV]
        last = first + len(rows) - 1
        digests = list(map(bytes.hex, chained))
        if (
            columns[_SEQ] != tuple(range(first, last + 1))
            or (self.last_id is not None and not ids[0] > self.last_id)
            or not all(map(operator.lt, ids, ids[1:]))
            or digests != list(stored)
            or prevs[0] != self.running
            or prevs[1:] != stored[:-1]
        ):
            return False
        for seq in self.covered[bisect.bisect_left(self.covered, first):bisect.bisect_right(self.covered, last)]:
            if any(cp.hash != digests[seq - first] for cp in self.covering[seq]):
                return False
        if self.result.first_seq is None:
            self.result.first_seq = first
        self.result.records += len(rows)
        self.running, self.running_bytes, self.last_id, self.expected = digests[-1], chained[-1], ids[-1], last + 1
        return True

    def one_by_one(self, rows: list[tuple[Any, ...]], reading: _Reading) -> Problem | None:
        """Walk a batch record by record; the first problem, or None."""
        result = self.result
        sha256 = hashlib.sha256
        for raw_row in rows:
            result.one_by_one += 1
            (action, actor_id, actor_kind, actor_user_id, address, clinic, details, occurred_at, outcome, patient_id,
             request_id, resource_id, resource_type, seq, rid, prev_hash, stored_hash) = reading.row(raw_row)
            expected = self.expected
            if seq != expected:
                if seq < expected:
                    return Problem(f"seq {seq} appears more than once (inserted record)", seq, rid)
                missing = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
                return Problem(f"records with seq {missing} are missing (deleted)", seq, rid)
            if self.last_id is not None and rid <= self.last_id:
                return Problem("stored before the record that precedes it (reordered)", seq, rid)
            if prev_hash != self.running:
                return Problem(
                    "prev_hash does not match the previous record's hash (inserted, reordered or replaced)",
                    seq, rid,
                )
            (content,) = canonical_columns((action,), (actor_id,), (actor_kind,), (actor_user_id,), (address,),
                                           (clinic,), (details,), (occurred_at,), (outcome,), (patient_id,),
                                           (request_id,), (resource_id,), (resource_type,), (seq,))
            running = self.running_bytes or bytes.fromhex(self.running)
            running = sha256(b"\x01" + running + sha256(b"\x00" + content).digest()).digest()
            digest = running.hex()  # = chain_hash(running, content)
            if digest != stored_hash:
                return Problem("content does not match its hash (modified record)", seq, rid)
            for cp in self.covering.get(seq, ()):
                if cp.hash != digest:
                    name = f"checkpoint {cp.id}" if cp.id is not None else f"checkpoint of log line {cp.line}"
                    return Problem(f"does not match signed {name} (rewritten chain)", seq, rid)
            if result.first_seq is None:
                result.first_seq = seq
            result.records += 1
            self.running, self.running_bytes, self.last_id, self.expected = digest, running, rid, seq + 1
        return None


def verify_clinic(
    db: CarnetSession, clinic_id: int, keys_dir: Path, batch: int = 5000, log: CheckpointLog | None = None
) -> Verification:
    """Check the clinic's chain, its signed checkpoints and its head; stop at the first problem.

    The signed checkpoints are those of the database and those of the checkpoint log (`log`,
    read from `keys_dir` when not given): the chain must reach the last of either, and a logged
    checkpoint missing from the database is reported. The log is read before the database, so
    that every line stands for a checkpoint the database reads can see.

    A session that has not started yet is made to read one snapshot; a session already in a
    transaction must hold the clinic's chain head (as purge does) or read a snapshot.
    """
    if log is None:
        log = read_log(keys_dir)
    if not db.in_transaction():
        begin_snapshot(db)
    result = Verification(clinic_id=clinic_id)
    head = db.get(AuditHead, clinic_id)
    rows = list(db.exec(
        select(AuditCheckpoint).where(AuditCheckpoint.clinic_id == clinic_id).order_by(col(AuditCheckpoint.id))
    ))
    logged = log.for_clinic(clinic_id)
    result.checkpoints, result.logged = len(rows), len(logged)
    public_keys = signing.load_public_keys(keys_dir) if rows or logged else {}
    signed: list[_Signed] = []
    for cp in rows:
        wrong = _check_signature(cp, public_keys, keys_dir)
        if wrong:
            return result.fail(Problem(wrong, seq=cp.seq, checkpoint_id=cp.id))
        signed.append(_Signed(cp.kind, cp.seq, cp.hash, id=cp.id))
    stored = {SignedCheckpoint.of(cp).identity for cp in rows}
    only_logged = []
    for entry in logged:
        cp = entry.checkpoint
        if cp.identity in stored:
            continue
        wrong = _check_signature(cp, public_keys, keys_dir)
        if wrong:
            return result.fail(Problem(wrong, seq=cp.seq, log_line=entry.line_no))
        only_logged.append(_Signed(cp.kind, cp.seq, cp.hash, line=entry.line_no))
    signed += only_logged
    anchors = [cp for cp in signed if cp.kind == ANCHOR]
    anchor = max(anchors, key=lambda cp: cp.seq) if anchors else None
    expected, running = (anchor.seq + 1, anchor.hash) if anchor else (1, GENESIS)
    result.anchor_seq = anchor.seq if anchor else None
    covering: dict[int, list[_Signed]] = {}
    for cp in signed:
        if cp.kind == CHECKPOINT and cp.seq >= expected:
            covering.setdefault(cp.seq, []).append(cp)
    if signed:
        result.last_signed_seq = max(cp.seq for cp in signed)
    walk = _Walk(result, expected, running, covering)
    batches = _stored_batches(db, clinic_id, expected, batch)
    try:
        for rows, reading in batches:
            if not walk.whole(rows, reading):
                problem = walk.one_by_one(rows, reading)
                if problem is not None:
                    return result.fail(problem)
    finally:
        batches.close()
    expected, running, last_id = walk.expected, walk.running, walk.last_id
    result.last_seq = expected - 1
    if signed and head is None and result.records == 0:
        last = max(signed, key=lambda cp: cp.seq)
        return result.fail(Problem(
            f"the clinic's audit trail is gone: signed checkpoints cover records up to seq {last.seq} but "
            "the database holds no record and no chain head (deleted trail)", seq=last.seq, **last.where(),
        ))
    beyond = [cp for cp in signed if cp.seq > result.last_seq]
    if beyond:
        cp = max(beyond, key=lambda c: c.seq)
        name = f"checkpoint {cp.id}" if cp.id is not None else f"checkpoint (log line {cp.line})"
        return result.fail(Problem(
            f"missing: signed {name} covers records up to seq {cp.seq} but the chain "
            f"ends at seq {result.last_seq} (truncated)", seq=result.last_seq + 1, **cp.where(),
        ))
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq > result.last_seq:
        return result.fail(Problem(
            f"missing: the chain head is at seq {head_seq} but the records end at seq {result.last_seq} "
            "(truncated)", seq=result.last_seq + 1,
        ))
    if head_seq < result.last_seq:
        return result.fail(Problem(
            f"after the chain head (seq {head_seq}): records were added outside the application (inserted)",
            seq=head_seq + 1,
        ))
    if result.records and head_hash != running:
        return result.fail(Problem(
            "the chain head's hash differs from the last record's (replaced tail)", seq=result.last_seq,
            record_id=last_id,
        ))
    if only_logged:
        cp = only_logged[0]
        return result.fail(Problem(
            f"the signed {cp.kind} of the checkpoint log at seq {cp.seq} is missing from the database "
            "(deleted checkpoint)", seq=cp.seq, log_line=cp.line,
        ))
    unsigned = result.last_seq - (result.last_signed_seq or 0)
    if unsigned > 0 and result.records:
        result.warnings.append(
            f"{unsigned} record(s) after the last signed checkpoint are protected by the chain only; "
            "run `carnet audit checkpoint` (it also runs on a schedule)"
        )
    return result


def verify_log(log: CheckpointLog, keys_dir: Path, clinic_ids: set[int]) -> list[Verification]:
    """What the checkpoint log says beyond each existing clinic's chain: its unreadable lines, and
    the clinics that are gone while signed checkpoints of their trail remain (one result each)."""
    results = []
    if log.unreadable or log.torn_tail:
        whole = Verification(clinic_id=None, logged=len(log.entries))
        if log.torn_tail:
            whole.warnings.append(f"the last line of {log.path} is incomplete (a write cut short)")
        if log.unreadable:
            number, why = log.unreadable[0]
            whole.fail(Problem(
                f"unreadable line in {log.path.name}: {why} (altered log, or a write cut short by a crash)",
                log_line=number,
            ))
        results.append(whole)
    public_keys = signing.load_public_keys(keys_dir)
    for clinic_id in sorted(log.clinic_ids() - clinic_ids):
        entries = log.for_clinic(clinic_id)
        gone = Verification(clinic_id=clinic_id, logged=len(entries))
        for entry in entries:
            wrong = _check_signature(entry.checkpoint, public_keys, keys_dir)
            if wrong:
                gone.fail(Problem(wrong, seq=entry.checkpoint.seq, log_line=entry.line_no))
                break
        else:
            last = max(entries, key=lambda e: e.checkpoint.seq)
            gone.last_signed_seq = last.checkpoint.seq
            gone.fail(Problem(
                f"clinic {clinic_id} no longer exists, but the checkpoint log holds {len(entries)} signed "
                f"checkpoint(s) of its audit trail up to seq {last.checkpoint.seq} (deleted clinic and trail)",
                seq=last.checkpoint.seq, log_line=last.line_no,
            ))
        results.append(gone)
    return results


def purge(
    db: CarnetSession,
    keys_dir: Path,
    clinic_id: int,
    retention_days: int,
    *,
    actor: Any = "system:retention",
    now: datetime | None = None,
) -> int:
    """Delete the clinic's records older than the retention, keeping the rest verifiable.

    Refuses when the chain is not intact (a purge must not erase the evidence of tampering).
    Writes a signed anchor at the last purged record, deletes up to it, and audits the purge
    itself, all in `db`'s transaction. Returns the number of records deleted.
    """
    if retention_days < 1:
        raise AuditError("retention must be at least 1 day")
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    # Hold the clinic's chain head first (writers of this clinic wait): the verification below
    # then sees the chain and its head as they stay until the purge commits.
    _hold_head(db, clinic_id)
    upto = db.exec(
        select(sa.func.max(AuditRecord.seq)).where(
            AuditRecord.clinic_id == clinic_id, AuditRecord.occurred_at < cutoff
        )
    ).one()
    if upto is None:
        return 0
    check = verify_clinic(db, clinic_id, keys_dir)
    if not check.ok:
        raise AuditError(
            f"the audit chain of clinic {clinic_id} is broken ({check.problem.describe()}); "
            "purge refused so that the evidence is kept"
        )
    upto_hash = db.exec(
        select(AuditRecord.hash).where(AuditRecord.clinic_id == clinic_id, AuditRecord.seq == upto)
    ).one()
    _store_signed(db, keys_dir, clinic_id, ANCHOR, upto, upto_hash)
    deleted = db.connection().execute(
        sa.delete(AuditRecord.__table__).where(  # type: ignore[attr-defined]
            AuditRecord.__table__.c.clinic_id == clinic_id,  # type: ignore[attr-defined]
            AuditRecord.__table__.c.seq <= upto,  # type: ignore[attr-defined]
        )
    ).rowcount
    record(
        db, action="purge", resource_type="audit_trail", actor=actor, clinic_id=clinic_id,
        details={"up_to_seq": upto, "deleted": deleted, "retention_days": retention_days},
    )
    return deleted


def checkpoint_all(db_factory: Any, keys_dir: Path) -> int:
    """Sign every clinic's chain head (the scheduled `core.audit_checkpoint` job). Idempotent."""
    from carnet_core.clinics.models import Clinic

    with db_factory.session(unscoped=True) as db:
        clinic_ids = list(db.exec(select(Clinic.id)))
    signed = 0
    for clinic_id in clinic_ids:
        with db_factory.session(unscoped=True) as db:
            signed += make_checkpoint(db, keys_dir, clinic_id) is not None
    return signed
