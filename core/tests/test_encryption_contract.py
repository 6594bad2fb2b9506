"""What encryption must keep true whatever the code becomes (issue 16, class 7).

- the on-disk format is pinned: values sealed (and keys wrapped) by today's code keep opening;
- blind indexes are keyed with the clinic's index key, never its data key (pinned vector);
- the key caches are keyed per clinic: a session touching two clinics never mixes their keys;
- an erased patient's key leaves the session cache and the process-wide keyring cache;
- the bulk key-opening functions of the patient-list path keep to their clinic and skip
  destroyed keys.
"""

from __future__ import annotations

import hmac
from hashlib import sha256

import pytest
import sqlalchemy as sa
from sqlmodel import select

from carnet_core.encryption import (
    DecryptionError,
    KeyDestroyed,
    Keyring,
    LocalKeyProvider,
    blind_index,
    destroy_subject_key,
    ensure_subject_key,
    patient_subject,
)
from carnet_core.encryption.models import PURPOSE_DATA, PURPOSE_INDEX, STATE_ACTIVE, DataKey, SubjectKey
from carnet_core.encryption.services import (
    _SESSION_CACHE,
    _subject_key_context,
    blind_indexes,
    open_bytes,
    open_subject_keys,
    row_context,
    seal_bytes,
    warm_subject_keys,
)

# --- pinned test vectors ---------------------------------------------------------------------------
# Produced once by the code of December 2026 from these raw keys; they must open forever after.
# A change that breaks them makes every existing database unreadable: add a new format version
# instead (the header's first byte), and keep reading this one.
MASTER_KEY = bytes(range(32))
DATA_KEY = b"\x11" * 32  # clinic 1, purpose "data", version 1
INDEX_KEY = b"\x22" * 32  # clinic 1, purpose "index", version 1
SUBJECT_KEY = b"\x33" * 32  # clinic 1, "patient:5", wrapped by data key version 1, key row id 1
DATA_WRAPPED = bytes.fromhex(
    "014d9c85c1c28a8f390138d069e8a96aecae582c3c4409fa84adbd8b6f6a01a23ce4d6a29893514175b1d26b896fff5f47a8e5956b005dbd837622ad5c"
)
INDEX_WRAPPED = bytes.fromhex(
    "018ef3ae889909fd4c8939d9544a1398d66a828b18ec80517fb04bb6917648df4b304cadc4b8966fde50954a89e5b192415fa6c2b15aa2ab851aa2672a"
)
SUBJECT_WRAPPED = bytes.fromhex(
    "20e82f1d816011ec2569c9684a2122dcf333b4caa07716630e73f40b013cd9e4b3810c0541c8cc67f49ea82d0ede533bd177e85f3dd9b2b3331b6418"
)
# sealed with the clinic key for row_context("vector_note", "body", 7), clinic 1
CLINIC_SEALED = bytes.fromhex(
    "016300000001373ec3433301fec5c701140c233952ed11507fdd5bb8aaa5e8dfc003d6e8f493cad58bfb9b2cd694f4b43f668e075192127d11fb7c8e4b32"
)
# sealed with patient 5's key for row_context("vector_note", "body", 8), clinic 1
SUBJECT_SEALED = bytes.fromhex(
    "0173000000019c801b66e60987f88f86fcdb4fa9ba2f41e042db00b26a4d11b45c9b2c5e48f0d2c29df8853dd47962c645ea00d9f25e769504ac"
)
# blind_index(clinic 1, "core_patient.email", " Alice.Martin@Example.ORG ", "email")
EMAIL_BLIND_INDEX = bytes.fromhex("d802058e78c7a8cb8d85eeda36464f50")


@pytest.fixture
def vector_clinic(carnet_db, make_clinic):
    """Clinic 1 holding the pinned keys, read through a keyring with the pinned master key."""
    clinic = make_clinic("vecteur", plugins=[])
    assert clinic.id == 1, "the vectors are bound to clinic id 1: run on a fresh database"
    provider = LocalKeyProvider(MASTER_KEY)
    carnet_db.keyring = Keyring(provider)
    with carnet_db.session(unscoped=True) as db:
        for purpose, wrapped in ((PURPOSE_DATA, DATA_WRAPPED), (PURPOSE_INDEX, INDEX_WRAPPED)):
            db.add(DataKey(clinic_id=1, purpose=purpose, version=1, state=STATE_ACTIVE, wrapped=wrapped,
                           master_key_id=provider.key_id))
        db.flush()
        db.add(SubjectKey(id=1, clinic_id=1, subject=patient_subject(5), data_key_version=1, wrapped=SUBJECT_WRAPPED))
    return clinic


def test_values_sealed_by_the_pinned_format_keep_opening(carnet_db, vector_clinic):
    with carnet_db.session(clinic_id=1) as db:
        assert open_bytes(db, 1, row_context("vector_note", "body", 7), CLINIC_SEALED).decode() == \
            "Séance du 3 mars, CANARY-V1"
        assert open_bytes(db, 1, row_context("vector_note", "body", 8), SUBJECT_SEALED).decode() == \
            "Bilan initial, CANARY-V2"
        # what is sealed today has the same header: format 1, kind, key reference (4 bytes)
        assert seal_bytes(db, 1, "x", b"y")[:6] == CLINIC_SEALED[:6]
        assert seal_bytes(db, 1, "x", b"y", subject=patient_subject(5))[:6] == SUBJECT_SEALED[:6]
        # and the pinned values stay bound to their row and clinic
        with pytest.raises(DecryptionError):
            open_bytes(db, 1, row_context("vector_note", "body", 8), CLINIC_SEALED)


def test_the_blind_index_is_keyed_with_the_index_key_never_the_data_key(carnet_db, vector_clinic):
    with carnet_db.session(clinic_id=1) as db:
        index = blind_index(db, 1, "core_patient.email", " Alice.Martin@Example.ORG ", "email")
    message = b"carnet.bidx.v1\x00core_patient.email\x00alice.martin@example.org"
    assert index == hmac.new(INDEX_KEY, message, sha256).digest()[:16]
    assert index != hmac.new(DATA_KEY, message, sha256).digest()[:16]
    assert index == EMAIL_BLIND_INDEX
    # the name prefixes of prefix search: the same key, the same construction, one per value
    with carnet_db.session(clinic_id=1) as db:
        prefixes = blind_indexes(db, 1, "core_patient.name_prefix", ["ma", "mar", ""])
    assert prefixes == [hmac.new(INDEX_KEY, b"carnet.bidx.v1\x00core_patient.name_prefix\x00" + p, sha256).digest()[:16]
                        for p in (b"ma", b"mar")]


# --- two clinics in one session ----------------------------------------------------------------------


def test_a_session_touching_two_clinics_seals_each_with_its_own_keys(carnet_db, make_clinic):
    a = make_clinic("alpha", plugins=[])
    b = make_clinic("beta", plugins=[])
    subject = patient_subject(77)  # the same subject name in both clinics: the caches must not mix them
    with carnet_db.session(unscoped=True) as db:
        sealed = {}
        for clinic in (a, b, a, b):  # alternating: each clinic's second seal comes from the warm cache
            sealed[("clinic", clinic.id)] = seal_bytes(db, clinic.id, "ctx", f"clinic {clinic.id}".encode())
            sealed[("subject", clinic.id)] = seal_bytes(db, clinic.id, "ctx", f"patient of {clinic.id}".encode(),
                                                        subject=subject)
        indexes = {c.id: blind_index(db, c.id, "core_patient.email", "alice@example.org", "email") for c in (a, b)}
        # reading both clinics' values in one session too
        opened = {key: open_bytes(db, key[1], "ctx", value) for key, value in sealed.items()}
    assert opened == {("clinic", a.id): f"clinic {a.id}".encode(), ("clinic", b.id): f"clinic {b.id}".encode(),
                      ("subject", a.id): f"patient of {a.id}".encode(),
                      ("subject", b.id): f"patient of {b.id}".encode()}
    assert indexes[a.id] != indexes[b.id]
    for clinic in (a, b):  # each value opens in a fresh session of its own clinic only
        other = b if clinic is a else a
        with carnet_db.session(clinic_id=clinic.id) as db:
            assert open_bytes(db, clinic.id, "ctx", sealed[("clinic", clinic.id)]) == f"clinic {clinic.id}".encode()
            assert open_bytes(db, clinic.id, "ctx", sealed[("subject", clinic.id)]) == \
                f"patient of {clinic.id}".encode()
            assert blind_index(db, clinic.id, "core_patient.email", "alice@example.org", "email") == indexes[clinic.id]
            with pytest.raises(DecryptionError):
                open_bytes(db, clinic.id, "ctx", sealed[("clinic", other.id)])


def test_an_erased_patients_key_leaves_the_session_and_process_caches(carnet_db, make_clinic):
    a = make_clinic("alpha", plugins=[])
    b = make_clinic("beta", plugins=[])
    subject = patient_subject(12)
    keyring = carnet_db.keyring
    with carnet_db.session(clinic_id=b.id) as db:
        kept = seal_bytes(db, b.id, "ctx", b"beta's patient 12", subject=subject)
    with carnet_db.session(clinic_id=a.id) as db:
        sealed = seal_bytes(db, a.id, "ctx", b"alpha's patient 12", subject=subject)
        assert open_bytes(db, a.id, "ctx", sealed) == b"alpha's patient 12"  # the key is now in both caches
        row = db.exec(select(SubjectKey).where(SubjectKey.subject == subject)).one()
        wrapped, context = bytes(row.wrapped), _subject_key_context(a.id, subject, row.data_key_version)
        assert destroy_subject_key(db, a.id, subject)
        # the same session cannot open it any more (its cache forgot the key)
        with pytest.raises(KeyDestroyed):
            open_bytes(db, a.id, "ctx", sealed)
        with pytest.raises(KeyDestroyed):
            seal_bytes(db, a.id, "ctx", b"again", subject=subject)
        assert not [slot for slot in db.info.get(_SESSION_CACHE, {}) if subject in slot and a.id in slot]

    # the process keyring forgot it too: a copy of the old wrapped bytes (a backup) is not served
    # from memory; it has to be unwrapped again, by a data key the attacker does not have
    def refuse(_wrapped: bytes, _context: bytes) -> bytes:
        raise DecryptionError("not in the cache")

    with pytest.raises(DecryptionError, match="not in the cache"):
        keyring.unwrap(wrapped, context, unwrap=refuse)
    with carnet_db.session(clinic_id=a.id) as db:
        with pytest.raises(KeyDestroyed):
            open_bytes(db, a.id, "ctx", sealed)
    with carnet_db.session(clinic_id=b.id) as db:  # the other clinic's patient 12 is untouched
        assert open_bytes(db, b.id, "ctx", kept) == b"beta's patient 12"


# --- bulk key opening (patient lists) ----------------------------------------------------------------


def _cached(db):
    return set(db.info.get(_SESSION_CACHE, {}))


def test_warm_subject_keys_opens_only_its_clinics_live_keys(carnet_db, make_clinic):
    a = make_clinic("alpha", plugins=[])
    b = make_clinic("beta", plugins=[])
    live, gone = patient_subject(1), patient_subject(2)
    with carnet_db.session(unscoped=True) as db:
        for clinic in (a, b):
            ensure_subject_key(db, clinic.id, live)
            ensure_subject_key(db, clinic.id, gone)
        sealed = seal_bytes(db, a.id, "ctx", b"gone", subject=gone)
        destroy_subject_key(db, a.id, gone)
    with carnet_db.session(unscoped=True) as db:  # unscoped: the function's own filter is all there is
        warm_subject_keys(db, a.id, [live, gone, patient_subject(3)])
        subject_slots = {slot for slot in _cached(db) if slot[0] == "subject"}
        assert subject_slots == {("subject", a.id, live)}
        ids = {slot[1] for slot in _cached(db) if slot[0] == "subject_id"}
        a_live = db.exec(select(SubjectKey).where(SubjectKey.clinic_id == a.id, SubjectKey.subject == live)).one()
        assert ids == {a_live.id}
        with pytest.raises(KeyDestroyed):
            open_bytes(db, a.id, "ctx", sealed)
        warm_subject_keys(db, a.id, [live])  # already warm: nothing read again
        assert {slot for slot in _cached(db) if slot[0] == "subject"} == {("subject", a.id, live)}


def test_open_subject_keys_skips_missing_and_destroyed_rows(carnet_db, make_clinic):
    a = make_clinic("alpha", plugins=[])
    b = make_clinic("beta", plugins=[])
    with carnet_db.session(unscoped=True) as db:
        ensure_subject_key(db, a.id, patient_subject(1))
        ensure_subject_key(db, b.id, patient_subject(1))
        ensure_subject_key(db, a.id, patient_subject(2))
        destroy_subject_key(db, a.id, patient_subject(2))
    with carnet_db.session(unscoped=True) as db:
        rows = db.exec(select(SubjectKey).order_by(SubjectKey.id)).all()
        open_subject_keys(db, [None, *rows])
        cached = _cached(db)
        assert {s for s in cached if s[0] == "subject"} == {("subject", a.id, patient_subject(1)),
                                                             ("subject", b.id, patient_subject(1))}
        destroyed = next(r for r in rows if r.wrapped is None)
        assert ("subject_id", destroyed.id) not in cached
        assert {s[1] for s in cached if s[0] == "subject_id"} == {r.id for r in rows if r.wrapped is not None}


def test_names_of_lists_only_the_sessions_clinic_and_skips_erased_patients(carnet_db, make_clinic, staff):
    from carnet_core.patients.services import create_patient, erase_patient, names_of
    from carnet_core.web.principal import Principal

    a = make_clinic("alpha")
    b = make_clinic("beta")
    ids = {}
    for clinic in (a, b):
        owner = staff("owner", clinic=clinic)
        principal = Principal(kind="user", user_id=owner.id, clinic_id=clinic.id, roles=frozenset({"owner"}),
                              permissions=frozenset({"core.patients.view", "core.patients.edit"}))
        with carnet_db.session(clinic_id=clinic.id) as db:
            for last in ("Martin", "Durand"):
                ids[(clinic.slug, last)] = create_patient(db, principal, {"last_name": last, "first_name": "Léa"}).id
        if clinic is a:
            with carnet_db.session(clinic_id=a.id) as db:
                from carnet_core.patients.models import Patient

                erase_patient(db, principal, db.get(Patient, ids[("alpha", "Durand")]), reason="other")
    with carnet_db.session(clinic_id=a.id) as db:
        names = names_of(db, list(ids.values()))
        assert names == {ids[("alpha", "Martin")]: ("Martin", "Léa")}
        kept = names_of(db, list(ids.values()), keep=lambda pid, _prac: pid != ids[("alpha", "Martin")])
        assert kept == {}
        assert names_of(db, []) == {}


# --- what each refusal says ------------------------------------------------------------------------


def _exactly(message: str) -> str:
    import re

    return f"^{re.escape(message)}$"


def test_a_patients_sealed_value_copied_to_another_clinic_never_meets_that_clinics_keys(carnet_db, make_clinic):
    """The key a value names is looked up in the reading clinic only: another clinic's value is
    refused for naming a key this clinic does not have, before any decryption is tried."""
    a = make_clinic("alpha", plugins=[])
    b = make_clinic("beta", plugins=[])
    with carnet_db.session(unscoped=True) as db:
        ensure_subject_key(db, b.id, patient_subject(1))  # beta's key rows come first
        ensure_subject_key(db, b.id, patient_subject(2))
        stolen = seal_bytes(db, b.id, "ctx", b"beta's patient", subject=patient_subject(2))
        ensure_subject_key(db, a.id, patient_subject(2))
    with carnet_db.session(clinic_id=a.id) as db, pytest.raises(
            DecryptionError, match=_exactly("sealed value names a subject key that does not exist in this clinic")):
        open_bytes(db, a.id, "ctx", stolen)
    with carnet_db.session(unscoped=True) as db, pytest.raises(  # unscoped: the function's own filter holds
            DecryptionError, match=_exactly("sealed value names a subject key that does not exist in this clinic")):
        open_bytes(db, a.id, "ctx", stolen)


def test_a_damaged_subject_key_fails_its_own_values_only(carnet_db, make_clinic):
    import sqlalchemy as sa

    a = make_clinic("alpha", plugins=[])
    with carnet_db.session(clinic_id=a.id) as db:
        damaged = seal_bytes(db, a.id, "ctx", b"one", subject=patient_subject(1))
        intact = seal_bytes(db, a.id, "ctx", b"two", subject=patient_subject(2))
        row = db.exec(select(SubjectKey).where(SubjectKey.subject == patient_subject(1))).one()
        wrapped = bytearray(row.wrapped)
        wrapped[-1] ^= 1
        db.connection().execute(sa.text("UPDATE core_subject_key SET wrapped = :w WHERE id = :i"),
                                {"w": bytes(wrapped), "i": row.id})
    carnet_db.keyring.forget(bytes(row.wrapped), _subject_key_context(a.id, patient_subject(1), 1))
    with carnet_db.session(clinic_id=a.id) as db:
        rows = db.exec(select(SubjectKey).order_by(SubjectKey.id)).all()
        open_subject_keys(db, rows)  # the damaged row is left out, the other one opened
        assert {s[2] for s in db.info[_SESSION_CACHE] if s[0] == "subject"} == {patient_subject(2)}
        assert open_bytes(db, a.id, "ctx", intact) == b"two"
        with pytest.raises(DecryptionError, match=_exactly(
                "a subject key does not open with its clinic key (altered or moved)")):
            open_bytes(db, a.id, "ctx", damaged)


def test_sealing_without_a_keyring_or_with_a_value_that_is_not_text_says_why(carnet_db, make_clinic, tmp_path):
    from carnet_core.db.session import Database
    from carnet_core.encryption import seal
    from carnet_core.encryption.services import KeyringMissing
    from carnet_core.patients.models import Patient

    a = make_clinic("alpha", plugins=[])
    bare = Database(carnet_db.url)  # a Database built without install_keyring
    with bare.session(clinic_id=a.id) as db, pytest.raises(KeyringMissing, match=_exactly(
            "this database session has no keyring; call "
            "carnet_core.encryption.install_keyring(database, settings) where the Database is built")):
        seal_bytes(db, a.id, "ctx", b"x")
    bare.dispose()
    with carnet_db.session(clinic_id=a.id) as db, pytest.raises(TypeError, match=_exactly(
            "seal() takes text; serialise other values first (ISO dates, JSON)")):
        seal(db, Patient(), "last_name", 12)


def test_erasure_is_recorded_on_the_key_row_and_reported(carnet_db, make_clinic):
    from carnet_core.encryption.services import clear_session_cache, subject_key_destroyed

    a = make_clinic("alpha", plugins=[])
    with carnet_db.session(clinic_id=a.id) as db:
        ensure_subject_key(db, a.id, patient_subject(1))
        assert not subject_key_destroyed(db, a.id, patient_subject(1))
        assert not subject_key_destroyed(db, a.id, patient_subject(9))  # no key at all: not "destroyed"
        assert destroy_subject_key(db, a.id, patient_subject(9)) is False  # nothing to destroy
        assert destroy_subject_key(db, a.id, patient_subject(1)) is True
        assert subject_key_destroyed(db, a.id, patient_subject(1))
        row = db.exec(select(SubjectKey).where(SubjectKey.subject == patient_subject(1))).one()
        assert row.wrapped is None and row.destroyed_at is not None
        seal_bytes(db, a.id, "ctx", b"x")
        assert db.info.get(_SESSION_CACHE)
        clear_session_cache(db)
        assert _SESSION_CACHE not in db.info


def test_a_rolled_back_session_forgets_its_keys(carnet_db, make_clinic):
    """A key erased while a session held it in its cache is not served to that session once its
    transaction has rolled back."""
    a = make_clinic("alpha", plugins=[])
    with carnet_db.session(clinic_id=a.id) as db:
        sealed = seal_bytes(db, a.id, "ctx", b"secret", subject=patient_subject(1))
    db = carnet_db.new_session(clinic_id=a.id)
    try:
        assert open_bytes(db, a.id, "ctx", sealed) == b"secret"  # now in this session's cache
        db.rollback()
        with carnet_db.session(clinic_id=a.id) as other:
            destroy_subject_key(other, a.id, patient_subject(1))
        with pytest.raises(KeyDestroyed):
            open_bytes(db, a.id, "ctx", sealed)
    finally:
        db.close()


def test_warming_opens_the_keys_asked_for_and_the_warm_keys_seal(carnet_db, make_clinic):
    a = make_clinic("alpha", plugins=[])
    with carnet_db.session(clinic_id=a.id) as db:
        for n in (1, 2, 3):
            ensure_subject_key(db, a.id, patient_subject(n))
    with carnet_db.session(clinic_id=a.id) as db:
        warm_subject_keys(db, a.id, [patient_subject(1), patient_subject(2)])
        assert {s[2] for s in _cached(db) if s[0] == "subject"} == {patient_subject(1), patient_subject(2)}
        sealed = seal_bytes(db, a.id, "ctx", b"warm", subject=patient_subject(1))  # served by the warm key
        assert open_bytes(db, a.id, "ctx", sealed) == b"warm"
    with carnet_db.session(clinic_id=a.id) as db:
        open_subject_keys(db, db.exec(select(SubjectKey).where(SubjectKey.subject == patient_subject(3))).all())
        assert open_bytes(db, a.id, "ctx", seal_bytes(db, a.id, "ctx", b"3", subject=patient_subject(3))) == b"3"


# --- bulk opening reads and unwraps each key once per session ----------------------------------------


def _statements(carnet_db):
    seen = []
    sa.event.listen(carnet_db.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_warming_again_reads_no_key_row_twice(carnet_db, make_clinic):
    a = make_clinic("alpha", plugins=[])
    with carnet_db.session(clinic_id=a.id) as db:
        for n in (1, 2):
            ensure_subject_key(db, a.id, patient_subject(n))
    seen = _statements(carnet_db)
    with carnet_db.session(clinic_id=a.id) as db:
        warm_subject_keys(db, a.id, [patient_subject(1), patient_subject(2)])
        key_reads = [s for s in seen if "core_subject_key" in s]
        assert len(key_reads) == 1  # one query for the whole list
        warm_subject_keys(db, a.id, [patient_subject(2), patient_subject(1)])
        assert [s for s in seen if "core_subject_key" in s] == key_reads  # already warm: nothing read


def test_bulk_opening_unwraps_only_the_keys_the_session_does_not_hold(carnet_db, make_clinic, monkeypatch):
    a = make_clinic("alpha", plugins=[])
    with carnet_db.session(clinic_id=a.id) as db:
        for n in (1, 2):
            ensure_subject_key(db, a.id, patient_subject(n))
    unwrapped = []
    keyring = carnet_db.keyring
    real = keyring.unwrap

    def counting(wrapped, context, unwrap=None):
        unwrapped.append(context)
        return real(wrapped, context, unwrap=unwrap)

    monkeypatch.setattr(keyring, "unwrap", counting)
    with carnet_db.session(clinic_id=a.id) as db:
        rows = db.exec(select(SubjectKey).order_by(SubjectKey.id)).all()
        open_subject_keys(db, rows[:1])
        first = len(unwrapped)
        assert first >= 1
        open_subject_keys(db, rows)  # the first row is already open: only the second is unwrapped
        assert len(unwrapped) == first + 1
        assert unwrapped[-1] == _subject_key_context(a.id, patient_subject(2), rows[1].data_key_version)
        open_subject_keys(db, rows)
        assert len(unwrapped) == first + 1


def test_sealing_for_a_patient_who_has_a_key_writes_no_key(carnet_db, make_clinic):
    """The patient's key is looked up (in the sealing clinic, by subject) before anything is created:
    sealing again for a known patient sends no INSERT of a key row, not even one refused."""
    a = make_clinic("alpha", plugins=[])
    b = make_clinic("beta", plugins=[])
    with carnet_db.session(unscoped=True) as db:
        for clinic in (b, a):
            ensure_subject_key(db, clinic.id, patient_subject(4))
    seen = _statements(carnet_db)
    with carnet_db.session(clinic_id=a.id) as db:
        sealed = seal_bytes(db, a.id, "ctx", b"encore", subject=patient_subject(4))
    assert not [s for s in seen if s.lstrip().upper().startswith("INSERT") and "core_subject_key" in s]
    with carnet_db.session(clinic_id=a.id) as db:
        assert open_bytes(db, a.id, "ctx", sealed) == b"encore"
        assert db.exec(select(SubjectKey)).all()[0].clinic_id == a.id


def test_a_fresh_session_opens_several_values_of_one_patient(carnet_db, make_clinic):
    a = make_clinic("alpha", plugins=[])
    with carnet_db.session(clinic_id=a.id) as db:
        sealed = [seal_bytes(db, a.id, f"ctx{n}", f"valeur {n}".encode(), subject=patient_subject(6)) for n in range(3)]
    with carnet_db.session(clinic_id=a.id) as db:  # the key is looked up by its id once, then served from the cache
        assert [open_bytes(db, a.id, f"ctx{n}", value) for n, value in enumerate(sealed)] == \
            [b"valeur 0", b"valeur 1", b"valeur 2"]


def test_a_key_created_by_a_concurrent_session_is_the_one_used(carnet_db, make_clinic):
    """Two requests seal the first value of a new patient at once: the one whose insert of the key
    row loses (unique clinic and subject) reads the winner's row and seals with that key."""
    a = make_clinic("alpha", plugins=[])
    b = make_clinic("beta", plugins=[])
    subject = patient_subject(8)
    with carnet_db.session(clinic_id=b.id) as db:
        ensure_subject_key(db, b.id, subject)  # the same subject in another clinic: not the one to read
    race = {"armed": True}

    def the_other_request_commits_first(_conn, _cursor, statement, *_args):
        if race["armed"] and statement.lstrip().upper().startswith("SELECT") and "core_subject_key" in statement:
            race["armed"] = False
            with carnet_db.session(clinic_id=a.id) as other:
                ensure_subject_key(other, a.id, subject)

    sa.event.listen(carnet_db.engine, "after_cursor_execute", the_other_request_commits_first)
    try:
        with carnet_db.session(clinic_id=a.id) as db:
            sealed = seal_bytes(db, a.id, "ctx", b"premier", subject=subject)
            assert open_bytes(db, a.id, "ctx", sealed) == b"premier"
    finally:
        sa.event.remove(carnet_db.engine, "after_cursor_execute", the_other_request_commits_first)
    assert not race["armed"]
    with carnet_db.session(clinic_id=a.id) as db:
        rows = db.exec(select(SubjectKey).where(SubjectKey.subject == subject)).all()
        assert len(rows) == 1
        assert int.from_bytes(sealed[2:6], "big") == rows[0].id  # sealed with the winner's key
        assert open_bytes(db, a.id, "ctx", sealed) == b"premier"


def test_a_value_sealed_in_a_session_opens_there_without_reading_its_key_again(carnet_db, make_clinic):
    a = make_clinic("alpha", plugins=[])
    with carnet_db.session(clinic_id=a.id) as db:
        ensure_subject_key(db, a.id, patient_subject(3))
    seen = _statements(carnet_db)
    with carnet_db.session(clinic_id=a.id) as db:
        sealed = seal_bytes(db, a.id, "ctx", b"x", subject=patient_subject(3))
        reads = len([s for s in seen if "core_subject_key" in s])
        assert open_bytes(db, a.id, "ctx", sealed) == b"x"
        assert len([s for s in seen if "core_subject_key" in s]) == reads


def test_each_open_is_noted_for_the_trace_with_the_patient_whose_key_opened_it(carnet_db, make_clinic):
    """The access trace names the patient of a value sealed with that patient's key; a value sealed
    with the clinic key, or with another kind of subject's key, names none."""
    from carnet_core.audit.trace import OPENS

    a = make_clinic("alpha", plugins=[])
    contexts = [row_context("plug_note", "body", n) for n in (1, 2, 3)]
    with carnet_db.session(clinic_id=a.id) as db:
        sealed = [seal_bytes(db, a.id, contexts[0], b"un", subject=patient_subject(5)),
                  seal_bytes(db, a.id, contexts[1], b"deux", subject="family:5"),
                  seal_bytes(db, a.id, contexts[2], b"trois")]
    with carnet_db.session(clinic_id=a.id) as db:
        assert [open_bytes(db, a.id, c, v) for c, v in zip(contexts, sealed, strict=True)] == [b"un", b"deux", b"trois"]
        noted = db.info[OPENS]
        assert set(noted) == {(a.id, 5, "plug_note"), (a.id, None, "plug_note")}
        assert noted[(a.id, 5, "plug_note")][1] == {"1"}
        assert noted[(a.id, None, "plug_note")][1] == {"2", "3"}
