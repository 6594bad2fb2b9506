"""What the audit hash and the checkpoint signature protect, column by column (issue #16.2-16.4).

Each test edits the database behind the application's back (triggers off, as an attacker with
write access) and requires verify to fail and name what was touched:

- every hashed column of a record (the list is the model's columns, so a new column must be
  hashed or the first test fails);
- every signed field of a checkpoint, a checkpoint relabelled as a purge anchor, and a chain
  rewritten with its checkpoint hashes updated to match;
- forged records at the tail of the chain (past the head, or replacing the last record).
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from audit_tampering import TABLE, row, tampering, write_trail

from carnet_core.audit.chain import GENESIS, HASHED_FIELDS, canonical, chain_hash
from carnet_core.audit.integrity import verify_clinic
from carnet_core.audit.models import AuditCheckpoint

CHECKPOINTS = AuditCheckpoint.__table__
TARGET = 4  # the record the column tests edit


def _verify(carnet_db, clinic_id, keys_dir):
    """verify_clinic's result, the same whether it reads the trail in one batch or three records at
    a time (a batch is taken whole when every record in it verifies, else walked one by one: with
    batches of 3 the edited record's batch must be refused whole, whatever was edited)."""
    results = []
    for batch in (5000, 3):
        with carnet_db.session(unscoped=True) as db:
            results.append(verify_clinic(db, clinic_id, keys_dir, batch=batch))
    whole, by_three = results
    assert (by_three.ok, by_three.problem, by_three.records) == (whole.ok, whole.problem, whole.records)
    return by_three


def _other_value(value):
    """A different value of the same type: what an attacker would write instead."""
    if isinstance(value, bool):
        raise TypeError("no boolean column is hashed")
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value[:-1] + ("x" if value[-1:] != "x" else "y")
    return value + timedelta(microseconds=1)  # a datetime


# The record's content: every column but its id and its hashes, taken from the table (not from
# HASHED_FIELDS, so that a column dropped from the hash keeps its test).
RECORD_COLUMNS = [c.name for c in TABLE.columns if c.name not in ("id", "prev_hash", "hash")]


def test_every_column_of_a_record_but_its_id_and_hashes_is_hashed():
    assert sorted(HASHED_FIELDS) == sorted(RECORD_COLUMNS)


CONTENT_COLUMNS = [name for name in RECORD_COLUMNS if name not in ("clinic_id", "seq")]
EDITS = [(name, "changed") for name in CONTENT_COLUMNS] + [
    (name, "null") for name in CONTENT_COLUMNS if TABLE.c[name].nullable
]


@pytest.mark.parametrize(("column", "edit"), EDITS, ids=[f"{c}-{e}" for c, e in EDITS])
def test_editing_any_hashed_column_names_the_record(carnet_db, trail, keys_dir, column, edit):
    # given a record whose column is rewritten in place, every hash left as it was
    with tampering(carnet_db) as conn:
        target = row(conn, TARGET)
        value = None if edit == "null" else _other_value(target[column])
        conn.execute(sa.update(TABLE).where(TABLE.c.id == target["id"]).values({column: value}))
        assert row(conn, TARGET)[column] != target[column]
    # then verify names exactly that record as modified
    check = _verify(carnet_db, trail.id, keys_dir)
    assert not check.ok
    assert (check.problem.seq, check.problem.record_id) == (TARGET, target["id"])
    assert "modified record" in check.problem.reason


def test_moving_a_whole_trail_to_another_clinic_names_its_first_record(carnet_db, trail, make_clinic, keys_dir):
    # given an attacker who relabels a clinic's records and chain head as an empty clinic's
    # (the chain itself stays whole: only the clinic id, which is hashed, changes)
    empty = make_clinic("vide")
    with tampering(carnet_db) as conn:
        first = row(conn, 1, trail.id)["id"]
        params = {"to": empty.id, "from": trail.id}
        conn.execute(sa.text("UPDATE core_audit SET clinic_id = :to WHERE clinic_id = :from"), params)
        conn.execute(sa.text("UPDATE core_audit_head SET clinic_id = :to WHERE clinic_id = :from"), params)
    check = _verify(carnet_db, empty.id, keys_dir)
    assert not check.ok
    assert (check.problem.seq, check.problem.record_id) == (1, first)
    assert "modified record" in check.problem.reason


def test_renumbering_the_chain_names_its_first_record(carnet_db, trail, keys_dir):
    # seq is bound twice: by the hash and by its place in the chain (gap-free from 1)
    with tampering(carnet_db) as conn:
        first = row(conn, 1)["id"]
        conn.exec_driver_sql("UPDATE core_audit SET seq = seq + 1000")
        conn.exec_driver_sql("UPDATE core_audit SET seq = seq - 999")
        conn.exec_driver_sql("UPDATE core_audit_head SET seq = seq + 1")
    check = _verify(carnet_db, trail.id, keys_dir)
    assert not check.ok
    assert (check.problem.seq, check.problem.record_id) == (2, first)
    assert "seq 1 are missing" in check.problem.reason


def test_the_oldest_records_deleted_and_the_rest_rehashed_from_the_genesis_are_named(carnet_db, clinic, keys_dir):
    # given an unsigned trail whose first two records are deleted, the rest chained again from the
    # genesis hash (every hash and the head consistent): only the seqs show the gap
    write_trail(carnet_db, clinic.id, keys_dir, count=6, checkpoints=())
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("DELETE FROM core_audit WHERE seq <= 2")
        _rewrite_from(conn, 3, 6, prev=GENESIS)
        third = row(conn, 3)["id"]
    check = _verify(carnet_db, clinic.id, keys_dir)
    assert (check.ok, check.problem.seq, check.problem.record_id) == (False, 3, third)
    assert check.problem.reason == "records with seq 1 to 2 are missing (deleted)"


def test_a_prev_hash_edited_alone_is_named(carnet_db, trail, keys_dir):
    # prev_hash is not hashed (it repeats the previous record's hash): edited alone, on the first
    # record of a batch of three (seq 4) or inside one, it breaks the chain at its record
    with tampering(carnet_db) as conn:
        target = row(conn, TARGET)
        conn.execute(sa.update(TABLE).where(TABLE.c.id == target["id"]).values(prev_hash="f" * 64))
    check = _verify(carnet_db, trail.id, keys_dir)
    assert (check.ok, check.problem.seq, check.problem.record_id) == (False, TARGET, target["id"])
    assert check.problem.reason == (
        "prev_hash does not match the previous record's hash (inserted, reordered or replaced)")


def _put_back(conn, seqs):
    """Delete the records of `seqs` and insert them again, in that order, unchanged but their ids."""
    copies = [dict(row(conn, seq)) for seq in seqs]
    conn.execute(sa.delete(TABLE).where(TABLE.c.seq.in_(seqs)))
    for copy in copies:
        copy.pop("id")
        conn.execute(sa.insert(TABLE).values(**copy))


# Records deleted and inserted again, every hash still linking: only their ids are out of order.
# Record 6 put back is stored after record 7, the first record of the next batch of three, which is
# named; records 10 and 9 put back in that order: record 10 is named.
PUT_BACK = [([6], 7), ([10, 9], 10)]


@pytest.mark.parametrize(("put_back", "named"), PUT_BACK, ids=["at-a-batch-end", "last-two-reversed"])
def test_records_put_back_out_of_id_order_are_named_as_reordered(carnet_db, trail, keys_dir, put_back, named):
    with tampering(carnet_db) as conn:
        _put_back(conn, put_back)
        target = row(conn, named)["id"]
    check = _verify(carnet_db, trail.id, keys_dir)
    assert (check.ok, check.problem.seq, check.problem.record_id) == (False, named, target)
    assert check.problem.reason == "stored before the record that precedes it (reordered)"


# Checkpoints ---------------------------------------------------------------------------------


def _checkpoint(conn, seq):
    return conn.execute(sa.select(CHECKPOINTS).where(CHECKPOINTS.c.seq == seq)).mappings().one()


SIGNED_EDITS = {
    "seq": lambda cp: cp["seq"] - 1,
    "hash": lambda cp: _other_value(cp["hash"][:-1]) + cp["hash"][-1],
    "created_at": lambda cp: cp["created_at"] + timedelta(seconds=1),
    "kind": lambda cp: "anchor",
    "signature": lambda cp: ("0" if cp["signature"][0] != "0" else "1") + cp["signature"][1:],
}


@pytest.mark.parametrize("field", sorted(SIGNED_EDITS))
def test_editing_any_signed_field_of_a_checkpoint_names_it(carnet_db, trail, keys_dir, field):
    with tampering(carnet_db) as conn:
        cp = _checkpoint(conn, 5)
        conn.execute(sa.update(CHECKPOINTS).where(CHECKPOINTS.c.id == cp["id"])
                     .values({field: SIGNED_EDITS[field](cp)}))
    check = _verify(carnet_db, trail.id, keys_dir)
    assert not check.ok
    assert check.problem.checkpoint_id == cp["id"]
    assert "checkpoint signature is invalid" in check.problem.reason


def test_a_checkpoint_moved_to_another_clinic_is_named_there(carnet_db, trail, make_clinic, keys_dir):
    # given another clinic with a chain as long, and the first clinic's checkpoint relabelled as its
    other = make_clinic("autre")
    write_trail(carnet_db, other.id, keys_dir, count=6, checkpoints=())
    with tampering(carnet_db) as conn:
        cp = _checkpoint(conn, 5)
        conn.execute(sa.update(CHECKPOINTS).where(CHECKPOINTS.c.id == cp["id"]).values(clinic_id=other.id))
    check = _verify(carnet_db, other.id, keys_dir)
    assert not check.ok
    assert check.problem.checkpoint_id == cp["id"] and "signature is invalid" in check.problem.reason


def test_a_key_id_without_its_public_key_is_named(carnet_db, trail, keys_dir):
    with tampering(carnet_db) as conn:
        cp = _checkpoint(conn, 10)
        conn.execute(sa.update(CHECKPOINTS).where(CHECKPOINTS.c.id == cp["id"]).values(key_id="0123456789abcdef"))
    check = _verify(carnet_db, trail.id, keys_dir)
    assert not check.ok and check.problem.checkpoint_id == cp["id"]
    assert "0123456789abcdef" in check.problem.reason and "public key" in check.problem.reason


def test_a_checkpoint_relabelled_as_a_purge_anchor_does_not_excuse_deleted_records(carnet_db, trail, keys_dir):
    # given an attacker who turns the checkpoint at seq 5 into a purge anchor (the triggers then
    # let records 1-5 be deleted) and deletes them
    with tampering(carnet_db) as conn:
        cp = _checkpoint(conn, 5)
        conn.execute(sa.update(CHECKPOINTS).where(CHECKPOINTS.c.id == cp["id"]).values(kind="anchor"))
        conn.exec_driver_sql("DELETE FROM core_audit WHERE seq <= 5")
    check = _verify(carnet_db, trail.id, keys_dir)
    assert not check.ok
    assert check.problem.checkpoint_id == cp["id"] and "signature is invalid" in check.problem.reason


def _rewrite_from(conn, seq, head_seq, prev=None):
    """Recompute every hash from `seq` on and the head, as an attacker covering an edit would,
    chaining from the hash of the record before `seq` (or from `prev`)."""
    prev = prev or row(conn, seq - 1)["hash"]
    for s in range(seq, head_seq + 1):
        digest = chain_hash(prev, canonical(row(conn, s)))
        conn.execute(sa.text("UPDATE core_audit SET prev_hash = :p, hash = :h WHERE seq = :s"),
                     {"p": prev, "h": digest, "s": s})
        prev = digest
    conn.execute(sa.text("UPDATE core_audit_head SET hash = :h"), {"h": prev})


def test_a_rewritten_chain_with_its_checkpoint_hashes_updated_names_the_checkpoint(carnet_db, trail, keys_dir):
    # given an attacker who edits record 3, recomputes the chain and the head, and writes the new
    # hashes into the signed checkpoints too
    with tampering(carnet_db) as conn:
        conn.exec_driver_sql("UPDATE core_audit SET patient_id = 999 WHERE seq = 3")
        _rewrite_from(conn, 3, 10)
        for seq in (5, 10):
            conn.execute(sa.text("UPDATE core_audit_checkpoint SET hash = :h WHERE seq = :s"),
                         {"h": row(conn, seq)["hash"], "s": seq})
        first = _checkpoint(conn, 5)["id"]
    check = _verify(carnet_db, trail.id, keys_dir)
    assert not check.ok
    assert check.problem.checkpoint_id == first and "signature is invalid" in check.problem.reason


# The tail ------------------------------------------------------------------------------------


def _forge_after(conn, last_seq, **changes):
    """A record with a valid hash chained after `last_seq`, copied from it with `changes`."""
    forged = dict(row(conn, last_seq))
    forged.pop("id")
    forged.update(seq=last_seq + 1, prev_hash=forged["hash"], **changes)
    forged["hash"] = chain_hash(forged["prev_hash"], canonical(forged))
    conn.execute(sa.insert(TABLE).values(**forged))
    return row(conn, last_seq + 1)


@pytest.mark.parametrize("forged_count", [1, 3])
def test_forged_records_appended_after_the_head_are_named(carnet_db, trail, keys_dir, forged_count):
    # given well-forged records chained after the last one, the chain head left alone
    with tampering(carnet_db) as conn:
        first = _forge_after(conn, 10, actor_id="666", occurred_at=row(conn, 10)["occurred_at"])
        for seq in range(11, 10 + forged_count):
            _forge_after(conn, seq)
    check = _verify(carnet_db, trail.id, keys_dir)
    assert not check.ok
    assert check.problem.seq == first["seq"] == 11
    assert "records were added outside the application (inserted)" in check.problem.reason


def test_forged_records_after_the_head_with_its_seq_moved_are_named(carnet_db, trail, keys_dir):
    # given forged records and a head moved to their seq but not to their hash
    with tampering(carnet_db) as conn:
        _forge_after(conn, 10)
        forged = _forge_after(conn, 11)
        conn.exec_driver_sql("UPDATE core_audit_head SET seq = 12")
    check = _verify(carnet_db, trail.id, keys_dir)
    assert not check.ok
    assert (check.problem.seq, check.problem.record_id) == (12, forged["id"])
    assert "replaced tail" in check.problem.reason


def test_a_replaced_last_record_is_named(carnet_db, clinic, keys_dir):
    # given a last record (after the last checkpoint) replaced by a forged one with a valid hash
    write_trail(carnet_db, clinic.id, keys_dir, count=6, checkpoints=(5,))
    with tampering(carnet_db) as conn:
        last = row(conn, 6)
        conn.execute(sa.delete(TABLE).where(TABLE.c.id == last["id"]))
        forged = _forge_after(conn, 5, actor_id="666")
    check = _verify(carnet_db, clinic.id, keys_dir)
    assert not check.ok
    assert (check.problem.seq, check.problem.record_id) == (6, forged["id"])
    assert check.problem.reason == "the chain head's hash differs from the last record's (replaced tail)"


def test_records_are_hashed_as_written(carnet_db, trail):
    # the property the edits above rely on: each stored hash is the chain hash of its content
    with carnet_db.engine.connect() as conn:
        rows = conn.execute(sa.select(TABLE).order_by(TABLE.c.seq)).mappings().all()
    prev = "0" * 64
    for r in rows:
        assert r["prev_hash"] == prev
        assert r["hash"] == chain_hash(prev, canonical(r))
        prev = r["hash"]
    assert len(rows) == 10
