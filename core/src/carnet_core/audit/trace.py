"""The structural trace: core records health-data access that no plugin has to remember.

Two kinds of access are noted on the session while a transaction runs, and written to the audit
trail by core in that same transaction, just before it commits (one batch with the records made
by `audit.record_at_commit`: one chain-head lock, one INSERT):

- **Opens.** Every sealed value opened (`encryption.open_`, `open_many`, `open_bytes`, and the
  bulk `patients.names_of`) is noted by clinic, patient (the key's data subject; none for values
  sealed with the clinic key) and resource kind (the table, or the first word of an `open_bytes`
  context). One record per transaction, patient and kind: action "read", the resource id when one
  row was opened, details `{"trace": "open", "fields": [...], "values": n, "rows": n}`. A week view
  that opens two names of 40 patients writes 40 records, not 80, in one statement.
- **Writes.** Every ORM insert, update or delete of a clinic-owned row that holds a `Sealed`
  column or refers to a patient (its `__sealed_subject__`, a foreign key to `core_patient.id`, or a
  `patient_id` column) is noted by clinic, patient, table and action; one record per transaction,
  patient, table and action (`{"trace": "write", "rows": n}`). Core writes the record itself
  rather than refusing the commit: the trace then exists on every path, including the ones no
  test took, and it names each patient whose rows changed.

**No duplicates.** A record the code wrote itself with `audit.record(..., patient_id=P)` in the
same transaction covers every open and write of P's data in that transaction: it says better what
was done. For values and rows without a patient, a record naming the same resource (type = the
table, same resource id) covers them.

**Who.** The session's principal (`db.info["principal"]`: the staff user, API token or patient
link of a web request; `"job:<actor>"` in a job's session), else the running job, else
`"system"`.

**Rollbacks.** A transaction that rolls back takes its records with it, but what was opened was
seen: `keep_opens_after_rollback` (called by the web request's and `Database.session`'s rollback)
records the opens in a transaction of their own. Writes that rolled back changed nothing and are
not recorded.

ORM bulk UPDATE/DELETE statements on such tables (`db.exec(delete(Appointment).where(...))`) read
the ids and patients of the rows they match first, and are traced per patient like the others
(without a patient column, or in an unscoped session, without patient: `{"bulk": true}`).
Not covered: SQL written by hand (`text()`, `connection.execute`), which bypasses the ORM. Core
code that writes such rows with a Core statement for speed notes them itself with `note_write`
(the name-prefix rows of `patients.prefixes`: one INSERT for a patient's ~16 rows).

**Long reads.** A transaction that opens the values of thousands of patients (the clinic export)
calls `record_opens_apart` every so often: what it noted is recorded in a transaction of its own
and forgotten, so memory stays flat and the records are written as it goes.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, orm

from carnet_core.audit.services import NAMED, append_batch, checked_rows, take_at_commit
from carnet_core.db.base import ClinicOwned, utcnow
from carnet_core.db.session import TRACE_OPENS, CarnetSession

log = logging.getLogger("carnet.audit")

OPENS = TRACE_OPENS  # {(clinic, patient, kind): [columns, rows, values]}
WRITES = "_trace_writes"  # {(clinic, patient, table, action): rows}
_KIND_RE = re.compile(r"^[a-z][a-z0-9_.]{0,62}$")
_MAX_FIELDS = 24


def note_open(db: Any, clinic_id: int, patient_id: int | None, context: str) -> None:
    """Called by `encryption.open_bytes` for every value it opens (keep it cheap)."""
    kind, _, rest = context.partition("\x00")
    column, _, row = rest.partition("\x00")
    if not rest:  # an open_bytes context such as "scheduling_file:12:body"
        kind, _, rest = kind.partition(":")
        row = rest.partition(":")[0]
        column = ""
    opens = db.info.get(OPENS)
    if opens is None:
        opens = db.info[OPENS] = {}
    slot = (clinic_id, patient_id, kind)
    entry = opens.get(slot)
    if entry is None:
        entry = opens[slot] = [set(), set(), 0]
    if column:
        entry[0].add(column)
    if row:
        entry[1].add(row)
    entry[2] += 1


# --- which rows are health data ------------------------------------------------------------------

_traced: dict[type, tuple[str, str | None] | None] = {}


@event.listens_for(orm.Mapper, "instrument_class")
def _forget_classes(mapper: Any, class_: Any) -> None:
    _traced.clear()


def traced_table(cls: type) -> tuple[str, str | None] | None:
    """(table, attribute holding the patient id or None) for a clinic-owned model whose rows hold
    sealed data or refer to a patient; None for every other model."""
    if cls in _traced:
        return _traced[cls]
    found: tuple[str, str | None] | None = None
    table = getattr(cls, "__table__", None)
    if table is not None and issubclass(cls, ClinicOwned):
        from carnet_core.encryption.types import Sealed

        mapper = orm.class_mapper(cls)
        key_of = {prop.columns[0].name: prop.key for prop in mapper.column_attrs if prop.columns}
        patient = getattr(cls, "__sealed_subject__", None)
        if patient is None:
            for column in table.columns:
                if any(fk.target_fullname == "core_patient.id" for fk in column.foreign_keys):
                    patient = key_of.get(column.name)
                    break
        if patient is None and "patient_id" in table.columns:
            patient = key_of.get("patient_id")
        sealed = any(isinstance(c.type, Sealed) for c in table.columns)
        if sealed or patient is not None:
            found = (table.name, patient)
    _traced[cls] = found
    return found


def _note_write(info: dict[str, Any], clinic_id: int, patient_id: int | None, table: str, action: str,
                row: Any) -> None:
    writes = info.get(WRITES)
    if writes is None:
        writes = info[WRITES] = {}
    writes.setdefault((clinic_id, patient_id, table, action), set()).add("" if row is None else str(row))


def note_write(db: Any, clinic_id: int, patient_id: int | None, table: str, action: str) -> None:
    """Note rows of a traced table written by a Core statement (which the flush below does not
    see): traced as the flush's writes are, without their ids (details `"bulk": true`)."""
    _note_write(db.info, clinic_id, patient_id, table, action, None)


@event.listens_for(CarnetSession, "after_flush")
def _note_flushed(session: CarnetSession, flush_context: Any) -> None:
    for objects, action in ((session.new, "create"), (session.dirty, "update"), (session.deleted, "delete")):
        for obj in objects:
            traced = traced_table(type(obj))
            if traced is None:
                continue
            if action == "update" and not session.is_modified(obj, include_collections=False):
                continue
            patient = getattr(obj, traced[1]) if traced[1] else None
            _note_write(session.info, obj.clinic_id, patient, traced[0], action, getattr(obj, "id", None))


@event.listens_for(CarnetSession, "do_orm_execute")
def _note_bulk(state: orm.ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.bind_mapper is None:
        return
    traced = traced_table(state.bind_mapper.class_)
    if traced is None:
        return
    session = state.session
    clinic_id = session.info.get("clinic_id")
    if clinic_id is None:  # unscoped system work: the clinic of the rows is not known here
        return
    action = "update" if state.is_update else "delete"
    table = state.bind_mapper.local_table
    if traced[1] is None or "id" not in table.c:
        _note_write(session.info, clinic_id, None, traced[0], action, None)
        return
    # Which rows, of which patients: the statement's own criteria, read first (bulk statements
    # on such tables are rare: an erasure, a clean-up), so each patient's trail names them.
    patient = state.bind_mapper.attrs[traced[1]].columns[0]
    query = sa.select(table.c.id, patient)
    where = getattr(state.statement, "whereclause", None)
    if where is not None:
        query = query.where(where)
    for row_id, patient_id in session.execute(query).all():
        _note_write(session.info, clinic_id, patient_id, traced[0], action, row_id)


# --- writing the records -------------------------------------------------------------------------


def _actor(info: dict[str, Any]) -> Any:
    principal = info.get("principal")
    if principal is not None:
        return principal
    from carnet_core.jobs.context import current_job_or_none

    job = current_job_or_none()
    return f"job:{job.actor}" if job is not None else "system"


def _covered(named: set[Any], clinic_id: int, patient_id: int | None, kind: str, rows: set[str]) -> bool:
    if patient_id is not None:
        return (clinic_id, patient_id) in named
    return bool(rows) and all((clinic_id, kind, row) in named for row in rows)


def _resource(kind: str) -> str:
    return kind if _KIND_RE.match(kind) else "sealed_value"


def _fields(session: CarnetSession, opens: dict[Any, Any] | None, writes: dict[Any, Any] | None,
            into: CarnetSession | None = None) -> list[dict[str, Any]]:
    """The checked fields of the trace's records (`audit.services.checked_rows`), in their order,
    for appending in `into` (default: the session that noted them)."""
    info = session.info
    named = info.get(NAMED) or set()
    rows: list[tuple[Any, ...]] = []
    shared: dict[tuple[Any, ...], dict[str, Any]] = {}  # equal details, one object: encoded once
    for (clinic_id, patient_id, kind), (columns, ids, values) in sorted((opens or {}).items(), key=_order):
        if _covered(named, clinic_id, patient_id, kind, ids):
            continue
        fields = tuple(sorted(columns)[:_MAX_FIELDS])
        details = shared.get((fields, values, len(ids)))
        if details is None:
            details = shared[(fields, values, len(ids))] = {
                "trace": "open", "fields": list(fields), "values": values, "rows": len(ids)}
        rows.append((clinic_id, patient_id, "read", _resource(kind), next(iter(ids)) if len(ids) == 1 else None,
                     details))
    for (clinic_id, patient_id, table, action), written in sorted((writes or {}).items(), key=_order):
        ids = written - {""}
        if _covered(named, clinic_id, patient_id, table, ids):
            continue
        details = {"trace": "write", "rows": len(ids)}
        if "" in written:
            details["bulk"] = True
        rows.append((clinic_id, patient_id, action, table, next(iter(ids)) if len(ids) == 1 else None, details))
    if not rows:
        return []
    # one actor and one instant for the batch, written at once: each is resolved and encoded once
    return checked_rows(into or session, _actor(info), utcnow(), rows)


def _order(item: tuple[Any, Any]) -> tuple[Any, ...]:
    return tuple(-1 if part is None else part for part in item[0])


def flush_trace(session: CarnetSession) -> None:
    """Write the noted opens and writes as audit records in the committing transaction (called by
    the audit trail's before-commit step, for the outermost transaction only)."""
    info = session.info
    if session.in_nested_transaction():
        return
    session.flush()  # the ORM writes still pending are noted now, not after this step
    queued = take_at_commit(session)  # the records it covers are left out of the trace below
    opens, writes = info.pop(OPENS, None), info.pop(WRITES, None)
    fields = _fields(session, opens, writes) if opens or writes else []
    if queued or fields:
        # One batch: the transaction's records made at commit (`record_at_commit`), then the trace.
        append_batch(session, queued + fields, events=False)


def forget(session: CarnetSession, outermost: bool) -> None:
    """After a rollback: writes undone are not traced; what was opened stays noted."""
    session.info.pop(NAMED, None)
    if outermost:
        session.info.pop(WRITES, None)


# What a sibling session takes from the reading one: keys, announcer, clinic, who reads.
_SIBLING_INFO = ("carnet.keyring", "audit_notifier", "clinic_id", "unscoped", "principal")


def record_opens_apart(session: CarnetSession) -> int:
    """Record the opens noted so far in a transaction of their own, and forget them; returns how many
    records were written. For a long read of many patients (the whole clinic's export): its memory
    stays flat instead of holding an entry per patient, and the records are written batch by batch,
    not all at its commit. A patient read across two batches gets a record in each. If writing
    fails, the opens stay noted (the reading transaction's end records them)."""
    opens = session.info.pop(OPENS, None)
    if not opens:
        return 0
    sibling = CarnetSession(bind=session.get_bind(), expire_on_commit=False)
    sibling.info.update({k: v for k, v in session.info.items() if k in _SIBLING_INFO})
    try:
        fields = _fields(session, opens, {}, into=sibling)
        if fields:
            append_batch(sibling, fields)
        sibling.commit()
    except BaseException:
        sibling.rollback()
        session.info[OPENS] = opens
        raise
    finally:
        sibling.close()
    return len(fields)


def keep_opens_after_rollback(session: CarnetSession) -> None:
    """Record, in a transaction of their own, the opens of a transaction that rolled back (what a
    refused form showed was seen all the same). Never raises: the action has failed already."""
    opens = session.info.pop(OPENS, None)
    session.info.pop(WRITES, None)
    if not opens:
        return
    try:
        fields = _fields(session, opens, {})
        if fields:
            append_batch(session, fields)
        session.commit()
    except Exception:
        log.exception("sealed values opened by a rolled-back transaction could not be traced")
        session.rollback()
