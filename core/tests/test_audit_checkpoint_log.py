"""Signed checkpoints outside the database (issue #14.2): the checkpoint log and the witness hook.

An attacker with write access to the database (triggers dropped) who also deletes the signed
checkpoints stored there used to leave verify saying "intact". Each scenario runs with and
without the checkpoints newer than the tampering removed from the database: the checkpoint log
in CARNET_HOME/keys still holds them, and verify fails naming what is gone.
"""

import json
import os
import sqlite3
import types

import pytest
import sqlalchemy as sa
from audit_tampering import row, run_verify, tampering, verify_report

from carnet_core import audit, hookimpl
from carnet_core.audit.chain import canonical, chain_hash
from carnet_core.audit.checkpoints import LOG_NAME, SignedCheckpoint, parse_line, read_log
from carnet_core.audit.integrity import make_checkpoint, purge, verify_clinic
from carnet_core.audit.models import AuditCheckpoint
from carnet_core.audit.signing import load_public_keys, verify

witness = types.ModuleType("carnet_witness")
witness.CARNET_CORE_REQUIRES = ">=0.1"
witness.seen = []


@hookimpl
def _signed(checkpoint):
    witness.seen.append(checkpoint)


witness.audit_checkpoint_signed = _signed

failing_witness = types.ModuleType("carnet_failing_witness")
failing_witness.CARNET_CORE_REQUIRES = ">=0.1"


def _unreachable(checkpoint):
    raise ConnectionError("witness unreachable")


failing_witness.audit_checkpoint_signed = hookimpl(_unreachable)


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("failing_witness", failing_witness)
    inline_plugins.add("witness", witness)
    witness.seen.clear()
    return inline_plugins


def _lines(keys_dir):
    return (keys_dir / LOG_NAME).read_text(encoding="utf-8").splitlines()


def _delete_checkpoints(conn, clinic_id, min_seq=0):
    conn.execute(sa.text("DELETE FROM core_audit_checkpoint WHERE clinic_id = :c AND seq >= :s"),
                 {"c": clinic_id, "s": min_seq})


def test_each_signed_checkpoint_is_appended_to_the_log_with_its_signature(trail, keys_dir, carnet_db):
    lines = _lines(keys_dir)
    assert len(lines) == 2
    with carnet_db.session(unscoped=True) as db:
        stored = [SignedCheckpoint.of(cp) for cp in db.exec(sa.select(AuditCheckpoint).order_by(AuditCheckpoint.id)).scalars()]
    assert [parse_line(line) for line in lines] == stored
    first = json.loads(lines[0])
    assert set(first) == {"clinic_id", "kind", "seq", "hash", "created_at", "key_id", "signature"}
    assert (first["clinic_id"], first["kind"], first["seq"]) == (trail.id, "checkpoint", 5)
    # a line verifies on its own, with nothing but the public key
    key = load_public_keys(keys_dir)[first["key_id"]]
    assert verify(key, parse_line(lines[0]).message(), first["signature"])
    assert oct(os.stat(keys_dir / LOG_NAME).st_mode & 0o777) == "0o600"


def test_a_checkpoint_rolled_back_leaves_no_line(carnet_db, clinic, keys_dir):
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    with pytest.raises(RuntimeError, match="stop"), carnet_db.session(unscoped=True) as db:
        make_checkpoint(db, keys_dir, clinic.id)
        raise RuntimeError("stop")
    assert not (keys_dir / LOG_NAME).exists()


def test_a_purge_anchor_is_logged_too(carnet_db, clinic, keys_dir):
    from datetime import timedelta

    from carnet_core.db.base import utcnow

    for age in (400, 1):
        with carnet_db.session(clinic_id=clinic.id) as db:
            audit.record(db, action="read", resource_type="patient", actor="system",
                         occurred_at=utcnow() - timedelta(days=age))
    with carnet_db.session(unscoped=True) as db:
        purge(db, keys_dir, clinic.id, 365)
    (line,) = _lines(keys_dir)
    assert (parse_line(line).kind, parse_line(line).seq) == ("anchor", 1)


def test_hook_audit_checkpoint_signed_hears_each_committed_checkpoint(trail, keys_dir, caplog):
    # every witness is called with the committed checkpoint, a failing one does not stop the others
    assert [(cp.clinic_id, cp.kind, cp.seq) for cp in witness.seen] == [(trail.id, "checkpoint", 5),
                                                                        (trail.id, "checkpoint", 10)]
    assert [cp.line() for cp in witness.seen] == _lines(keys_dir)
    failures = [r for r in caplog.get_records("setup") if "audit_checkpoint_signed witness" in r.getMessage()]
    assert len(failures) == 2 and all("failing_witness" in r.getMessage() for r in failures)
    assert all("witness unreachable" in str(r.exc_info[1]) for r in failures)


def test_an_intact_trail_with_its_log_verifies(carnet_settings, trail):
    code, report = verify_report(carnet_settings, "cabinet-test")
    assert code == 0, report
    assert (report["checkpoints"], report["logged_checkpoints"], report["last_signed_seq"]) == (2, 2, 10)


# The four scenarios of issue #14.2, each with and without the newer checkpoints removed ----------

NEWER_REMOVED = pytest.mark.parametrize("newer_removed", [False, True], ids=["db-checkpoints-kept", "db-checkpoints-deleted"])


@NEWER_REMOVED
def test_a_cut_tail_with_the_head_rewound_is_caught(carnet_settings, carnet_db, trail, newer_removed):
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("DELETE FROM core_audit WHERE seq >= 8")
        conn.execute(sa.text("UPDATE core_audit_head SET seq = 7, hash = :h"), {"h": row(conn, 7)["hash"]})
        if newer_removed:
            _delete_checkpoints(conn, trail.id, min_seq=8)
        tenth = conn.exec_driver_sql("SELECT id FROM core_audit_checkpoint WHERE seq = 10").scalar()
    code, report = verify_report(carnet_settings, "cabinet-test")
    assert code == 1
    assert report["problem"]["seq"] == 8
    # named by its id, or by its line when only the log holds it
    name = "checkpoint (log line 2)" if newer_removed else f"checkpoint {tenth}"
    assert report["problem"]["reason"] == (
        f"missing: signed {name} covers records up to seq 10 but the chain ends at seq 7 (truncated)")
    assert (report["problem"]["checkpoint_id"], report["problem"]["log_line"]) == (
        (None, 2) if newer_removed else (tenth, None))


@NEWER_REMOVED
def test_a_recomputed_chain_is_caught(carnet_settings, carnet_db, trail, newer_removed):
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("UPDATE core_audit SET patient_id = 999 WHERE seq = 3")
        prev = row(conn, 2)["hash"]
        for seq in range(3, 11):
            digest = chain_hash(prev, canonical(row(conn, seq)))
            conn.execute(sa.text("UPDATE core_audit SET prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"p": prev, "h": digest, "s": seq})
            prev = digest
        conn.execute(sa.text("UPDATE core_audit_head SET hash = :h"), {"h": prev})
        signs_the_fifth = conn.exec_driver_sql("SELECT id FROM core_audit_checkpoint WHERE seq = 5").scalar()
        if newer_removed:
            _delete_checkpoints(conn, trail.id, min_seq=3)
        fifth = row(conn, 5)["id"]
    code, report = verify_report(carnet_settings, "cabinet-test")
    assert code == 1
    assert (report["problem"]["seq"], report["problem"]["record_id"]) == (5, fifth)
    # the checkpoint named by its id, or by its line when only the log holds it
    name = "checkpoint of log line 1" if newer_removed else f"checkpoint {signs_the_fifth}"
    assert report["problem"]["reason"] == f"does not match signed {name} (rewritten chain)"


@NEWER_REMOVED
def test_deleted_checkpoints_are_caught(carnet_settings, carnet_db, trail, newer_removed):
    # the checkpoint at seq 5 is deleted; with newer_removed the one at seq 10 too
    with tampering(carnet_db) as conn:
        conn.execute(sa.text("DELETE FROM core_audit_checkpoint WHERE clinic_id = :c AND seq = 5"), {"c": trail.id})
        if newer_removed:
            _delete_checkpoints(conn, trail.id, min_seq=6)
    code, report = verify_report(carnet_settings, "cabinet-test")
    assert code == 1
    assert (report["problem"]["seq"], report["problem"]["log_line"]) == (5, 1)
    assert "missing from the database (deleted checkpoint)" in report["problem"]["reason"]


@NEWER_REMOVED
def test_a_deleted_trail_is_caught(carnet_settings, carnet_db, trail, newer_removed):
    with tampering(carnet_db) as conn:
        conn.execute(sa.text("DELETE FROM core_audit WHERE clinic_id = :c"), {"c": trail.id})
        conn.execute(sa.text("DELETE FROM core_audit_head WHERE clinic_id = :c"), {"c": trail.id})
        tenth = conn.exec_driver_sql("SELECT id FROM core_audit_checkpoint WHERE seq = 10").scalar()
        if newer_removed:
            _delete_checkpoints(conn, trail.id)
    code, report = verify_report(carnet_settings, "cabinet-test")
    assert code == 1
    assert report["problem"]["seq"] == 10
    assert report["problem"]["reason"] == (
        "the clinic's audit trail is gone: signed checkpoints cover records up to seq 10 but the database "
        "holds no record and no chain head (deleted trail)")
    # the newest signed checkpoint: by its id, or by its line when only the log holds it
    assert (report["problem"]["checkpoint_id"], report["problem"]["log_line"]) == (
        (None, 2) if newer_removed else (tenth, None))


@NEWER_REMOVED
def test_a_deleted_clinic_whose_checkpoints_remain_in_the_log_is_reported(
    carnet_settings, carnet_db, trail, make_clinic, newer_removed
):
    # given another clinic that stays intact, and the test clinic deleted with its whole trail
    other = make_clinic("autre")
    with carnet_db.session(clinic_id=other.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    with tampering(carnet_db) as conn:
        conn.execute(sa.text("DELETE FROM core_audit WHERE clinic_id = :c"), {"c": trail.id})
        conn.execute(sa.text("DELETE FROM core_audit_head WHERE clinic_id = :c"), {"c": trail.id})
        if newer_removed:
            _delete_checkpoints(conn, trail.id)
    _delete_clinic_row(carnet_db, trail.id)
    code, output = run_verify(carnet_settings)
    assert code == 1
    assert "autre: intact" in output
    assert (f"clinic id {trail.id}: BROKEN at seq 10, checkpoint log line 2: clinic {trail.id} no longer exists, "
            "but the checkpoint log holds 2 signed checkpoint(s)") in output
    assert "(deleted clinic and trail)" in output


def _delete_clinic_row(carnet_db, clinic_id):
    """Delete the clinic itself, its dependants left behind, as an attacker ignoring constraints."""
    if carnet_db.dialect == "sqlite":
        raw = sqlite3.connect(carnet_db.url.removeprefix("sqlite:///"))  # foreign keys off by default
        with raw:
            raw.execute("DELETE FROM core_clinic WHERE id = ?", (clinic_id,))
        raw.close()
    else:
        with tampering(carnet_db) as conn:  # replica role: foreign-key triggers do not fire
            conn.execute(sa.text("DELETE FROM core_clinic WHERE id = :c"), {"c": clinic_id})


# The log itself ---------------------------------------------------------------------------------


def test_an_altered_log_line_is_named(carnet_settings, trail, keys_dir):
    lines = _lines(keys_dir)
    altered = json.loads(lines[1])
    altered["seq"] = 11  # "the chain reached 11": the signature no longer matches
    (keys_dir / LOG_NAME).write_text("\n".join([lines[0], json.dumps(altered)]) + "\n", encoding="utf-8")
    code, report = verify_report(carnet_settings, "cabinet-test")
    assert code == 1
    assert (report["problem"]["log_line"], report["problem"]["seq"], report["problem"]["reason"]) == (
        2, 11, "checkpoint signature is invalid (forged or altered checkpoint)")


def test_a_logged_checkpoint_whose_public_key_is_gone_names_the_key_folder(carnet_settings, carnet_db, trail, keys_dir):
    """Checkpoints only the log still holds (deleted from the database), signed with a key whose
    public key is no longer in the key folder: the first is named by its line and seq, with where
    to restore the key."""
    key_id = read_log(keys_dir).for_clinic(trail.id)[0].checkpoint.key_id
    with tampering(carnet_db) as conn:
        _delete_checkpoints(conn, trail.id)
    (keys_dir / "audit-signing.pub").unlink()
    with carnet_db.session(unscoped=True) as db:
        checked = verify_clinic(db, trail.id, keys_dir)
    assert (checked.clinic_id, checked.ok) == (trail.id, False)
    assert (checked.problem.seq, checked.problem.log_line, checked.problem.checkpoint_id) == (5, 1, None)
    assert checked.problem.reason == (
        f"signed with key {key_id}, whose public key is not in {keys_dir} "
        "(restore audit-signing.pub or the retired audit-signing-<key id>.pub)")


def test_an_unreadable_log_line_fails_verify_and_a_torn_last_line_is_only_noted(carnet_settings, trail, keys_dir):
    path = keys_dir / LOG_NAME
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"clinic_id": 1, "ki')  # a write cut short
    code, output = run_verify(carnet_settings)
    assert code == 0, output
    assert "checkpoint log: note: the last line" in output and "incomplete" in output
    # the next append starts on a line of its own
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\nnot json\n")
    code, output = run_verify(carnet_settings)
    assert code == 1 and "checkpoint log: BROKEN at checkpoint log line 3: unreadable line" in output


def test_a_torn_last_line_does_not_swallow_the_next_checkpoint(carnet_db, trail, keys_dir):
    with (keys_dir / LOG_NAME).open("a", encoding="utf-8") as fh:
        fh.write('{"clinic_id"')
    with carnet_db.session(clinic_id=trail.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
        make_checkpoint(db, keys_dir, trail.id)
    log = read_log(keys_dir)
    assert [e.checkpoint.seq for e in log.entries] == [5, 10, 11] and len(log.unreadable) == 1
    with carnet_db.session(unscoped=True) as db:
        assert verify_clinic(db, trail.id, keys_dir, log=log).ok


def test_init_copies_the_databases_checkpoints_into_a_missing_log(carnet_settings, plugin_host, carnet_db, trail, keys_dir):
    from carnet_core.setup import initialise

    (keys_dir / LOG_NAME).unlink()  # a deployment from before the log
    lines = list(initialise(carnet_settings, plugin_host, carnet_db))
    assert any("audit checkpoint log: 2 signed checkpoint(s) copied from the database" in line for line in lines)
    assert len(_lines(keys_dir)) == 2
    again = list(initialise(carnet_settings, plugin_host, carnet_db))
    assert any("audit checkpoint log: up to date" in line for line in again)
    assert len(_lines(keys_dir)) == 2


def test_the_log_check_reports_every_gone_clinic_with_what_its_log_holds(carnet_db, trail, keys_dir, make_clinic):
    """verify_log, given the clinics that exist: each other clinic of the log is reported with its
    number of lines and last signed seq, a forged line of it by its line; an unreadable line too."""
    from carnet_core.audit.integrity import verify_log

    other = make_clinic("autre")
    with carnet_db.session(clinic_id=other.id) as db:
        for _ in range(3):
            audit.record(db, action="read", resource_type="patient", actor="system")
        make_checkpoint(db, keys_dir, other.id)
    lines = _lines(keys_dir)  # the trail's checkpoints at seq 5 and 10, then the other clinic's at 3
    forged = json.loads(lines[0])
    forged["seq"] = 6
    (keys_dir / LOG_NAME).write_text("\n".join([json.dumps(forged), *lines[1:]]) + "\n", encoding="utf-8")
    results = verify_log(read_log(keys_dir), keys_dir, clinic_ids=set())  # both clinics gone
    assert [(r.clinic_id, r.ok, r.logged) for r in results] == [(trail.id, False, 2), (other.id, False, 1)]
    first, second = results
    assert (first.problem.reason, first.problem.seq, first.problem.log_line) == (
        "checkpoint signature is invalid (forged or altered checkpoint)", 6, 1)
    assert first.last_signed_seq is None
    assert second.last_signed_seq == 3
    assert (second.problem.reason, second.problem.seq, second.problem.log_line) == (
        f"clinic {other.id} no longer exists, but the checkpoint log holds 1 signed checkpoint(s) of its audit "
        "trail up to seq 3 (deleted clinic and trail)", 3, 3)
    assert verify_log(read_log(keys_dir), keys_dir, clinic_ids={trail.id, other.id}) == []
    with (keys_dir / LOG_NAME).open("a", encoding="utf-8") as fh:
        fh.write("not json\n")
    [whole] = verify_log(read_log(keys_dir), keys_dir, clinic_ids={trail.id, other.id})
    assert (whole.clinic_id, whole.ok, whole.logged, whole.problem.log_line) == (None, False, 3, 4)


def test_the_log_check_names_the_key_folder_when_a_gone_clinics_key_is_missing(trail, keys_dir):
    """A gone clinic's logged checkpoints signed with a key whose public key is no longer in the
    key folder: the reason names the key and the folder where it should be restored."""
    from carnet_core.audit.integrity import verify_log

    key_id = read_log(keys_dir).for_clinic(trail.id)[0].checkpoint.key_id
    for public in keys_dir.glob("audit-signing*.pub"):
        public.unlink()
    [gone] = verify_log(read_log(keys_dir), keys_dir, clinic_ids=set())
    assert (gone.clinic_id, gone.ok, gone.problem.log_line) == (trail.id, False, 1)
    assert gone.problem.reason == (
        f"signed with key {key_id}, whose public key is not in {keys_dir} "
        "(restore audit-signing.pub or the retired audit-signing-<key id>.pub)")
