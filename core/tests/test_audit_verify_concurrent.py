"""`carnet audit verify` while the application writes: no false alarm (issue #14.1).

Writers append records in their own transactions (threads, as the web process and the workers
do) while verify runs again and again on the same chain. Every run must find the chain intact:
records, checkpoints and the chain head are read in one consistent snapshot.
"""

import threading
from datetime import timedelta

import sqlalchemy as sa
from click.testing import CliRunner

from carnet_core import audit
from carnet_core.audit.integrity import make_checkpoint, purge, verify_clinic
from carnet_core.audit.signing import ensure_signing_key
from carnet_core.cli import main
from carnet_core.db.base import utcnow

WRITERS = 3


def _write_until(carnet_db, clinic_ids, keys_dir, stop, errors, age_days=0):
    try:
        n = 0
        while not stop.is_set():
            n += 1
            clinic_id = clinic_ids[n % len(clinic_ids)]
            with carnet_db.session(clinic_id=clinic_id) as db:
                audit.record(db, action="read", resource_type="patient", actor="system:test",
                             patient_id=n, details={"n": n}, occurred_at=utcnow() - timedelta(days=age_days))
                if n % 7 == 0:
                    make_checkpoint(db, keys_dir, clinic_id)
    except Exception as exc:  # reported by the test, not swallowed
        errors.append(exc)


def _under_load(carnet_db, clinic_ids, keys_dir, check, rounds, age_days=0):
    stop, errors = threading.Event(), []
    writers = [
        threading.Thread(target=_write_until, args=(carnet_db, clinic_ids, keys_dir, stop, errors, age_days))
        for _ in range(WRITERS)
    ]
    for w in writers:
        w.start()
    try:
        results = [check() for _ in range(rounds)]
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert not errors, errors
    return results


def test_verify_during_concurrent_writes_never_reports_a_healthy_chain_broken(carnet_db, make_clinic, carnet_settings):
    keys_dir = carnet_settings.keys_dir
    ensure_signing_key(keys_dir)
    clinics = [make_clinic("charge-a"), make_clinic("charge-b")]
    ids = [c.id for c in clinics]
    for clinic_id in ids:  # a chain to start from, with a signed checkpoint
        with carnet_db.session(clinic_id=clinic_id) as db:
            audit.record(db, action="read", resource_type="patient", actor="system:test")
            make_checkpoint(db, keys_dir, clinic_id)

    def check():
        found = []
        for clinic_id in ids:
            with carnet_db.session(unscoped=True) as db:
                found.append(verify_clinic(db, clinic_id, keys_dir))
        return found

    results = [r for batch in _under_load(carnet_db, ids, keys_dir, check, rounds=40) for r in batch]
    broken = [r.problem.describe() for r in results if not r.ok]
    assert broken == []
    # the writers did write while verify ran: later runs saw longer chains
    assert max(r.last_seq for r in results) > min(r.last_seq for r in results)


def test_the_verify_command_during_concurrent_writes_exits_0(carnet_db, make_clinic, carnet_settings):
    keys_dir = carnet_settings.keys_dir
    ensure_signing_key(keys_dir)
    clinic = make_clinic("charge-cli")
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}

    def check():
        result = CliRunner().invoke(main, ["audit", "verify"], env=env)
        return result.exit_code, result.output

    results = _under_load(carnet_db, [clinic.id], keys_dir, check, rounds=15)
    assert [out for code, out in results if code != 0] == []


def test_purge_during_concurrent_writes_never_refuses_a_healthy_chain(carnet_db, make_clinic, carnet_settings):
    # given writers that keep adding records older than the retention (so each purge has work)
    keys_dir = carnet_settings.keys_dir
    ensure_signing_key(keys_dir)
    clinic = make_clinic("charge-purge")

    def check():
        with carnet_db.session(unscoped=True) as db:
            return purge(db, keys_dir, clinic.id, 365)

    # when purges run while they write, then every purge verified the chain and went through
    deleted = _under_load(carnet_db, [clinic.id], keys_dir, check, rounds=15, age_days=400)
    assert sum(deleted) > 0
    with carnet_db.session(unscoped=True) as db:
        final = verify_clinic(db, clinic.id, keys_dir)
    assert final.ok, final.problem


def test_a_purge_of_a_clinic_without_a_chain_yet_holds_its_first_writer_until_it_commits(
    carnet_db, make_clinic, carnet_settings
):
    # given a clinic nothing was recorded for yet (no chain head to hold)
    keys_dir = carnet_settings.keys_dir
    ensure_signing_key(keys_dir)
    clinic = make_clinic("sans-chaine")
    with carnet_db.session(unscoped=True) as db:
        db.exec(sa.text("DELETE FROM core_audit_head WHERE clinic_id = :c").bindparams(c=clinic.id))
        db.exec(sa.text("DELETE FROM core_audit WHERE clinic_id = :c").bindparams(c=clinic.id))
    written = threading.Event()

    def first_writer():
        with carnet_db.session(clinic_id=clinic.id) as db:
            audit.record(db, action="read", resource_type="patient", actor="system:test")
        written.set()

    # when a purge has started (it found nothing to purge yet) and the clinic's first writer comes
    with carnet_db.session(unscoped=True) as db:
        assert purge(db, keys_dir, clinic.id, 365) == 0
        writer = threading.Thread(target=first_writer)
        writer.start()
        # then the writer waits for the purge's transaction: what the purge read cannot change
        assert not written.wait(0.5)
    writer.join(30)
    assert written.is_set()
    with carnet_db.session(unscoped=True) as db:
        check = verify_clinic(db, clinic.id, keys_dir)
    assert check.ok, check.problem
    assert check.last_seq == 1
