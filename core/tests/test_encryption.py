"""Envelope encryption: sealing binds table, column, row and clinic; keys rotate and shred."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from sqlmodel import Field, SQLModel, select

from carnet_core.db import ClinicOwned
from carnet_core.encryption import (
    DecryptionError,
    KeyDestroyed,
    LocalKeyProvider,
    MasterKeyError,
    Sealed,
    blind_index,
    destroy_subject_key,
    ensure_subject_key,
    open_,
    patient_subject,
    seal,
)
from carnet_core.encryption.models import STATE_RETIRED, DataKey, RewrapProgress, SubjectKey
from carnet_core.encryption.rewrap import rewrap_clinic
from carnet_core.encryption.services import rotate

ALTERED = "sealed value failed its integrity check (altered, or copied from another row or clinic)"
UNKNOWN_FORMAT = "not a sealed value of a known format"
NO_SUCH_VERSION = "sealed value names a clinic key version that does not exist"
DESTROYED = "this data subject's key was destroyed (erasure); the data cannot be read"


def exactly(message: str) -> str:
    """`pytest.raises(..., match=exactly(m))`: the error says `m`, nothing more or less."""
    return f"^{re.escape(message)}$"


class EncNote(ClinicOwned, SQLModel, table=True):
    """A plugin-style table sealed with the clinic key."""

    __tablename__ = "enctest_note"
    id: int | None = Field(default=None, primary_key=True)
    body: bytes | None = Field(default=None, sa_type=Sealed)
    title: bytes | None = Field(default=None, sa_type=Sealed)


class EncRecord(ClinicOwned, SQLModel, table=True):
    """A plugin-style table sealed with the patient's key (crypto-shreddable)."""

    __tablename__ = "enctest_record"
    __sealed_subject__ = "patient_id"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int
    body: bytes | None = Field(default=None, sa_type=Sealed)


TEST_TABLES = [(EncNote.__table__, ["body", "title"]), (EncRecord.__table__, ["body"])]


@pytest.fixture
def tables(carnet_db):
    SQLModel.metadata.create_all(carnet_db.engine, tables=[EncNote.__table__, EncRecord.__table__])
    yield
    SQLModel.metadata.drop_all(carnet_db.engine, tables=[EncNote.__table__, EncRecord.__table__])


def _note(carnet_db, clinic_id, text):
    with carnet_db.session(clinic_id=clinic_id) as db:
        note = EncNote()
        seal(db, note, "body", text)
        db.add(note)
    return note.id


def _read_note(carnet_db, clinic_id, note_id, column="body"):
    with carnet_db.session(clinic_id=clinic_id) as db:
        return open_(db, db.get(EncNote, note_id), column)


def test_sealed_value_round_trips_and_hides_the_plaintext(carnet_db, clinic, tables):
    note_id = _note(carnet_db, clinic.id, "Séance difficile, CANARY-1")
    with carnet_db.session(clinic_id=clinic.id) as db:
        raw = db.get(EncNote, note_id).body
    assert b"CANARY-1" not in raw
    assert _read_note(carnet_db, clinic.id, note_id) == "Séance difficile, CANARY-1"


def test_sealing_twice_gives_different_ciphertexts(carnet_db, clinic, tables):
    with carnet_db.session(clinic_id=clinic.id) as db:
        note = EncNote()
        seal(db, note, "body", "same")
        first = note.body
        seal(db, note, "body", "same")
        assert note.body != first
        assert open_(db, note, "body") == "same"


def test_plaintext_assigned_to_a_sealed_column_is_refused(carnet_db, clinic, tables):
    with pytest.raises(sa.exc.StatementError), carnet_db.session(clinic_id=clinic.id) as db:
        db.add(EncNote(body="en clair"))
        db.flush()
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.exec(select(EncNote)).all() == []


@pytest.mark.parametrize("position, why", [(0, UNKNOWN_FORMAT), (1, UNKNOWN_FORMAT), (5, NO_SUCH_VERSION),
                                           (10, ALTERED), (20, ALTERED), (-1, ALTERED)])
def test_a_tampered_ciphertext_does_not_open(carnet_db, clinic, tables, position, why):
    note_id = _note(carnet_db, clinic.id, "secret")
    with carnet_db.session(clinic_id=clinic.id) as db:
        note = db.get(EncNote, note_id)
        raw = bytearray(note.body)
        raw[position] ^= 0x01
        # straight to the database, as an attacker with write access would
        db.connection().execute(
            sa.text("UPDATE enctest_note SET body = :b WHERE id = :i"), {"b": bytes(raw), "i": note_id}
        )
    with pytest.raises(DecryptionError, match=exactly(why)):
        _read_note(carnet_db, clinic.id, note_id)


def test_a_ciphertext_copied_to_another_row_does_not_open(carnet_db, clinic, tables):
    a = _note(carnet_db, clinic.id, "patient A")
    b = _note(carnet_db, clinic.id, "patient B")
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.get(EncNote, b).body = db.get(EncNote, a).body
    with pytest.raises(DecryptionError, match=exactly(ALTERED)):
        _read_note(carnet_db, clinic.id, b)
    assert _read_note(carnet_db, clinic.id, a) == "patient A"


def test_a_ciphertext_copied_to_another_column_does_not_open(carnet_db, clinic, tables):
    a = _note(carnet_db, clinic.id, "body text")
    with carnet_db.session(clinic_id=clinic.id) as db:
        note = db.get(EncNote, a)
        note.title = note.body
    with pytest.raises(DecryptionError, match=exactly(ALTERED)):
        _read_note(carnet_db, clinic.id, a, "title")


def test_a_ciphertext_copied_to_another_clinic_does_not_open(carnet_db, make_clinic, tables):
    alpha = make_clinic("alpha")
    beta = make_clinic("beta")
    a = _note(carnet_db, alpha.id, "alpha secret")
    b = _note(carnet_db, beta.id, "beta secret")
    with carnet_db.session(unscoped=True) as db:
        stolen = db.get(EncNote, a).body
        db.get(EncNote, b).body = stolen
    with pytest.raises(DecryptionError, match=exactly(ALTERED)):
        _read_note(carnet_db, beta.id, b)


def test_a_subject_sealed_value_moved_to_another_patients_row_does_not_open(carnet_db, clinic, tables):
    with carnet_db.session(clinic_id=clinic.id) as db:
        one = EncRecord(patient_id=1)
        seal(db, one, "body", "one")
        two = EncRecord(patient_id=2)
        seal(db, two, "body", "two")
        db.flush()
        two.body = one.body
    with carnet_db.session(clinic_id=clinic.id) as db, pytest.raises(DecryptionError, match=exactly(ALTERED)):
        open_(db, db.get(EncRecord, two.id), "body")


def test_blind_index_folds_case_spaces_and_accents_and_depends_on_clinic_and_field(carnet_db, make_clinic):
    alpha = make_clinic("alpha")
    beta = make_clinic("beta")
    with carnet_db.session(clinic_id=alpha.id) as db:
        one = blind_index(db, alpha.id, "core_patient.last_name", "  Lefèvre-DURAND ", "name")
        two = blind_index(db, alpha.id, "core_patient.last_name", "lefevre-durand", "name")
        other_field = blind_index(db, alpha.id, "core_patient.first_name", "lefevre-durand", "name")
        phone = blind_index(db, alpha.id, "core_patient.phone", "+33 6 12 34 56 78", "phone")
        phone2 = blind_index(db, alpha.id, "core_patient.phone", "+33612345678", "phone")
    with carnet_db.session(clinic_id=beta.id) as db:
        other_clinic = blind_index(db, beta.id, "core_patient.last_name", "lefevre-durand", "name")
    assert one == two and len(one) == 16
    assert phone == phone2
    assert other_field != one
    assert other_clinic != one


def _all_notes(carnet_db, clinic_id):
    with carnet_db.session(clinic_id=clinic_id) as db:
        return {n.id: open_(db, n, "body") for n in db.exec(select(EncNote).order_by(EncNote.id))}


def _all_records(carnet_db, clinic_id):
    with carnet_db.session(clinic_id=clinic_id) as db:
        return {r.id: open_(db, r, "body") for r in db.exec(select(EncRecord).order_by(EncRecord.id))}


def _populate(carnet_db, clinic_id, n):
    with carnet_db.session(clinic_id=clinic_id) as db:
        for i in range(n):
            note = EncNote()
            seal(db, note, "body", f"note {i}")
            seal(db, note, "title", f"title {i}")
            db.add(note)
            record = EncRecord(patient_id=i)
            seal(db, record, "body", f"record {i}")
            db.add(record)
    return _all_notes(carnet_db, clinic_id), _all_records(carnet_db, clinic_id)


def test_rotation_then_rewrap_keeps_every_record_readable_at_every_step(carnet_db, clinic, tables):
    # given data sealed with version 1
    notes, records = _populate(carnet_db, clinic.id, 23)
    # when the clinic key rotates
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert rotate(db, clinic.id).version == 2
    # then old data still opens and new writes use version 2
    assert _all_notes(carnet_db, clinic.id) == notes
    new_id = _note(carnet_db, clinic.id, "after rotation")
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.get(EncNote, new_id).body[2:6] == (2).to_bytes(4, "big")
    notes[new_id] = "after rotation"
    # when rewrapping in small batches, every record opens after every batch
    seen = []

    def check(step, moved, total):
        seen.append(step)
        assert _all_notes(carnet_db, clinic.id) == notes
        assert _all_records(carnet_db, clinic.id) == records

    report = rewrap_clinic(carnet_db, clinic.id, batch=4, on_batch=check, tables=TEST_TABLES)
    # then everything moved to v2 and v1 is retired
    assert report.subject_keys == 23 and report.rows == 23
    assert report.retired == [1]
    assert "subject_keys" in seen and "enctest_note" in seen
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert {k.data_key_version for k in db.exec(select(SubjectKey))} == {2}
        assert {bytes(n.body[2:6]) for n in db.exec(select(EncNote))} == {(2).to_bytes(4, "big")}
        v1 = db.exec(select(DataKey).where(DataKey.version == 1, DataKey.purpose == "data")).one()
        assert v1.state == STATE_RETIRED
    assert _all_notes(carnet_db, clinic.id) == notes
    assert _all_records(carnet_db, clinic.id) == records


def test_a_rewrap_interrupted_after_some_batches_resumes_and_finishes(carnet_db, clinic, tables):
    notes, records = _populate(carnet_db, clinic.id, 30)
    with carnet_db.session(clinic_id=clinic.id) as db:
        rotate(db, clinic.id)
    calls = {"n": 0}

    class Crash(Exception):
        pass

    def crash_after_three(step, moved, total):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash()

    # when the first run dies after three committed batches
    with pytest.raises(Crash):
        rewrap_clinic(carnet_db, clinic.id, batch=7, on_batch=crash_after_three, tables=TEST_TABLES)
    # then the progress is persisted, part is moved, and everything still opens
    with carnet_db.session(clinic_id=clinic.id) as db:
        progress = db.exec(select(RewrapProgress).where(RewrapProgress.step == "subject_keys")).one()
        assert progress.moved == 21 and not progress.done
        versions = [k.data_key_version for k in db.exec(select(SubjectKey))]
        assert versions.count(2) == 21 and versions.count(1) == 9
    assert _all_records(carnet_db, clinic.id) == records
    # when it runs again, it resumes and finishes
    report = rewrap_clinic(carnet_db, clinic.id, batch=7, tables=TEST_TABLES)
    assert report.subject_keys == 9 and report.rows == 30 and report.retired == [1]
    assert _all_notes(carnet_db, clinic.id) == notes
    assert _all_records(carnet_db, clinic.id) == records


def test_a_destroyed_patient_key_makes_their_data_unreadable_and_spares_others(carnet_db, clinic, tables):
    _, records = _populate(carnet_db, clinic.id, 3)
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert destroy_subject_key(db, clinic.id, patient_subject(1))
    with carnet_db.session(clinic_id=clinic.id) as db:
        rows = {r.patient_id: r for r in db.exec(select(EncRecord))}
        assert open_(db, rows[0], "body") == "record 0"
        with pytest.raises(KeyDestroyed, match=exactly(DESTROYED)):
            open_(db, rows[1], "body")
        # and no new data can be sealed for the erased patient
        with pytest.raises(KeyDestroyed, match=exactly(DESTROYED)):
            seal(db, EncRecord(patient_id=1), "body", "again")


def test_a_destroyed_key_stays_destroyed_through_rotation_and_rewrap(carnet_db, clinic, tables):
    _populate(carnet_db, clinic.id, 3)
    with carnet_db.session(clinic_id=clinic.id) as db:
        destroy_subject_key(db, clinic.id, patient_subject(2))
        rotate(db, clinic.id)
    rewrap_clinic(carnet_db, clinic.id, tables=TEST_TABLES)
    with carnet_db.session(clinic_id=clinic.id) as db:
        row = db.exec(select(SubjectKey).where(SubjectKey.subject == patient_subject(2))).one()
        assert row.wrapped is None
        record = db.exec(select(EncRecord).where(EncRecord.patient_id == 2)).one()
        with pytest.raises(KeyDestroyed):
            open_(db, record, "body")


def test_a_wrong_master_key_is_named_as_such(carnet_db, clinic, tables, carnet_settings):
    from carnet_core.db.session import Database
    from carnet_core.encryption import Keyring

    _note(carnet_db, clinic.id, "x")
    other = Database(carnet_settings.database_url, engine=carnet_db.engine)
    other.keyring = Keyring(LocalKeyProvider(os.urandom(32)))
    with other.session(clinic_id=clinic.id) as db, pytest.raises(MasterKeyError, match="master key"):
        open_(db, db.exec(select(EncNote)).first(), "body")


def test_keys_of_one_clinic_are_invisible_to_another(carnet_db, make_clinic):
    alpha = make_clinic("alpha")
    beta = make_clinic("beta")
    with carnet_db.session(clinic_id=alpha.id) as db:
        ensure_subject_key(db, alpha.id, patient_subject(1))
    with carnet_db.session(clinic_id=beta.id) as db:
        assert db.exec(select(SubjectKey)).all() == []
        assert db.exec(select(DataKey)).all() == []


# --- CLI, set-up, and a rewrap killed with SIGKILL ------------------------------------------------


def _cli_env(settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env.update({"CARNET_HOME": str(settings.home), "CARNET_DATABASE_URL": settings.database_url})
    return env


def _carnet(settings, *args, timeout=60):
    return subprocess.run(
        [sys.executable, "-c", "from carnet_core.cli import main; main()", *args], env=_cli_env(settings),
        capture_output=True, text=True, timeout=timeout,
    )


def test_init_creates_a_private_master_key_once(tmp_path):
    from carnet_core.encryption.setup import master_key_step
    from carnet_core.plugins import build_plugin_host
    from carnet_core.settings import load_settings

    settings = load_settings({"CARNET_HOME": str(tmp_path / "home")})
    host = build_plugin_host(settings, discover=False)
    from carnet_core.db.session import Database
    from carnet_core.setup import initialise

    db = Database(settings.database_url)
    lines = list(initialise(settings, host, db))
    key_file = settings.keys_dir / "master.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert any("created" in line for line in lines)
    before = key_file.read_bytes()
    again = list(master_key_step(settings, host, db))
    assert key_file.read_bytes() == before and not any("created" in line for line in again)
    db.dispose()


def test_init_refuses_to_replace_a_lost_master_key_when_data_exists(carnet_db, clinic, carnet_settings, plugin_host):
    from carnet_core.encryption.setup import master_key_step

    with carnet_db.session(clinic_id=clinic.id) as db:
        ensure_subject_key(db, clinic.id, patient_subject(1))
    (carnet_settings.keys_dir / "master.key").unlink()
    with pytest.raises(MasterKeyError, match="restore it from backup"):
        list(master_key_step(carnet_settings, plugin_host, carnet_db))
    assert not (carnet_settings.keys_dir / "master.key").exists()


def test_a_master_key_file_readable_by_others_is_refused(carnet_settings):
    from carnet_core.encryption.keyprovider import load_master_key

    path = carnet_settings.keys_dir / "master.key"
    os.chmod(path, 0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        load_master_key(carnet_settings)


def test_master_key_from_environment(tmp_path):
    import base64

    from carnet_core.encryption.keyprovider import load_master_key
    from carnet_core.settings import load_settings

    raw = os.urandom(32)
    settings = load_settings({"CARNET_HOME": str(tmp_path), "CARNET_MASTER_KEY": base64.b64encode(raw).decode()})
    assert load_master_key(settings) == raw
    bad = load_settings({"CARNET_HOME": str(tmp_path), "CARNET_MASTER_KEY": "c2hvcnQ="})
    with pytest.raises(MasterKeyError, match="32 bytes"):
        load_master_key(bad)
    assert bad.redacted()["master_key"] == "***"


def test_keys_cli_rotate_status_and_rewrap(carnet_db, clinic, carnet_settings):
    with carnet_db.session(clinic_id=clinic.id) as db:
        for i in range(5):
            ensure_subject_key(db, clinic.id, patient_subject(i))
    rotated = _carnet(carnet_settings, "keys", "rotate", "--clinic", clinic.slug)
    assert rotated.returncode == 0, rotated.stderr
    assert "v2 is active" in rotated.stdout
    status = _carnet(carnet_settings, "keys", "status")
    assert "v1" in status.stdout and "rotated" in status.stdout and "subject keys: 5" in status.stdout
    rewrap = _carnet(carnet_settings, "keys", "rewrap", "--batch", "2")
    assert rewrap.returncode == 0, rewrap.stderr
    assert "retired: v1" in rewrap.stdout and "subject_keys: +2" in rewrap.stdout
    unknown = _carnet(carnet_settings, "keys", "rotate", "--clinic", "nope")
    assert unknown.returncode == 2 and "no clinic 'nope'" in unknown.stderr


def test_a_rewrap_killed_with_sigkill_leaves_everything_readable_and_resumes(carnet_db, clinic, carnet_settings):
    # given 60 patient keys wrapped with v1, then a rotation
    subjects = [patient_subject(i) for i in range(60)]
    with carnet_db.session(clinic_id=clinic.id) as db:
        for s in subjects:
            ensure_subject_key(db, clinic.id, s)
        rotate(db, clinic.id)
    # when a throttled rewrap is killed after some batches
    proc = subprocess.Popen(
        [sys.executable, "-c", "from carnet_core.cli import main; main()",
         "keys", "rewrap", "--batch", "5", "--pause", "0.2"],
        env=_cli_env(carnet_settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    moved = 0
    try:
        while time.monotonic() < deadline:
            with carnet_db.session(clinic_id=clinic.id) as db:
                moved = db.exec(
                    select(sa.func.count()).select_from(SubjectKey).where(SubjectKey.data_key_version == 2)
                ).one()
            if moved >= 15:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert 15 <= moved < 60
    # then every key opens, whichever version wraps it
    with carnet_db.session(clinic_id=clinic.id) as db:
        versions = {k.data_key_version for k in db.exec(select(SubjectKey))}
        for s in subjects:
            ensure_subject_key(db, clinic.id, s)  # opens the existing key, raises if it cannot
    assert versions == {1, 2}
    # when run again, it finishes
    again = _carnet(carnet_settings, "keys", "rewrap", "--clinic", clinic.slug, "--batch", "5")
    assert again.returncode == 0, again.stderr
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert {k.data_key_version for k in db.exec(select(SubjectKey))} == {2}


# --- what the mutation run of encryption/services.py showed untested (issue 16) -------------------


def test_open_many_opens_each_column_asked_for(carnet_db, clinic, tables):
    from carnet_core.encryption.services import open_many

    with carnet_db.session(clinic_id=clinic.id) as db:
        note = EncNote()
        seal(db, note, "body", "Corps de la note")
        seal(db, note, "title", "Titre")
        db.add(note)
    with carnet_db.session(clinic_id=clinic.id) as db:
        stored = db.get(EncNote, note.id)
        assert open_many(db, stored, ["title", "body"]) == {"title": "Titre", "body": "Corps de la note"}
        stored.title = None
        assert open_many(db, stored, ["body", "title"]) == {"body": "Corps de la note", "title": None}
        assert open_many(db, stored, []) == {}


def test_a_rotation_seals_the_rest_of_its_own_session_with_the_new_version(carnet_db, clinic):
    from carnet_core.encryption.services import active_version, open_bytes, seal_bytes

    with carnet_db.session(clinic_id=clinic.id) as db:
        before = active_version(db, clinic.id)  # the active key is now in the session's cache
        old = seal_bytes(db, clinic.id, "ctx", b"avant")
        assert old[2:6] == before.to_bytes(4, "big")
        assert rotate(db, clinic.id).version == before + 1
        assert active_version(db, clinic.id) == before + 1
        new = seal_bytes(db, clinic.id, "ctx", b"apres")
        assert new[2:6] == (before + 1).to_bytes(4, "big")
        assert (open_bytes(db, clinic.id, "ctx", old), open_bytes(db, clinic.id, "ctx", new)) == (b"avant", b"apres")


def test_clearing_a_session_cache_that_holds_nothing_is_harmless(carnet_db, clinic):
    from carnet_core.encryption.services import _SESSION_CACHE, clear_session_cache

    with carnet_db.session(clinic_id=clinic.id) as db:
        assert _SESSION_CACHE not in db.info
        clear_session_cache(db)
        clear_session_cache(db)
        assert _SESSION_CACHE not in db.info


def test_the_blind_index_compares_exact_values_unless_told_otherwise(carnet_db, clinic):
    with carnet_db.session(clinic_id=clinic.id) as db:
        plain = blind_index(db, clinic.id, "plug_thing.code", "AB-12")
        assert plain == blind_index(db, clinic.id, "plug_thing.code", "AB-12", "exact")
        assert plain != blind_index(db, clinic.id, "plug_thing.code", "ab-12")  # no folding by default
        assert plain != blind_index(db, clinic.id, "plug_thing.code", "AB-12", "name")


def test_a_sealed_value_copied_into_a_new_unsaved_row_does_not_open(carnet_db, clinic, tables):
    note_id = _note(carnet_db, clinic.id, "secret")
    with carnet_db.session(clinic_id=clinic.id) as db:
        copy = EncNote(body=db.get(EncNote, note_id).body)
        with pytest.raises(DecryptionError, match=exactly(ALTERED)):
            open_(db, copy, "body")  # the new row gets its own id first, which the value is not bound to
        assert copy.id is not None and copy.id != note_id
        assert open_(db, db.get(EncNote, note_id), "body") == "secret"


def test_opening_then_sealing_reads_the_clinic_keys_once_and_seals_with_the_active_version(
    carnet_db, clinic, tables
):
    old_id = _note(carnet_db, clinic.id, "sealed with v1")
    with carnet_db.session(clinic_id=clinic.id) as db:
        rotate(db, clinic.id)
    for note_id, text in ((old_id, "sealed with v1"), (_note(carnet_db, clinic.id, "sealed with v2"), "sealed with v2")):
        statements = []

        def seen(conn, cursor, statement, *args, _into=statements):
            _into.append(statement)

        # given a transaction that opens a value (of the rotated version, then of the active one)
        with carnet_db.session(clinic_id=clinic.id) as db:
            sa.event.listen(carnet_db.engine, "before_cursor_execute", seen)
            try:
                assert open_(db, db.get(EncNote, note_id), "body") == text
                # when it seals another one
                note = EncNote()
                seal(db, note, "title", "new")
            finally:
                sa.event.remove(carnet_db.engine, "before_cursor_execute", seen)
        # then the clinic's key rows were read once, and the new value uses the active version (2)
        assert sum("FROM core_data_key" in s for s in statements) == 1
        assert bytes(note.title[2:6]) == (2).to_bytes(4, "big")
        with carnet_db.session(clinic_id=clinic.id) as db:
            assert open_(db, db.get(EncNote, note.id), "title") == "new"


def test_names_of_reads_each_clinic_key_with_the_patient_keys_across_a_rotation_and_an_erasure(carnet_db, clinic):
    # The clinic key that wraps each patient's key comes joined to the patients' rows, read in the
    # same transaction (no query of its own, nothing kept between transactions): patients keyed
    # under v1 and v2 open on one page, a destroyed key stays destroyed, a new rotation holds.
    from carnet_core.encryption import destroy_subject_key, patient_subject
    from carnet_core.patients import access
    from carnet_core.patients.services import names_of

    def add(last_name):
        with carnet_db.session(clinic_id=clinic.id) as db:
            return access(db, "system:test").register({"last_name": last_name, "first_name": "Élodie"})

    first = add("Avant")
    with carnet_db.session(clinic_id=clinic.id) as db:
        rotate(db, clinic.id)
    second, shredded = add("Après"), add("Effacé")
    with carnet_db.session(clinic_id=clinic.id) as db:
        destroy_subject_key(db, clinic.id, patient_subject(shredded))
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(carnet_db.engine, "before_cursor_execute", seen)
    try:
        with carnet_db.session(clinic_id=clinic.id) as db:
            db.info["principal"] = "system:test"
            assert names_of(db, [first, second]) == {first: ("Avant", "Élodie"), second: ("Après", "Élodie")}
            with pytest.raises(KeyDestroyed):
                names_of(db, [shredded])
    finally:
        sa.event.remove(carnet_db.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if "FROM core_data_key" in s]
    # a rotation after the page's transaction: the next one reads the keys again and still opens all
    with carnet_db.session(clinic_id=clinic.id) as db:
        rotate(db, clinic.id)
    third = add("Encore")
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:test"
        assert set(names_of(db, [first, second, third])) == {first, second, third}
