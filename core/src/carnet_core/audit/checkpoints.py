"""Signed checkpoints outside the database: the checkpoint log and the external-witness hook.

A checkpoint stored only in the database vanishes with the records it vouches for when someone
with write access deletes both. So every signed checkpoint and purge anchor also leaves the
database once its transaction has committed:

- a line appended to `CARNET_HOME/keys/audit-checkpoints.jsonl` (beside the signing key, mode
  0600, opened O_APPEND and locked while written, fsynced): one canonical JSON object per line
  with clinic_id, kind, seq, hash, created_at, key_id and signature. Each line verifies on its
  own with the public key; `carnet audit verify` requires every clinic's chain to reach its
  last line and reports a clinic whose trail is gone;
- the `audit_checkpoint_signed(checkpoint)` hook, called on every installed plugin, for a
  witness outside the machine (a time-stamping service, a WORM bucket, a mailbox).

Lines are written after the commit, never before: a line always stands for a committed
checkpoint (a crash in between leaves a checkpoint only in the database, which weakens nothing
that was there before). Checkpoints carry no patient data: ids, counts, hashes and times.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import astuple, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from carnet_core.audit.chain import canonical_json, iso_utc
from carnet_core.db.session import CarnetSession

log = logging.getLogger("carnet.audit")

LOG_NAME = "audit-checkpoints.jsonl"
LINE_FIELDS = ("clinic_id", "kind", "seq", "hash", "created_at", "key_id", "signature")
_PENDING = "_audit_signed_checkpoints"  # session info: (keys_dir, SignedCheckpoint) to publish


class CheckpointLogError(RuntimeError):
    """The checkpoint log could not be written; the message names the file."""


def checkpoint_message(clinic_id: int, kind: str, seq: int, hash_: str, created_at: datetime) -> bytes:
    """The bytes the audit key signs: every field of the checkpoint but its key id and signature."""
    return canonical_json({
        "v": 1, "type": "carnet.audit.checkpoint", "clinic_id": clinic_id, "kind": kind,
        "seq": seq, "hash": hash_, "created_at": iso_utc(created_at),
    }).encode("utf-8")


@dataclass(frozen=True)
class SignedCheckpoint:
    """One signed statement "clinic C's chain had hash H at seq S" (kind checkpoint or anchor)."""

    clinic_id: int
    kind: str
    seq: int
    hash: str
    created_at: datetime
    key_id: str
    signature: str

    @classmethod
    def of(cls, checkpoint: Any) -> SignedCheckpoint:
        """From an AuditCheckpoint row (or anything with the same attributes)."""
        return cls(*(getattr(checkpoint, name) for name in LINE_FIELDS))

    def message(self) -> bytes:
        return checkpoint_message(self.clinic_id, self.kind, self.seq, self.hash, self.created_at)

    def line(self) -> str:
        """Its line in the checkpoint log (canonical JSON, no newline)."""
        values = dict(zip(LINE_FIELDS, astuple(self), strict=True))
        values["created_at"] = iso_utc(self.created_at)
        return canonical_json(values)

    @property
    def identity(self) -> tuple[Any, ...]:
        """What makes two copies (database row, log line) the same checkpoint."""
        return (self.clinic_id, self.kind, self.seq, self.hash, iso_utc(self.created_at), self.key_id,
                self.signature)


@dataclass(frozen=True)
class LogEntry:
    line_no: int
    checkpoint: SignedCheckpoint


@dataclass
class CheckpointLog:
    """What the log holds: readable entries, unreadable lines (by number), a torn last line."""

    path: Path
    entries: list[LogEntry] = field(default_factory=list)
    unreadable: list[tuple[int, str]] = field(default_factory=list)
    torn_tail: bool = False

    def for_clinic(self, clinic_id: int) -> list[LogEntry]:
        return [e for e in self.entries if e.checkpoint.clinic_id == clinic_id]

    def clinic_ids(self) -> set[int]:
        return {e.checkpoint.clinic_id for e in self.entries}


def log_path(keys_dir: Path) -> Path:
    return keys_dir / LOG_NAME


def parse_line(text: str) -> SignedCheckpoint:
    """A log line back into a checkpoint; ValueError naming what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or set(data) != set(LINE_FIELDS):
        raise ValueError(f"expected the fields {', '.join(LINE_FIELDS)}")
    for name in ("clinic_id", "seq"):
        if isinstance(data[name], bool) or not isinstance(data[name], int):
            raise ValueError(f"{name} is not an integer")
    for name in ("kind", "hash", "created_at", "key_id", "signature"):
        if not isinstance(data[name], str):
            raise ValueError(f"{name} is not a string")
    try:
        created_at = datetime.strptime(data["created_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        raise ValueError("created_at is not a UTC time") from None
    data["created_at"] = created_at
    return SignedCheckpoint(**data)


def read_log(keys_dir: Path) -> CheckpointLog:
    """Every line of the checkpoint log (an absent log is empty)."""
    path = log_path(keys_dir)
    found = CheckpointLog(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return found
    lines = raw.split(b"\n")
    if lines[-1]:
        # no newline after the last line: a write cut short (power loss); not evidence of anything
        found.torn_tail = True
    for number, text in enumerate(lines[:-1], start=1):
        try:
            found.entries.append(LogEntry(number, parse_line(text.decode("utf-8"))))
        except (ValueError, UnicodeDecodeError) as exc:
            found.unreadable.append((number, str(exc)))
    return found


def append_to_log(keys_dir: Path, checkpoints: Iterable[SignedCheckpoint]) -> None:
    """Append one line per checkpoint, durably, without ever rewriting what is there."""
    data = "".join(cp.line() + "\n" for cp in checkpoints).encode("utf-8")
    if not data:
        return
    path = log_path(keys_dir)
    try:
        keys_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # writers of other processes take turns
            if os.fstat(fd).st_size and os.pread(fd, 1, os.fstat(fd).st_size - 1) != b"\n":
                data = b"\n" + data  # after a torn line, start on a line of our own
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise CheckpointLogError(f"could not append to the audit checkpoint log {path}: {exc}") from exc


def publish_after_commit(db: CarnetSession, keys_dir: Path, checkpoint: Any) -> None:
    """Once `db`'s transaction commits: append `checkpoint` to the log and tell the witnesses."""
    db.info.setdefault(_PENDING, []).append((keys_dir, SignedCheckpoint.of(checkpoint)))


def _witnesses(session: CarnetSession) -> Any:
    notifier = session.info.get("audit_notifier")  # installed on every process's Database
    host = getattr(notifier, "host", None)
    return None if host is None else host.hook.audit_checkpoint_signed


def announce(hook: Any, checkpoint: SignedCheckpoint) -> None:
    """Call each `audit_checkpoint_signed` implementation on its own: one failing is logged."""
    for impl in hook.get_hookimpls():
        try:
            impl.function(checkpoint=checkpoint)
        except Exception:
            log.exception("audit_checkpoint_signed witness %s failed (clinic %s, seq %s)",
                          impl.plugin_name, checkpoint.clinic_id, checkpoint.seq)


@event.listens_for(CarnetSession, "after_commit")
def _after_commit(session: CarnetSession) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    failure = None
    for keys_dir in dict.fromkeys(k for k, _ in pending):
        try:
            append_to_log(keys_dir, [cp for k, cp in pending if k == keys_dir])
        except CheckpointLogError as exc:
            log.error("%s", exc)
            failure = exc
    hook = _witnesses(session)
    if hook is not None:
        for _, checkpoint in pending:
            announce(hook, checkpoint)
    if failure is not None:
        raise failure


@event.listens_for(CarnetSession, "after_soft_rollback")
def _after_rollback(session: CarnetSession, previous_transaction: Any) -> None:
    session.info.pop(_PENDING, None)


def copy_missing(keys_dir: Path, checkpoints: Iterable[Any]) -> int:
    """Append the given (database) checkpoints the log lacks; returns how many were added."""
    present = {e.checkpoint.identity for e in read_log(keys_dir).entries}
    missing = [cp for cp in map(SignedCheckpoint.of, checkpoints) if cp.identity not in present]
    append_to_log(keys_dir, missing)
    return len(missing)
