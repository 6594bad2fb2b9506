"""Audit retention: `carnet audit purge` trims one clinic's trail behind a signed anchor.

Every test runs with two clinics (issue #16.1): purge's DELETE and its max(seq) query are core
statements on an unscoped session, so nothing but their own clinic filter keeps one clinic's
purge away from another clinic's evidence. The bystander clinic has records of the same ages and
seqs; after each purge its trail must be whole and verify.
"""

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from audit_tampering import tampering
from click.testing import CliRunner

from carnet_core import audit
from carnet_core.audit.integrity import purge, verify_clinic
from carnet_core.cli import main
from carnet_core.db.base import utcnow


def _old_trail(carnet_db, clinic, ages_in_days):
    now = utcnow()
    for age in ages_in_days:
        with carnet_db.session(clinic_id=clinic.id) as db:
            audit.record(db, action="read", resource_type="patient", actor="system",
                         occurred_at=now - timedelta(days=age))


@pytest.fixture
def bystander(carnet_db, make_clinic):
    """Another clinic with more old records than the purged one (higher old seqs) and recent ones."""
    other = make_clinic("voisin")
    _old_trail(carnet_db, other, [500, 450, 420, 410, 400, 399, 398, 2, 1])
    return other


def _seqs(carnet_db, clinic):
    with carnet_db.engine.connect() as conn:
        return [s for (s,) in conn.execute(
            sa.text("SELECT seq FROM core_audit WHERE clinic_id = :c ORDER BY seq"), {"c": clinic.id}
        )]


def _untouched(carnet_db, keys_dir, bystander):
    """The bystander's nine records are all there and its chain verifies from genesis."""
    assert _seqs(carnet_db, bystander) == list(range(1, 10))
    with carnet_db.session(unscoped=True) as db:
        check = verify_clinic(db, bystander.id, keys_dir)
    assert check.ok and check.anchor_seq is None, check.problem


def test_purge_keeps_the_remainder_verifiable_and_is_audited(
    carnet_db, clinic, bystander, keys_dir, carnet_settings
):
    # given 4 records older than a year and 3 recent ones (the bystander has 7 old ones)
    _old_trail(carnet_db, clinic, [400, 390, 380, 370, 10, 5, 1])
    # when the clinic's trail is purged with the default retention
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    result = CliRunner().invoke(main, ["audit", "purge", "--clinic", "cabinet-test"], env=env)
    assert result.exit_code == 0, result.output
    assert "cabinet-test: 4 record(s) older than 365 days purged" in result.output
    # then the kept chain starts after the signed anchor at seq 4 (not at the bystander's last
    # old seq, 7), ends with the purge's own record, and verifies
    with carnet_db.session(clinic_id=clinic.id) as db:
        check = verify_clinic(db, clinic.id, keys_dir)
        rows = db.exec(sa.text("SELECT seq, action, details FROM core_audit WHERE clinic_id = :c ORDER BY seq"),
                       params={"c": clinic.id}).all()
    assert check.ok, check.problem
    assert (check.anchor_seq, check.first_seq, check.last_seq) == (4, 5, 8)
    assert [r[0] for r in rows] == [5, 6, 7, 8]
    assert rows[-1][1] == "purge" and json.loads(rows[-1][2])["deleted"] == 4
    # and the other clinic lost nothing
    _untouched(carnet_db, keys_dir, bystander)


def test_purge_of_every_clinic_trims_each_at_its_own_cutoff(carnet_db, clinic, bystander, keys_dir, carnet_settings):
    _old_trail(carnet_db, clinic, [400, 1])
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    result = CliRunner().invoke(main, ["audit", "purge"], env=env)
    assert result.exit_code == 0, result.output
    assert "cabinet-test: 1 record(s) older than 365 days purged" in result.output
    assert "voisin: 7 record(s) older than 365 days purged" in result.output
    assert _seqs(carnet_db, clinic) == [2, 3]
    assert _seqs(carnet_db, bystander) == [8, 9, 10]
    with carnet_db.session(unscoped=True) as db:
        assert [verify_clinic(db, c.id, keys_dir).anchor_seq for c in (clinic, bystander)] == [1, 7]


def test_purge_is_the_only_way_out_remaining_rows_stay_undeletable(carnet_db, clinic, bystander, keys_dir):
    _old_trail(carnet_db, clinic, [400, 1])
    with carnet_db.session(unscoped=True) as db:
        assert purge(db, keys_dir, clinic.id, 365) == 1
    _untouched(carnet_db, keys_dir, bystander)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), carnet_db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM core_audit")


def test_purge_refuses_to_erase_a_broken_chain(carnet_db, clinic, bystander, keys_dir):
    _old_trail(carnet_db, clinic, [400, 390, 1])
    with tampering(carnet_db) as conn:
        conn.execute(sa.text("UPDATE core_audit SET action = 'list' WHERE seq = 2 AND clinic_id = :c"),
                     {"c": clinic.id})
    with pytest.raises(audit.AuditError, match=(
            rf"^the audit chain of clinic {clinic.id} is broken \(seq 2, record id \d+: content does not match its hash "
            r"\(modified record\)\); purge refused so that the evidence is kept$")), \
            carnet_db.session(unscoped=True) as db:
        purge(db, keys_dir, clinic.id, 365)
    assert _seqs(carnet_db, clinic) == [1, 2, 3]
    # a broken chain in another clinic does not stop this one's purge
    with carnet_db.session(unscoped=True) as db:
        assert purge(db, keys_dir, bystander.id, 365) == 7


def test_tampering_after_a_purge_is_still_detected(carnet_db, clinic, bystander, keys_dir):
    _old_trail(carnet_db, clinic, [400, 390, 10, 5])
    with carnet_db.session(unscoped=True) as db:
        purge(db, keys_dir, clinic.id, 365)
    _untouched(carnet_db, keys_dir, bystander)
    with tampering(carnet_db) as conn:
        conn.execute(sa.text("DELETE FROM core_audit WHERE seq = 3 AND clinic_id = :c"), {"c": clinic.id})
    with carnet_db.session(unscoped=True) as db:
        check = verify_clinic(db, clinic.id, keys_dir)
    assert not check.ok and check.problem.seq == 4 and "missing" in check.problem.reason


def test_purge_deletes_only_its_clinics_records_even_without_the_triggers(carnet_db, clinic, bystander, keys_dir):
    # given an operator whose triggers are gone (a restore without them, an old schema): only
    # purge's own clinic filter protects the bystander's records with the same seqs
    _old_trail(carnet_db, clinic, [400, 390, 1])
    with tampering(carnet_db):
        pass  # drops the triggers on SQLite; on PostgreSQL the purge below still meets them
    with carnet_db.session(unscoped=True) as db:
        assert purge(db, keys_dir, clinic.id, 365) == 2
    assert _seqs(carnet_db, clinic) == [3, 4]
    _untouched(carnet_db, keys_dir, bystander)


def test_nothing_old_enough_purges_nothing(carnet_db, clinic, bystander, keys_dir):
    # the bystander's old records do not make this clinic's recent ones purgeable
    _old_trail(carnet_db, clinic, [10, 1])
    with carnet_db.session(unscoped=True) as db:
        assert purge(db, keys_dir, clinic.id, 365) == 0
    assert _seqs(carnet_db, clinic) == [1, 2]
    _untouched(carnet_db, keys_dir, bystander)


def test_retention_below_one_day_is_refused(carnet_db, clinic, keys_dir):
    _old_trail(carnet_db, clinic, [400])
    with pytest.raises(audit.AuditError, match="^retention must be at least 1 day$"), \
            carnet_db.session(unscoped=True) as db:
        purge(db, keys_dir, clinic.id, 0)
    assert _seqs(carnet_db, clinic) == [1]


def test_purge_records_what_it_did_and_who_did_it(carnet_db, clinic, bystander, keys_dir):
    _old_trail(carnet_db, clinic, [3, 2, 0])
    with carnet_db.session(unscoped=True) as db:
        assert purge(db, keys_dir, clinic.id, 1) == 2  # one day: the shortest retention there is
    with carnet_db.engine.connect() as conn:
        last = conn.execute(sa.text(
            "SELECT action, resource_type, actor_kind, actor_id, details FROM core_audit "
            "WHERE clinic_id = :c ORDER BY seq DESC LIMIT 1"), {"c": clinic.id}).one()
    assert tuple(last[:4]) == ("purge", "audit_trail", "system", "retention")
    assert json.loads(last[4]) == {"up_to_seq": 2, "deleted": 2, "retention_days": 1}
    _untouched(carnet_db, keys_dir, bystander)


def test_a_record_exactly_as_old_as_the_retention_is_kept(carnet_db, clinic, bystander, keys_dir):
    now = utcnow()
    for age in (timedelta(days=30, seconds=1), timedelta(days=30), timedelta(days=29)):
        with carnet_db.session(clinic_id=clinic.id) as db:
            audit.record(db, action="read", resource_type="patient", actor="system", occurred_at=now - age)
    with carnet_db.session(unscoped=True) as db:
        assert purge(db, keys_dir, clinic.id, 30, now=now) == 1  # older than 30 days: only the first
    assert _seqs(carnet_db, clinic) == [2, 3, 4]  # the 30-day-old record, the 29-day-old one, the purge's
    _untouched(carnet_db, keys_dir, bystander)


def test_after_two_purges_verification_starts_at_the_newest_anchor(carnet_db, clinic, bystander, keys_dir):
    """Each purge leaves a signed anchor; the chain kept is verified from the newest one."""
    _old_trail(carnet_db, clinic, [400, 390, 200, 10, 5])
    with carnet_db.session(unscoped=True) as db:
        assert purge(db, keys_dir, clinic.id, 365) == 2
    with carnet_db.session(unscoped=True) as db:
        assert purge(db, keys_dir, clinic.id, 100) == 1
    with carnet_db.session(unscoped=True) as db:
        check = verify_clinic(db, clinic.id, keys_dir)
    assert check.ok, check.problem
    assert (check.anchor_seq, check.first_seq, check.last_seq) == (3, 4, 7)
    _untouched(carnet_db, keys_dir, bystander)
