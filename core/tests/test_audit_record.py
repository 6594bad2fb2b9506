"""audit.record: written in the caller's transaction, chained per clinic, append-only."""

import threading

import pytest
import sqlalchemy as sa
from sqlmodel import select

from carnet_core import audit
from carnet_core.audit.chain import GENESIS, canonical, chain_hash
from carnet_core.audit.models import AuditHead, AuditRecord
from carnet_core.db.session import ScopeError
from carnet_core.web.principal import Principal


def _records(carnet_db, clinic_id):
    with carnet_db.session(clinic_id=clinic_id) as db:
        return list(db.exec(select(AuditRecord).order_by(AuditRecord.seq)))


def test_record_fills_actor_request_and_address_from_the_session(carnet_db, clinic):
    # given a session as a web request sets it up
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = Principal(kind="user", user_id=7, clinic_id=clinic.id)
        db.info["request_id"] = "req-12345678"
        db.info["address"] = "192.0.2.4"
        # when an action is audited
        event = audit.record(db, action="read", resource_type="patient", resource_id=42, patient_id=42)
    # then the stored record says who, what, from where and under which request
    (row,) = _records(carnet_db, clinic.id)
    assert (row.actor_kind, row.actor_id, row.actor_user_id) == ("user", "7", 7)
    assert (row.action, row.resource_type, row.resource_id, row.patient_id) == ("read", "patient", "42", 42)
    assert (row.request_id, row.address, row.outcome) == ("req-12345678", "192.0.2.4", "success")
    assert row.occurred_at.tzinfo is not None
    assert row.seq == 1 and row.prev_hash == GENESIS and event.id == row.id
    assert row.hash == chain_hash(GENESIS, canonical(row.model_dump()))


def test_jobs_pass_an_explicit_actor_and_clinic_on_an_unscoped_session(carnet_db, clinic):
    with carnet_db.session(unscoped=True) as db:
        audit.record(db, action="export", resource_type="patient", patient_id=3,
                     actor="job:exports.build", clinic_id=clinic.id, details={"files": 2})
    (row,) = _records(carnet_db, clinic.id)
    assert (row.actor_kind, row.actor_id, row.actor_user_id) == ("job", "exports.build", None)
    assert row.details == '{"files":2}'


def test_a_record_without_actor_outside_a_request_is_refused(carnet_db, clinic):
    with pytest.raises(audit.AuditError, match="actor="), carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient")


@pytest.mark.parametrize("kwargs", [
    {"action": "Read!", "resource_type": "patient"},
    {"action": "read", "resource_type": "Patient Files"},
    {"action": "read", "resource_type": "patient", "outcome": "maybe"},
    {"action": "read", "resource_type": "patient", "patient_id": "12"},
    {"action": "read", "resource_type": "patient", "details": {"blob": "x" * 5000}},
    {"action": "read", "resource_type": "patient", "details": {"when": object()}},
    {"action": "read", "resource_type": "patient", "actor": "robot:1"},
])
def test_invalid_records_are_refused_and_nothing_is_written(carnet_db, clinic, kwargs):
    kwargs.setdefault("actor", "system:test")
    with pytest.raises(audit.AuditError), carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, **kwargs)
    assert _records(carnet_db, clinic.id) == []


def test_record_for_another_clinic_from_a_scoped_session_is_refused(carnet_db, make_clinic):
    a, b = make_clinic("alpha"), make_clinic("beta")
    with pytest.raises(ScopeError), carnet_db.session(clinic_id=a.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system", clinic_id=b.id)


def test_rolled_back_action_leaves_no_record_and_the_chain_continues(carnet_db, clinic):
    # given an action that fails after auditing
    with pytest.raises(RuntimeError), carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="update", resource_type="patient", actor="system")
        raise RuntimeError("the action failed")
    # when the next action is audited
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="update", resource_type="patient", actor="system")
        audit.record(db, action="read", resource_type="patient", actor="system")
    # then the chain has no gap and links each record to the previous one
    rows = _records(carnet_db, clinic.id)
    assert [r.seq for r in rows] == [1, 2]
    assert rows[1].prev_hash == rows[0].hash
    with carnet_db.session(unscoped=True) as db:
        head = db.get(AuditHead, clinic.id)
    assert (head.seq, head.hash) == (2, rows[1].hash)


def test_each_clinic_has_its_own_chain(carnet_db, make_clinic):
    a, b = make_clinic("alpha"), make_clinic("beta")
    for clinic_id in (a.id, b.id, a.id):
        with carnet_db.session(clinic_id=clinic_id) as db:
            audit.record(db, action="read", resource_type="patient", actor="system")
    assert [r.seq for r in _records(carnet_db, a.id)] == [1, 2]
    assert [r.seq for r in _records(carnet_db, b.id)] == [1]


def test_audit_rows_cannot_be_updated_or_deleted(carnet_db, clinic):
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    for statement in ("UPDATE core_audit SET action = 'delete'", "DELETE FROM core_audit",
                      "UPDATE core_audit_head SET seq = 0", "DELETE FROM core_audit_head"):
        refused = pytest.raises(sa.exc.DatabaseError, match="append-only|forward|cannot be deleted")
        with refused, carnet_db.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert len(_records(carnet_db, clinic.id)) == 1


@pytest.mark.postgres
def test_audit_table_cannot_be_truncated_on_postgres(carnet_db, clinic):
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), carnet_db.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE core_audit CASCADE")
    assert len(_records(carnet_db, clinic.id)) == 1


def test_a_failing_audit_insert_fails_the_action(carnet_db, clinic):
    # given a database that refuses audit inserts
    with carnet_db.engine.begin() as conn:
        _refuse_audit_inserts(conn)
    from carnet_core.clinics.models import ClinicPlugin

    try:
        # when an action writes data and audits it
        with pytest.raises(audit.AuditError), carnet_db.session(clinic_id=clinic.id) as db:
            db.add(ClinicPlugin(plugin="newmodule"))
            db.flush()
            audit.record(db, action="create", resource_type="module", actor="system")
    finally:
        with carnet_db.engine.begin() as conn:
            on_table = "" if conn.dialect.name == "sqlite" else " ON core_audit"
            conn.exec_driver_sql("DROP TRIGGER test_refuse" + on_table)
    # then the action's own write is gone too
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.exec(select(ClinicPlugin).where(ClinicPlugin.plugin == "newmodule")).first() is None


def _refuse_audit_inserts(conn):
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "CREATE TRIGGER test_refuse BEFORE INSERT ON core_audit "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    else:
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER test_refuse BEFORE INSERT ON core_audit "
            "FOR EACH ROW EXECUTE FUNCTION test_refuse()"
        )


def test_concurrent_writers_do_not_fork_the_chain(carnet_db, clinic):
    # given several threads auditing in the same clinic at once
    errors = []

    def work():
        try:
            for _ in range(15):
                with carnet_db.session(clinic_id=clinic.id) as db:
                    audit.record(db, action="read", resource_type="patient", actor="system")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then every record has its own seq and links to the one before
    assert errors == []
    rows = _records(carnet_db, clinic.id)
    assert [r.seq for r in rows] == list(range(1, 61))
    prev = GENESIS
    for r in rows:
        assert r.prev_hash == prev
        assert r.hash == chain_hash(prev, canonical(r.model_dump()))
        prev = r.hash


# --- record_at_commit: appended at commit, in one batch with core's trace ------------------------


def _patient(carnet_db, clinic_id, last_name="Lefèvre"):
    from carnet_core.patients import access

    with carnet_db.session(clinic_id=clinic_id) as db:
        return access(db, "system:test").register({"last_name": last_name, "first_name": "Élodie"})


def test_a_record_at_commit_is_appended_with_the_trace_when_the_transaction_commits(carnet_db, clinic):
    from carnet_core.patients.services import names_of

    pid = _patient(carnet_db, clinic.id)
    before = len(_records(carnet_db, clinic.id))
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = Principal(kind="user", user_id=7, clinic_id=clinic.id)
        # given a page that opens a patient's name and records that it listed them
        assert names_of(db, [pid]) == {pid: ("Lefèvre", "Élodie")}
        audit.record_at_commit(db, action="list", resource_type="appointment", details={"count": 1})
        # then nothing is written (nor the chain head locked) before the commit
        assert db.exec(select(sa.func.count()).select_from(AuditRecord)).one() == before
    # when it commits: the list record, then core's trace of the name opened, chained in order
    rows = _records(carnet_db, clinic.id)[before:]
    assert [(r.action, r.resource_type, r.patient_id) for r in rows] == [
        ("list", "appointment", None), ("read", "core_patient", pid)]
    assert (rows[0].actor_kind, rows[0].actor_user_id, rows[0].details) == ("user", 7, '{"count":1}')
    assert rows[1].seq == rows[0].seq + 1 and rows[1].prev_hash == rows[0].hash
    with carnet_db.session(unscoped=True) as db:
        head = db.get(AuditHead, clinic.id)
    assert (head.seq, head.hash) == (rows[1].seq, rows[1].hash)


def test_a_record_at_commit_naming_a_patient_covers_the_trace_of_that_patient(carnet_db, clinic):
    from carnet_core.patients.services import names_of

    pid = _patient(carnet_db, clinic.id)
    before = len(_records(carnet_db, clinic.id))
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:test"
        names_of(db, [pid])
        audit.record_at_commit(db, action="read", resource_type="patient", resource_id=pid, patient_id=pid)
    rows = _records(carnet_db, clinic.id)[before:]
    assert [(r.action, r.resource_type, r.patient_id) for r in rows] == [("read", "patient", pid)]


def test_records_at_commit_go_with_a_rollback_and_with_the_savepoint_they_were_made_in(carnet_db, clinic):
    # given a transaction that fails after recording
    with pytest.raises(RuntimeError), carnet_db.session(clinic_id=clinic.id) as db:
        audit.record_at_commit(db, action="update", resource_type="patient", actor="system")
        raise RuntimeError("the action failed")
    assert _records(carnet_db, clinic.id) == []
    # and one where a savepoint rolls back between records
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record_at_commit(db, action="create", resource_type="patient", resource_id="a", actor="system")
        savepoint = db.begin_nested()
        audit.record_at_commit(db, action="create", resource_type="patient", resource_id="b", actor="system")
        inner = db.begin_nested()
        audit.record_at_commit(db, action="create", resource_type="patient", resource_id="c", actor="system")
        inner.rollback()
        savepoint.rollback()
        audit.record_at_commit(db, action="create", resource_type="patient", resource_id="d", actor="system")
        kept = db.begin_nested()
        audit.record_at_commit(db, action="create", resource_type="patient", resource_id="e", actor="system")
        kept.commit()
    # then only what was committed is recorded, in order, without a gap
    rows = _records(carnet_db, clinic.id)
    assert [(r.seq, r.resource_id) for r in rows] == [(1, "a"), (2, "d"), (3, "e")]


@pytest.mark.parametrize("kwargs", [
    {"action": "Read!", "resource_type": "patient"},
    {"action": "read", "resource_type": "patient", "patient_id": "12"},
    {"action": "read", "resource_type": "patient", "actor": "robot:1"},
])
def test_a_bad_record_at_commit_is_refused_at_the_call(carnet_db, clinic, kwargs):
    kwargs.setdefault("actor", "system:test")
    with pytest.raises(audit.AuditError), carnet_db.session(clinic_id=clinic.id) as db:
        audit.record_at_commit(db, **kwargs)
    assert _records(carnet_db, clinic.id) == []


def test_a_record_at_commit_that_cannot_be_written_fails_the_commit(carnet_db, clinic):
    from carnet_core.clinics.models import ClinicPlugin

    with carnet_db.engine.begin() as conn:
        _refuse_audit_inserts(conn)
    try:
        with pytest.raises(audit.AuditError), carnet_db.session(clinic_id=clinic.id) as db:
            db.add(ClinicPlugin(plugin="newmodule"))
            db.flush()
            audit.record_at_commit(db, action="create", resource_type="module", actor="system")
    finally:
        with carnet_db.engine.begin() as conn:
            on_table = "" if conn.dialect.name == "sqlite" else " ON core_audit"
            conn.exec_driver_sql("DROP TRIGGER test_refuse" + on_table)
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.exec(select(ClinicPlugin).where(ClinicPlugin.plugin == "newmodule")).first() is None


def test_the_traces_rows_are_checked_into_the_same_fields_as_record_would_write(carnet_db, clinic, make_clinic):
    # core's trace checks its records in one pass (checked_rows); the fields must be those that
    # `checked` (record's own path) gives for the same records, and the same refusals apply
    from datetime import UTC, datetime

    from carnet_core.audit.services import AuditError, checked, checked_rows

    principal = Principal(kind="user", user_id=7, clinic_id=clinic.id)
    when = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)
    shared = {"trace": "open", "fields": ["first_name", "last_name"], "values": 2, "rows": 1}
    rows = [(clinic.id, 3, "read", "core_patient", "3", shared), (clinic.id, 4, "read", "core_patient", None, shared),
            (clinic.id, None, "update", "scheduling_appointment", "9", {"trace": "write", "rows": 1, "bulk": True})]
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info.update({"principal": principal, "request_id": "req-1", "address": "192.0.2.4"})
        entries = [{"clinic_id": c, "patient_id": p, "action": a, "resource_type": t, "resource_id": r, "details": d,
                    "actor": principal, "occurred_at": when} for c, p, a, t, r, d in rows]
        assert checked_rows(db, principal, when, rows) == checked(db, entries)
        for bad in [(clinic.id, True, "read", "core_patient", None, shared),
                    (clinic.id, 3, "read", "Core Patient", None, shared),
                    (clinic.id, 3, "Read!", "core_patient", None, shared)]:
            with pytest.raises(AuditError):
                checked_rows(db, principal, when, [bad])
        other = make_clinic("cabinet-autre")
        with pytest.raises(ScopeError):
            checked_rows(db, principal, when, [(other.id, 3, "read", "core_patient", None, shared)])
