"""`carnet audit verify` names the first bad record after direct tampering with the database.

The same tests run on SQLite and, with CARNET_TEST_DATABASE_URL, on PostgreSQL. Tampering
bypasses the append-only triggers as an attacker with database access would: by dropping them
(SQLite) or with session_replication_role = replica (PostgreSQL).
"""

import os
import re
from datetime import date

import pytest
import sqlalchemy as sa
from audit_tampering import TABLE, row, run_verify, tampering, verify_report, write_trail
from click.testing import CliRunner

from carnet_core import audit
from carnet_core.audit import chain
from carnet_core.audit.chain import canonical, chain_hash
from carnet_core.audit.integrity import verify_clinic
from carnet_core.audit.models import AuditCheckpoint
from carnet_core.cli import main


def _row(conn, seq):
    return row(conn, seq)


_problem = verify_report


def test_an_intact_trail_verifies(carnet_settings, trail):
    code, output = run_verify(carnet_settings)
    assert code == 0, output
    assert "cabinet-test: intact, 10 record(s) (seq 1..10), 2 signed checkpoint(s)" in output


def test_a_modified_record_is_named(carnet_settings, carnet_db, trail):
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("UPDATE core_audit SET actor_id = '99' WHERE seq = 4")
        target = _row(conn, 4)["id"]
    code, output = run_verify(carnet_settings, "--clinic", "cabinet-test")
    assert code == 1
    assert f"BROKEN at seq 4, record id {target}: content does not match its hash (modified record)" in output


def test_a_deleted_record_is_named(carnet_settings, carnet_db, trail):
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("DELETE FROM core_audit WHERE seq = 4")
        following = _row(conn, 5)["id"]
    code, report = _problem(carnet_settings, "cabinet-test")
    assert code == 1
    assert report["problem"]["seq"] == 5 and report["problem"]["record_id"] == following
    assert report["problem"]["reason"] == "records with seq 4 are missing (deleted)"


def test_several_deleted_records_are_named_as_a_range(carnet_settings, carnet_db, trail):
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("DELETE FROM core_audit WHERE seq IN (4, 5, 6)")
        following = _row(conn, 7)["id"]
    code, report = _problem(carnet_settings, "cabinet-test")
    assert code == 1
    assert (report["problem"]["seq"], report["problem"]["record_id"]) == (7, following)
    assert report["problem"]["reason"] == "records with seq 4 to 6 are missing (deleted)"


def test_an_inserted_record_is_named(carnet_settings, carnet_db, trail):
    with tampering(carnet_db) as conn:
        # make room at seq 5 and slip a copy of record 2 in there
        conn.exec_driver_sql("UPDATE core_audit SET seq = seq + 1000 WHERE seq >= 5")
        conn.exec_driver_sql("UPDATE core_audit SET seq = seq - 999 WHERE seq > 1000")
        copy = dict(_row(conn, 2))
        copy.pop("id")
        copy["seq"] = 5
        conn.execute(sa.insert(TABLE).values(**copy))
        inserted = _row(conn, 5)["id"]
    code, report = _problem(carnet_settings, "cabinet-test")
    assert code == 1
    assert report["problem"]["seq"] == 5 and report["problem"]["record_id"] == inserted
    assert report["problem"]["reason"] == (
        "prev_hash does not match the previous record's hash (inserted, reordered or replaced)")


def test_a_well_forged_insertion_is_caught_at_the_next_record(carnet_settings, carnet_db, trail):
    # given an attacker who computes a valid hash for the inserted record
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("UPDATE core_audit SET seq = seq + 1000 WHERE seq >= 5")
        conn.exec_driver_sql("UPDATE core_audit SET seq = seq - 999 WHERE seq > 1000")
        forged = dict(_row(conn, 3))
        forged.pop("id")
        forged.update(seq=5, prev_hash=_row(conn, 4)["hash"], actor_id="666")
        forged["hash"] = chain_hash(forged["prev_hash"], canonical(forged))
        conn.execute(sa.insert(TABLE).values(**forged))
        displaced = _row(conn, 6)["id"]
    code, report = _problem(carnet_settings, "cabinet-test")
    # then the chain breaks right after it (the displaced record) — or at the signed checkpoint
    assert code == 1
    assert report["problem"]["seq"] in (5, 6)
    assert report["problem"]["record_id"] in (displaced, _forged_id(carnet_db))


def _forged_id(carnet_db):
    with carnet_db.engine.connect() as conn:
        return _row(conn, 5)["id"]


def test_reordered_records_are_named(carnet_settings, carnet_db, trail):
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("UPDATE core_audit SET seq = 1004 WHERE seq = 4")
        conn.exec_driver_sql("UPDATE core_audit SET seq = 4 WHERE seq = 5")
        conn.exec_driver_sql("UPDATE core_audit SET seq = 5 WHERE seq = 1004")
        moved = _row(conn, 4)["id"]
    code, report = _problem(carnet_settings, "cabinet-test")
    assert code == 1
    assert report["problem"]["seq"] == 4 and report["problem"]["record_id"] == moved


def test_a_truncated_tail_is_caught_by_the_signed_checkpoint(carnet_settings, carnet_db, trail):
    # given an attacker who removes the last records and rewinds the chain head to match
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("DELETE FROM core_audit WHERE seq >= 8")
        last = _row(conn, 7)
        conn.execute(sa.text("UPDATE core_audit_head SET seq = 7, hash = :h"), {"h": last["hash"]})
    code, report = _problem(carnet_settings, "cabinet-test")
    assert code == 1
    assert report["problem"]["seq"] == 8
    assert re.fullmatch(r"missing: signed checkpoint \d+ covers records up to seq 10 but the chain ends at seq 7 "
                        r"\(truncated\)", report["problem"]["reason"]), report["problem"]["reason"]


def test_a_truncated_tail_after_the_last_checkpoint_is_caught_by_the_chain_head(
    carnet_settings, carnet_db, trail
):
    with carnet_db.session(clinic_id=trail.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("DELETE FROM core_audit WHERE seq = 11")
    code, report = _problem(carnet_settings, "cabinet-test")
    assert code == 1 and report["problem"]["seq"] == 11
    assert report["problem"]["reason"] == (
        "missing: the chain head is at seq 11 but the records end at seq 10 (truncated)")


def test_a_rewritten_chain_is_caught_by_the_signed_checkpoint(carnet_settings, carnet_db, trail):
    # given an attacker who modifies record 3 and recomputes every later hash and the head
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("UPDATE core_audit SET actor_id = '99' WHERE seq = 3")
        prev = _row(conn, 2)["hash"]
        for seq in range(3, 11):
            row = _row(conn, seq)
            digest = chain_hash(prev, canonical(row))
            conn.execute(sa.text("UPDATE core_audit SET prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"p": prev, "h": digest, "s": seq})
            prev = digest
        conn.execute(sa.text("UPDATE core_audit_head SET hash = :h"), {"h": prev})
        fifth = _row(conn, 5)["id"]
    code, report = _problem(carnet_settings, "cabinet-test")
    assert code == 1
    assert report["problem"]["seq"] == 5 and report["problem"]["record_id"] == fifth
    assert re.fullmatch(r"does not match signed checkpoint \d+ \(rewritten chain\)", report["problem"]["reason"])


def test_a_rewritten_first_record_is_caught_by_the_checkpoint_that_signs_it(carnet_db, clinic, keys_dir):
    # the only checkpoint signs seq 1, the first record the chain reads
    write_trail(carnet_db, clinic.id, keys_dir, count=2, checkpoints=(1,))
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("UPDATE core_audit SET actor_id = '99' WHERE seq = 1")
        prev = chain.GENESIS
        for seq in (1, 2):
            digest = chain_hash(prev, canonical(_row(conn, seq)))
            conn.execute(sa.text("UPDATE core_audit SET prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"p": prev, "h": digest, "s": seq})
            prev = digest
        conn.execute(sa.text("UPDATE core_audit_head SET hash = :h"), {"h": prev})
        first = _row(conn, 1)["id"]
    with carnet_db.session(unscoped=True) as db:
        checked = verify_clinic(db, clinic.id, keys_dir)
    assert (checked.ok, checked.problem.seq, checked.problem.record_id) == (False, 1, first)
    assert re.fullmatch(r"does not match signed checkpoint \d+ \(rewritten chain\)", checked.problem.reason)


def test_a_forged_checkpoint_is_named(carnet_settings, carnet_db, trail):
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("UPDATE core_audit_checkpoint SET seq = 4 WHERE seq = 5")
        cp = conn.exec_driver_sql("SELECT id FROM core_audit_checkpoint WHERE seq = 4").scalar()
    code, report = _problem(carnet_settings, "cabinet-test")
    assert code == 1
    assert (report["problem"]["checkpoint_id"], report["problem"]["seq"]) == (cp, 4)
    assert report["problem"]["reason"] == "checkpoint signature is invalid (forged or altered checkpoint)"


def test_of_two_forged_checkpoints_the_first_is_named(carnet_db, trail, keys_dir):
    # both forged, then written back the later first: PostgreSQL then keeps the later one first in
    # the table and in its clinic index, so that only the query's order by id names the first
    # (SQLite keeps its rows in id order whatever the order they are written in)
    with tampering(carnet_db) as conn:
        first, second = conn.exec_driver_sql("SELECT id FROM core_audit_checkpoint ORDER BY id").scalars().all()
        conn.exec_driver_sql(f"UPDATE core_audit_checkpoint SET seq = 9 WHERE id = {second}")
        conn.exec_driver_sql(f"UPDATE core_audit_checkpoint SET seq = 4 WHERE id = {first}")
        table = AuditCheckpoint.__table__
        rows = {r["id"]: dict(r) for r in conn.execute(sa.select(table)).mappings()}
        conn.execute(sa.delete(table))
        for cp in (second, first):
            conn.execute(sa.insert(table).values(**rows[cp]))
        in_the_table = conn.exec_driver_sql("SELECT id FROM core_audit_checkpoint").scalars().all()
        assert in_the_table == [second, first] or conn.dialect.name == "sqlite"
    with carnet_db.session(unscoped=True) as db:
        checked = verify_clinic(db, trail.id, keys_dir)
    assert (checked.clinic_id, checked.problem.checkpoint_id, checked.problem.seq) == (trail.id, first, 4)


def test_checkpoints_need_the_public_key(carnet_settings, trail, keys_dir):
    (keys_dir / "audit-signing.pub").unlink()
    code, report = _problem(carnet_settings, "cabinet-test")
    assert code == 1
    assert re.fullmatch(rf"signed with key \S+, whose public key is not in {re.escape(str(keys_dir))} \(restore "
                        r"audit-signing.pub or the retired audit-signing-<key id>.pub\)", report["problem"]["reason"]), \
        report["problem"]["reason"]


def test_verify_checks_every_clinic_and_fails_if_one_is_broken(carnet_settings, carnet_db, trail, make_clinic):
    other = make_clinic("autre")
    with carnet_db.session(clinic_id=other.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    with tampering(carnet_db) as conn:
        conn.execute(sa.text("UPDATE core_audit SET action = 'list' WHERE clinic_id = :c"), {"c": other.id})
    code, output = run_verify(carnet_settings)
    assert code == 1
    assert "cabinet-test: intact" in output and "autre: BROKEN at seq 1" in output


def test_checkpoint_command_signs_each_clinic_head_once(carnet_settings, carnet_db, clinic, keys_dir):
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    first = CliRunner().invoke(main, ["audit", "checkpoint"], env=env)
    again = CliRunner().invoke(main, ["audit", "checkpoint"], env=env)
    assert first.exit_code == 0 and "cabinet-test: signed seq 1" in first.output
    assert again.exit_code == 0 and "cabinet-test: nothing new to sign" in again.output


def test_checkpoint_without_signing_key_names_the_fix(carnet_settings, carnet_db, clinic):
    for name in ("audit-signing.key", "audit-signing.pub"):
        (carnet_settings.keys_dir / name).unlink()
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    result = CliRunner().invoke(main, ["audit", "checkpoint"], env=env)
    assert result.exit_code == 2 and "carnet init" in result.output


def test_init_creates_the_signing_key_outside_the_database_with_mode_0600(carnet_settings, plugin_host, carnet_db):
    from carnet_core.setup import initialise

    for name in ("audit-signing.key", "audit-signing.pub"):  # test settings make it like init does
        (carnet_settings.keys_dir / name).unlink()
    lines = list(initialise(carnet_settings, plugin_host, carnet_db))
    key = carnet_settings.keys_dir / "audit-signing.key"
    assert any("audit signing key: created" in line for line in lines)
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    assert (carnet_settings.keys_dir / "audit-signing.pub").exists()
    assert any("audit signing key: present" in line for line in initialise(carnet_settings, plugin_host, carnet_db))


def test_checkpoint_all_signs_each_clinic_head_once(carnet_db, clinic, keys_dir, make_clinic):
    from carnet_core.audit.integrity import checkpoint_all
    from carnet_core.audit.models import AuditCheckpoint

    other = make_clinic("autre")
    for clinic_id in (clinic.id, other.id):
        with carnet_db.session(clinic_id=clinic_id) as db:
            audit.record(db, action="read", resource_type="patient", actor="system")
    assert checkpoint_all(carnet_db, keys_dir) == 2
    assert checkpoint_all(carnet_db, keys_dir) == 0
    with carnet_db.session(unscoped=True) as db:
        signed = db.exec(sa.select(AuditCheckpoint.clinic_id, AuditCheckpoint.seq)).all()
        assert sorted(signed) == sorted([(clinic.id, 1), (other.id, 1)])


def test_the_scheduled_checkpoint_job_signs_every_clinic_chain(jobs_worker, make_clinic):
    from sqlmodel import select

    from carnet_core import audit
    from carnet_core.audit.models import AuditCheckpoint
    from carnet_core.jobs import enqueue
    from carnet_core.jobs.testing import wait_for_jobs

    clinics = [make_clinic(f"cp-{i}", plugins=[]) for i in range(2)]
    for c in clinics:
        with jobs_worker.db.session(clinic_id=c.id) as db:
            audit.record(db, action="read", resource_type="test", actor="system:test")
    with jobs_worker.db.session(unscoped=True) as db:
        enqueue(db, "core.audit_checkpoint")
    wait_for_jobs(jobs_worker)
    with jobs_worker.db.session(unscoped=True) as db:
        signed = {row.clinic_id for row in db.exec(select(AuditCheckpoint))}
    assert {c.id for c in clinics} <= signed


def test_records_after_the_last_checkpoint_are_noted_not_broken(carnet_settings, carnet_db, trail):
    code, output = run_verify(carnet_settings)
    assert code == 0 and "note:" not in output  # everything signed
    for _ in range(3):
        with carnet_db.session(clinic_id=trail.id) as db:
            audit.record(db, action="read", resource_type="patient", actor="system")
    code, output = run_verify(carnet_settings)
    assert code == 0
    assert ("cabinet-test: note: 3 record(s) after the last signed checkpoint are protected by the chain only"
            in output)


def test_a_tail_cut_below_two_checkpoints_is_named_by_the_newest(carnet_db, trail, keys_dir):
    # given records 4 to 10 deleted and the head rewound: both signed checkpoints (5 and 10) cover
    # records that are gone; the newest is named, with how far it reaches
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("DELETE FROM core_audit WHERE seq >= 4")
        conn.execute(sa.text("UPDATE core_audit_head SET seq = 3, hash = :h"), {"h": _row(conn, 3)["hash"]})
        tenth = conn.exec_driver_sql("SELECT id FROM core_audit_checkpoint WHERE seq = 10").scalar()
    with carnet_db.session(unscoped=True) as db:
        checked = verify_clinic(db, trail.id, keys_dir)
    assert (checked.ok, checked.problem.seq, checked.problem.checkpoint_id) == (False, 4, tenth)
    assert checked.problem.reason == (
        f"missing: signed checkpoint {tenth} covers records up to seq 10 but the chain ends at seq 3 (truncated)")


def test_records_never_signed_or_one_after_the_last_checkpoint_are_noted_with_the_fix(carnet_db, clinic, keys_dir):
    def note(count):
        return (f"{count} record(s) after the last signed checkpoint are protected by the chain only; "
                "run `carnet audit checkpoint` (it also runs on a schedule)")

    write_trail(carnet_db, clinic.id, keys_dir, count=2, checkpoints=())
    with carnet_db.session(unscoped=True) as db:
        never_signed = verify_clinic(db, clinic.id, keys_dir)
    write_trail(carnet_db, clinic.id, keys_dir, count=1, checkpoints=(1,))  # signs seq 3
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    with carnet_db.session(unscoped=True) as db:
        one_after = verify_clinic(db, clinic.id, keys_dir)
    assert (never_signed.ok, never_signed.last_signed_seq, never_signed.warnings) == (True, None, [note(2)])
    assert (one_after.ok, one_after.last_signed_seq, one_after.warnings) == (True, 3, [note(1)])


def test_an_empty_clinic_is_intact_without_notes(carnet_settings, clinic, keys_dir):
    code, report = verify_report(carnet_settings, "cabinet-test")
    assert code == 0
    assert (report["records"], report["first_seq"], report["last_seq"], report["last_signed_seq"]) == (0, None, 0, None)
    assert report["warnings"] == []


def test_a_record_deleted_and_put_back_is_named_as_reordered(carnet_settings, carnet_db, trail):
    # given an attacker who deletes record 4 and inserts the very same content again: every hash
    # still links, but the record now sits after the records that follow it
    with tampering(carnet_db) as conn:
        copy = dict(_row(conn, 4))
        conn.exec_driver_sql("DELETE FROM core_audit WHERE seq = 4")
        copy.pop("id")
        conn.execute(sa.insert(TABLE).values(**copy))
        fifth = _row(conn, 5)["id"]
    code, report = _problem(carnet_settings, "cabinet-test")
    assert code == 1
    assert (report["problem"]["seq"], report["problem"]["record_id"]) == (5, fifth)
    assert report["problem"]["reason"] == "stored before the record that precedes it (reordered)"


@pytest.fixture
def unique_seq_dropped(carnet_db):
    """As an attacker who owns the database: the (clinic_id, seq) unique constraint removed, so
    that a second record can take a seq already used. SQLite cannot drop a table's constraint:
    the table is rebuilt without it (the test's database is its own copy). PostgreSQL's test
    schema outlives the test: the constraint is put back afterwards."""
    with tampering(carnet_db) as conn:
        if conn.dialect.name == "sqlite":
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'core_audit'").scalar()
            bare = re.sub(r",\s*CONSTRAINT uq_core_audit_clinic_id_seq UNIQUE \(clinic_id, seq\)", "", sql)
            assert bare != sql
            conn.exec_driver_sql("ALTER TABLE core_audit RENAME TO core_audit_kept")
            conn.exec_driver_sql(bare)
            conn.exec_driver_sql("INSERT INTO core_audit SELECT * FROM core_audit_kept")
            conn.exec_driver_sql("DROP TABLE core_audit_kept")
        else:
            conn.exec_driver_sql("ALTER TABLE core_audit DROP CONSTRAINT uq_core_audit_clinic_id_seq")
    yield
    if carnet_db.dialect != "sqlite":
        with tampering(carnet_db) as conn:
            conn.exec_driver_sql("TRUNCATE core_audit")
            conn.exec_driver_sql(
                "ALTER TABLE core_audit ADD CONSTRAINT uq_core_audit_clinic_id_seq UNIQUE (clinic_id, seq)")


def test_a_record_copied_under_a_seq_already_used_is_named(carnet_settings, carnet_db, trail, unique_seq_dropped):
    # given an attacker who drops the unique constraint and adds a second record at seq 4 (the
    # very content of record 4: its hashes link to record 3 like the original's)
    with tampering(carnet_db) as conn:
        copy = dict(_row(conn, 4))
        copy.pop("id")
        conn.execute(sa.insert(TABLE).values(**copy))
        second = conn.exec_driver_sql("SELECT max(id) FROM core_audit WHERE seq = 4").scalar()
    code, report = _problem(carnet_settings, "cabinet-test")
    assert code == 1
    assert (report["problem"]["seq"], report["problem"]["record_id"]) == (4, second)
    assert report["problem"]["reason"] == "seq 4 appears more than once (inserted record)"


def test_the_problem_names_every_place_it_knows():
    from carnet_core.audit.integrity import Problem

    assert Problem("gone").describe() == "chain: gone"
    assert Problem("x", seq=3, record_id=9, checkpoint_id=2, log_line=7).describe() == (
        "seq 3, record id 9, checkpoint id 2, checkpoint log line 7: x"
    )


def test_a_snapshot_must_start_with_the_session(carnet_db, trail):
    from carnet_core.audit.integrity import begin_snapshot

    with carnet_db.session(unscoped=True) as db:
        db.exec(sa.text("SELECT 1"))
        with pytest.raises(RuntimeError) as refused:
            begin_snapshot(db)
    assert str(refused.value) == "begin_snapshot() must be called before the session's first statement"


def test_verify_reads_one_snapshot_even_if_the_chain_grows_meanwhile(carnet_db, trail, keys_dir):
    # a verification that started before a record is appended ends with the chain it started on
    from carnet_core.audit.integrity import snapshot

    with snapshot(carnet_db) as db:
        first = verify_clinic(db, trail.id, keys_dir)
        with carnet_db.session(clinic_id=trail.id) as writer:
            audit.record(writer, action="read", resource_type="patient", actor="system")
        again = verify_clinic(db, trail.id, keys_dir)
    assert first.ok and again.ok and first.last_seq == again.last_seq == 10
    with carnet_db.session(unscoped=True) as db:
        assert verify_clinic(db, trail.id, keys_dir).last_seq == 11


def _stored_time(conn, seq):
    return conn.exec_driver_sql(f"SELECT occurred_at FROM core_audit WHERE seq = {int(seq)}").scalar()  # noqa: S608


def _sqlite_only(carnet_db):
    if carnet_db.dialect != "sqlite":
        pytest.skip("PostgreSQL stores times as timestamptz, not as text")


def test_a_time_stored_in_another_shape_is_read_as_the_application_reads_it(carnet_settings, carnet_db, trail):
    # SQLite keeps times as text; verification rewrites the one shape SQLAlchemy stores directly
    # and reads any other through the column's processor, as the application would read it:
    # the same instant written with a "T", with more digits than microseconds, with its offset or
    # with a decimal comma verifies, a changed instant does not.
    _sqlite_only(carnet_db)
    with tampering(carnet_db) as conn:
        stored = _stored_time(conn, 3)
        assert len(stored) == 26 and stored[10] == " "
        conn.exec_driver_sql(f"UPDATE core_audit SET occurred_at = '{stored[:10]}T{stored[11:]}' WHERE seq = 3")
        conn.exec_driver_sql(f"UPDATE core_audit SET occurred_at = '{_stored_time(conn, 2)}0' WHERE seq = 2")
        conn.exec_driver_sql(f"UPDATE core_audit SET occurred_at = '{_stored_time(conn, 4)}000' WHERE seq = 4")
        conn.exec_driver_sql(f"UPDATE core_audit SET occurred_at = '{_stored_time(conn, 5)}+00:00' WHERE seq = 5")
        first = _stored_time(conn, 1)
        conn.exec_driver_sql(f"UPDATE core_audit SET occurred_at = '{first[:19]},{first[20:]}' WHERE seq = 1")
        later = stored[:17] + f"{(int(stored[17:19]) + 1) % 60:02d}" + stored[19:]
        conn.exec_driver_sql(f"UPDATE core_audit SET occurred_at = '{later[:10]}T{later[11:]}' WHERE seq = 6")
        target = _row(conn, 6)["id"]
    code, output = run_verify(carnet_settings, "--clinic", "cabinet-test")
    assert code == 1
    assert f"BROKEN at seq 6, record id {target}: content does not match its hash (modified record)" in output


def test_a_stored_time_that_is_no_date_is_never_taken_for_one(carnet_settings, carnet_db, trail):
    # the stored shape, but month 13: not rewritten as if it were a time (the application could
    # not read it either)
    _sqlite_only(carnet_db)
    with tampering(carnet_db) as conn:
        stored = _stored_time(conn, 5)
        conn.exec_driver_sql(f"UPDATE core_audit SET occurred_at = '{stored[:5]}13{stored[7:]}' WHERE seq = 5")
    with carnet_db.session(unscoped=True) as db, pytest.raises(ValueError, match="month"):
        verify_clinic(db, trail.id, carnet_settings.keys_dir)


def test_batches_whose_records_all_verify_are_taken_whole_and_a_broken_one_record_by_record(carnet_db, trail, keys_dir):
    # ten records read three at a time: batches 1-3, 4-6, 7-9 and 10 each verify at once
    with carnet_db.session(unscoped=True) as db:
        intact = verify_clinic(db, trail.id, keys_dir, batch=3)
    assert (intact.ok, intact.records, intact.first_seq, intact.last_seq, intact.one_by_one) == (True, 10, 1, 10, 0)
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("UPDATE core_audit SET action = 'export' WHERE seq = 5")
        target = _row(conn, 5)["id"]
    with carnet_db.session(unscoped=True) as db:
        broken = verify_clinic(db, trail.id, keys_dir, batch=3)
    # the batch 4-6 is walked from its first record and the walk stops at the modified one
    assert (broken.ok, broken.records, broken.one_by_one) == (False, 4, 2)
    assert (broken.problem.seq, broken.problem.record_id) == (5, target)
    assert broken.problem.reason == "content does not match its hash (modified record)"
    # in one batch: walked from record 1, which is the first verified
    with carnet_db.session(unscoped=True) as db:
        whole = verify_clinic(db, trail.id, keys_dir)
    assert (whole.ok, whole.records, whole.first_seq, whole.one_by_one, whole.problem) == (
        False, 4, 1, 5, broken.problem)


def _week_date(t):
    """The same instant with its day written as an ISO week date ("2026-W49-6"): as long as the
    stored shape, with the space and the point in the same places."""
    year, week, day = date.fromisoformat(t[:10]).isocalendar()
    return f"{year}-W{week:02d}-{day}{t[10:]}"


SHAPES = {"T": lambda t: f"{t[:10]}T{t[11:]}", "seven-digits": lambda t: f"{t}0", "comma": lambda t: f"{t[:19]},{t[20:]}",
          "week-date": _week_date}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_batch_with_a_time_in_another_shape_verifies_whole(carnet_db, trail, keys_dir, shape):
    # one stored time written with a "T", a seventh fraction digit or a decimal comma (SQLite): its
    # batch's times are read value by value, and every batch is still taken whole
    _sqlite_only(carnet_db)
    with tampering(carnet_db) as conn:
        other = SHAPES[shape](_stored_time(conn, 8))
        conn.exec_driver_sql(f"UPDATE core_audit SET occurred_at = '{other}' WHERE seq = 8")
    with carnet_db.session(unscoped=True) as db:
        result = verify_clinic(db, trail.id, keys_dir, batch=3)
    assert (result.ok, result.records, result.one_by_one) == (True, 10, 0)
