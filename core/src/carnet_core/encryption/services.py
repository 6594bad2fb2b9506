"""Sealing and opening fields, blind indexes, subject keys, clinic key rotation.

Key hierarchy: master key (outside the database) -> per-clinic data keys (versioned) and one
blind-index key per clinic -> per-subject (patient) keys -> sealed fields. A field is sealed either
with its clinic's active data key or, when its table names a subject, with the patient's key.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlmodel import select

from carnet_core.audit.trace import note_open
from carnet_core.db.base import utcnow
from carnet_core.db.session import CarnetSession
from carnet_core.encryption.keyring import KEYRING_INFO, Keyring, aead
from carnet_core.encryption.models import (
    PURPOSE_DATA,
    PURPOSE_INDEX,
    STATE_ACTIVE,
    STATE_ROTATED,
    DataKey,
    SubjectKey,
)
from carnet_core.encryption.normalise import FOLDERS
from carnet_core.encryption.types import (
    FORMAT_V1,
    HEADER_LEN,
    KIND_CLINIC,
    KIND_SUBJECT,
    NONCE_LEN,
    TAG_LEN,
)

BLIND_INDEX_LEN = 16
_SESSION_CACHE = "carnet.keys.session"


class EncryptionError(Exception):
    """Base class of sealing errors."""


class KeyringMissing(EncryptionError):
    """The session's Database has no keyring."""


class DecryptionError(EncryptionError):
    """A sealed value does not open: altered, moved to another row or clinic, or unknown key."""


class KeyDestroyed(DecryptionError):
    """The value's key was destroyed (lawful erasure): the data is gone for good."""


@dataclass(frozen=True)
class _Key:
    kind: int
    ref: int
    key: bytes
    patient_id: int | None = None  # the data subject, for keys of patients (the trace names them)


# --- keys ----------------------------------------------------------------------------------------


def keyring_of(db: Any) -> Keyring:
    keyring = db.info.get(KEYRING_INFO)
    if keyring is None:
        raise KeyringMissing(
            "this database session has no keyring; call "
            "carnet_core.encryption.install_keyring(database, settings) where the Database is built"
        )
    return keyring


def _cache(db: Any) -> dict[Any, Any]:
    return db.info.setdefault(_SESSION_CACHE, {})


def _data_key_context(clinic_id: int, purpose: str, version: int) -> bytes:
    return f"carnet.data_key.v1\x00{clinic_id}\x00{purpose}\x00{version}".encode()


def _subject_key_context(clinic_id: int, subject: str, version: int) -> bytes:
    return f"carnet.subject_key.v1\x00{clinic_id}\x00{subject}\x00{version}".encode()


def _select_data_keys(db: Any, clinic_id: int, purpose: str) -> sa.Select[Any]:
    return select(DataKey).where(DataKey.clinic_id == clinic_id, DataKey.purpose == purpose)


def _create_data_key(db: Any, clinic_id: int, purpose: str) -> DataKey:
    """Add the first (or next) version of a clinic key; concurrent creators converge."""
    keyring = keyring_of(db)
    latest = db.exec(
        select(sa.func.max(DataKey.version)).where(DataKey.clinic_id == clinic_id, DataKey.purpose == purpose)
    ).one()
    version = (latest or 0) + 1
    row = DataKey(
        clinic_id=clinic_id, purpose=purpose, version=version, state=STATE_ACTIVE,
        wrapped=keyring.new_wrapped_key(_data_key_context(clinic_id, purpose, version)),
        master_key_id=keyring.master_key_id,
    )
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except sa_exc.IntegrityError:
        # Another transaction created this version first: use theirs.
        existing = db.exec(
            _select_data_keys(db, clinic_id, purpose).where(DataKey.version == version)
        ).one()
        return existing
    return row


def _active_slot(clinic_id: int, purpose: str) -> tuple[Any, ...]:
    """The key cache's entry of a clinic's active data key (a cache may hold several clinics')."""
    return ("active", clinic_id, purpose)


def _version_slot(clinic_id: int, purpose: str, version: int) -> tuple[Any, ...]:
    """The key cache's entry of one version of a clinic's data key."""
    return ("data", clinic_id, purpose, version)


def _active_data_key(db: Any, clinic_id: int, purpose: str = PURPOSE_DATA) -> _Key:
    cache = _cache(db)
    slot = _active_slot(clinic_id, purpose)
    if slot in cache:
        return cache[slot]
    row = db.exec(
        _select_data_keys(db, clinic_id, purpose).where(DataKey.state == STATE_ACTIVE)
        .order_by(DataKey.version.desc())
    ).first()
    if row is None:
        row = _create_data_key(db, clinic_id, purpose)
    key = _Key(KIND_CLINIC, row.version, _unwrap_data_key(db, row))
    cache[slot] = key
    cache[_version_slot(clinic_id, purpose, row.version)] = key
    return key


def _data_key(db: Any, clinic_id: int, version: int, purpose: str = PURPOSE_DATA) -> _Key:
    cache = _cache(db)
    slot = _version_slot(clinic_id, purpose, version)
    if slot in cache:
        return cache[slot]
    # The active version comes in the same query (a transaction that opens a value often seals
    # one next): the newest active row, as `_active_data_key` would choose it.
    active_slot = _active_slot(clinic_id, purpose)
    wanted = DataKey.version == version
    if active_slot not in cache:
        wanted = sa.or_(wanted, DataKey.state == STATE_ACTIVE)
    rows = db.exec(_select_data_keys(db, clinic_id, purpose).where(wanted)).all()
    row = next((r for r in rows if r.version == version), None)
    if row is None:
        raise DecryptionError("sealed value names a clinic key version that does not exist")
    key = _Key(KIND_CLINIC, version, _unwrap_data_key(db, row))
    cache[slot] = key
    active = max((r for r in rows if r.state == STATE_ACTIVE), key=lambda r: r.version, default=None)
    if active is not None and active_slot not in cache:
        newest = key if active.version == version else _Key(KIND_CLINIC, active.version, _unwrap_data_key(db, active))
        cache[active_slot] = cache[_version_slot(clinic_id, purpose, active.version)] = newest
    return key


def _unwrap_data_key(db: Any, row: DataKey) -> bytes:
    return keyring_of(db).unwrap(row.wrapped, _data_key_context(row.clinic_id, row.purpose, row.version))


PATIENT_SUBJECT = "patient:"


def patient_subject(patient_id: int) -> str:
    return f"{PATIENT_SUBJECT}{int(patient_id)}"


def _subject_key_row(db: Any, clinic_id: int, subject: str) -> SubjectKey | None:
    return db.exec(
        select(SubjectKey).where(SubjectKey.clinic_id == clinic_id, SubjectKey.subject == subject)
    ).first()


def _subject_key(db: Any, clinic_id: int, subject: str, create: bool) -> _Key:
    cache = _cache(db)
    slot = ("subject", clinic_id, subject)
    if slot in cache:
        return cache[slot]
    row = _subject_key_row(db, clinic_id, subject)
    if row is None:
        if not create:
            raise DecryptionError("no key exists for this data subject")
        data_key = _active_data_key(db, clinic_id)
        context = _subject_key_context(clinic_id, subject, data_key.ref)
        wrapped = keyring_of(db).new_wrapped_key(context, wrap=_wrapper(data_key.key))
        row = SubjectKey(clinic_id=clinic_id, subject=subject, data_key_version=data_key.ref, wrapped=wrapped)
        try:
            with db.begin_nested():
                db.add(row)
                db.flush()
        except sa_exc.IntegrityError:
            row = _subject_key_row(db, clinic_id, subject)
            assert row is not None
    key = _open_subject_row(db, row)
    cache[slot] = key
    cache[("subject_id", row.id)] = key
    return key


def _subject_key_by_id(db: Any, clinic_id: int, key_id: int) -> _Key:
    cache = _cache(db)
    slot = ("subject_id", key_id)
    if slot in cache:
        return cache[slot]
    row = db.exec(select(SubjectKey).where(SubjectKey.id == key_id, SubjectKey.clinic_id == clinic_id)).first()
    if row is None:
        raise DecryptionError("sealed value names a subject key that does not exist in this clinic")
    key = _open_subject_row(db, row)
    cache[slot] = key
    return key


def warm_subject_keys(db: Any, clinic_id: int, subjects: Any) -> None:
    """Open the keys of many data subjects with one query (a page listing 40 patients would
    otherwise read 40 key rows one by one). Destroyed keys are left out: opening their values
    still raises KeyDestroyed."""
    cache = _cache(db)
    wanted = sorted({s for s in subjects if ("subject", clinic_id, s) not in cache})
    if not wanted:
        return
    rows = db.exec(select(SubjectKey).where(SubjectKey.clinic_id == clinic_id,
                                            SubjectKey.subject.in_(wanted))).all()  # type: ignore[attr-defined]
    open_subject_keys(db, rows)


def open_data_keys(db: Any, rows: Iterable[tuple[int, int, bytes | None]]) -> None:
    """Open the clinic data keys (clinic id, version, wrapped bytes) a caller read in this
    transaction with its own rows (e.g. joined to the subject keys it reads), as `_data_key`
    would read them itself: no query of its own, the same unwrapping bound to clinic, purpose and
    version (a wrong master key raises here as it would there). Only for this transaction's reads
    (the session cache, emptied at commit and rollback)."""
    cache = _cache(db)
    for clinic_id, version, wrapped in rows:
        slot = _version_slot(clinic_id, PURPOSE_DATA, version)
        if wrapped is not None and slot not in cache:
            key = keyring_of(db).unwrap(wrapped, _data_key_context(clinic_id, PURPOSE_DATA, version))
            cache[slot] = _Key(KIND_CLINIC, version, key)


def open_subject_keys(db: Any, rows: Iterable[SubjectKey | None]) -> None:
    """Open the key rows a caller read itself (e.g. joined to its own rows) for this session's
    reads. Destroyed keys (and None) are left out."""
    cache = _cache(db)
    for row in rows:
        if row is None or row.wrapped is None or ("subject_id", row.id) in cache:
            continue
        try:
            key = _open_subject_row(db, row)
        except DecryptionError:
            continue  # a damaged key row: its values fail one by one when opened (fail closed per record)
        cache[("subject", row.clinic_id, row.subject)] = key
        cache[("subject_id", row.id)] = key


def _open_subject_row(db: Any, row: SubjectKey) -> _Key:
    if row.wrapped is None:
        raise KeyDestroyed("this data subject's key was destroyed (erasure); the data cannot be read")
    data_key = _data_key(db, row.clinic_id, row.data_key_version)
    key = keyring_of(db).unwrap(
        row.wrapped, _subject_key_context(row.clinic_id, row.subject, row.data_key_version),
        unwrap=_unwrapper(data_key.key),
    )
    assert row.id is not None
    patient_id = int(row.subject[len(PATIENT_SUBJECT):]) if row.subject.startswith(PATIENT_SUBJECT) else None
    return _Key(KIND_SUBJECT, row.id, key, patient_id)


def _wrapper(key: bytes) -> Any:
    def wrap(plain: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_LEN)
        return nonce + aead(key).encrypt(nonce, plain, context)

    return wrap


def _unwrapper(key: bytes) -> Any:
    def unwrap(wrapped: bytes, context: bytes) -> bytes:
        try:
            return aead(key).decrypt(wrapped[:NONCE_LEN], wrapped[NONCE_LEN:], context)
        except InvalidTag:
            raise DecryptionError("a subject key does not open with its clinic key (altered or moved)") from None

    return unwrap


def ensure_subject_key(db: Any, clinic_id: int, subject: str) -> None:
    """Create the subject's key now (e.g. when the patient is created)."""
    _subject_key(db, clinic_id, subject, create=True)


def destroy_subject_key(db: Any, clinic_id: int, subject: str) -> bool:
    """Crypto-shred: forget the subject's key; everything sealed with it becomes unreadable."""
    row = _subject_key_row(db, clinic_id, subject)
    if row is None:
        return False
    if row.wrapped is not None:
        keyring_of(db).forget(row.wrapped, _subject_key_context(row.clinic_id, row.subject, row.data_key_version))
    row.wrapped = None
    row.destroyed_at = utcnow()
    db.add(row)
    db.flush()
    cache = _cache(db)
    cache.pop(("subject", clinic_id, subject), None)
    cache.pop(("subject_id", row.id), None)
    return True


def subject_key_destroyed(db: Any, clinic_id: int, subject: str) -> bool:
    row = _subject_key_row(db, clinic_id, subject)
    return row is not None and row.wrapped is None


# --- sealing -------------------------------------------------------------------------------------


def _header(kind: int, ref: int) -> bytes:
    return bytes((FORMAT_V1, kind)) + ref.to_bytes(4, "big")


def _context_aad(context: str, clinic_id: int, header: bytes) -> bytes:
    return b"carnet.field.v1\x00" + f"{context}\x00{clinic_id}".encode() + b"\x00" + header


def _encrypt(key: _Key, context: str, clinic_id: int, plaintext: bytes) -> bytes:
    header = _header(key.kind, key.ref)
    nonce = os.urandom(NONCE_LEN)
    return header + nonce + aead(key.key).encrypt(nonce, plaintext, _context_aad(context, clinic_id, header))


def parse_header(sealed: bytes) -> tuple[int, int]:
    """(kind, key reference) of a sealed value; raises DecryptionError when malformed."""
    too_short = len(sealed) < HEADER_LEN + NONCE_LEN + TAG_LEN
    if too_short or sealed[0] != FORMAT_V1 or sealed[1] not in (KIND_CLINIC, KIND_SUBJECT):
        raise DecryptionError("not a sealed value of a known format")
    return sealed[1], int.from_bytes(sealed[2:HEADER_LEN], "big")


def _key_for_header(db: Any, clinic_id: int, sealed: bytes) -> _Key:
    kind, ref = parse_header(sealed)
    if kind == KIND_CLINIC:
        return _data_key(db, clinic_id, ref)
    return _subject_key_by_id(db, clinic_id, ref)


def _decrypt(key: _Key, context: str, clinic_id: int, sealed: bytes) -> bytes:
    header = sealed[:HEADER_LEN]
    nonce = sealed[HEADER_LEN:HEADER_LEN + NONCE_LEN]
    try:
        return aead(key.key).decrypt(nonce, sealed[HEADER_LEN + NONCE_LEN:], _context_aad(context, clinic_id, header))
    except InvalidTag:
        raise DecryptionError(
            "sealed value failed its integrity check (altered, or copied from another row or clinic)"
        ) from None


def seal_bytes(db: Any, clinic_id: int, context: str, plaintext: bytes, subject: str | None = None) -> bytes:
    """Seal bytes bound to `context` (e.g. "scheduling_file:12:body") and the clinic."""
    key = _subject_key(db, clinic_id, subject, create=True) if subject else _active_data_key(db, clinic_id)
    return _encrypt(key, context, clinic_id, plaintext)


def open_bytes(db: Any, clinic_id: int, context: str, sealed: bytes) -> bytes:
    """Open a sealed value. Every open is noted for the audit trail (`carnet_core.audit.trace`):
    core records it, attributed to the session's principal, when the transaction commits."""
    key = _key_for_header(db, clinic_id, sealed)
    plain = _decrypt(key, context, clinic_id, sealed)
    note_open(db, clinic_id, key.patient_id, context)
    return plain


def row_context(table: str, column: str, row_id: Any) -> str:
    return f"{table}\x00{column}\x00{row_id}"


def _row_identity(db: Any, obj: Any, column: str) -> tuple[str, int, Any]:
    table = type(obj).__table__
    if column not in table.c or not isinstance(table.c[column].type, _sealed_type()):
        raise EncryptionError(f"{table.name}.{column} is not a Sealed column")
    if getattr(obj, "id", None) is None:
        # The row id is part of the associated data: a new row needs its id first.
        if obj not in db:
            db.add(obj)
        db.flush()
    clinic_id = getattr(obj, "clinic_id", None) or db.info.get("clinic_id")
    if clinic_id is None:
        raise EncryptionError(f"{table.name} row has no clinic_id; sealed columns live on ClinicOwned tables")
    return table.name, int(clinic_id), obj.id


def _sealed_type() -> type:
    from carnet_core.encryption.types import Sealed

    return Sealed


def subject_of(obj: Any) -> str | None:
    """The data subject whose key seals this row's fields, from the model's `__sealed_subject__`."""
    attr = getattr(type(obj), "__sealed_subject__", None)
    if attr is None:
        return None
    value = getattr(obj, attr)
    if value is None:
        raise EncryptionError(f"{type(obj).__name__}.{attr} is empty: cannot choose the patient's key")
    return patient_subject(value)


def seal(db: Any, obj: Any, column: str, value: str | None) -> None:
    """Set `obj.<column>` to `value` sealed for this table, column, row and clinic (None clears)."""
    if value is None:
        setattr(obj, column, None)
        return
    if not isinstance(value, str):
        raise TypeError("seal() takes text; serialise other values first (ISO dates, JSON)")
    table, clinic_id, row_id = _row_identity(db, obj, column)
    sealed = seal_bytes(db, clinic_id, row_context(table, column, row_id), value.encode("utf-8"), subject_of(obj))
    setattr(obj, column, sealed)


def open_(db: Any, obj: Any, column: str) -> str | None:
    """The plaintext of `obj.<column>`; raises DecryptionError / KeyDestroyed when it cannot open."""
    sealed = getattr(obj, column)
    if sealed is None:
        return None
    table, clinic_id, row_id = _row_identity(db, obj, column)
    return open_bytes(db, clinic_id, row_context(table, column, row_id), bytes(sealed)).decode("utf-8")


def open_many(db: Any, obj: Any, columns: Iterable[str]) -> dict[str, str | None]:
    return {column: open_(db, obj, column) for column in columns}


# --- blind indexes -------------------------------------------------------------------------------


def blind_index(db: Any, clinic_id: int, field: str, value: str | None, kind: str = "exact") -> bytes | None:
    """Keyed HMAC-SHA256 (the clinic's index key) of the normalised value, truncated to 16 bytes.

    `field` separates domains ("core_patient.email"); `kind` picks the normalisation: "name"
    (case, spaces and accents folded), "email", "phone" (digits of the E.164 form) or "exact".
    """
    if value is None:
        return None
    normalised = FOLDERS[kind](value)
    if not normalised:
        return None
    return blind_indexes(db, clinic_id, field, [normalised])[0]


def blind_indexes(db: Any, clinic_id: int, field: str, values: Iterable[str]) -> list[bytes]:
    """`blind_index(..., kind="exact")` of each of `values` (already normalised, e.g. the name
    prefixes of `normalise.name_prefixes`), the clinic's index key read once. The one place a
    blind index is computed: `blind_index` comes here too."""
    key = _active_data_key(db, clinic_id, PURPOSE_INDEX)
    # Keyed once with the domain's head, then copied per value: a name's ~16 prefixes cost one
    # key schedule, not one each (the same HMAC of head + value).
    keyed = hmac.new(key.key, f"carnet.bidx.v1\x00{field}\x00".encode(), sha256)
    found = []
    for v in values:
        if v:
            mac = keyed.copy()
            mac.update(v.encode("utf-8"))
            found.append(mac.digest()[:BLIND_INDEX_LEN])
    return found


# --- rotation ------------------------------------------------------------------------------------


def active_version(db: Any, clinic_id: int) -> int:
    return _active_data_key(db, clinic_id).ref


def rotate(db: Any, clinic_id: int) -> DataKey:
    """Add a new data key version for the clinic; new writes use it, old versions still open."""
    current = db.exec(
        _select_data_keys(db, clinic_id, PURPOSE_DATA).where(DataKey.state == STATE_ACTIVE)
    ).all()
    for row in current:
        row.state = STATE_ROTATED
        db.add(row)
    db.flush()
    row = _create_data_key(db, clinic_id, PURPOSE_DATA)
    db.info.pop(_SESSION_CACHE, None)
    return row


def clear_session_cache(db: Any) -> None:
    db.info.pop(_SESSION_CACHE, None)


# Used by the rewrap module: re-seal one value / re-wrap one subject key under the active version.


def reseal_clinic_value(db: Any, clinic_id: int, context: str, sealed: bytes, active: int) -> bytes | None:
    """The value re-sealed with the active version, or None if it needs no change."""
    kind, ref = parse_header(sealed)
    if kind != KIND_CLINIC or ref == active:
        return None
    plaintext = _decrypt(_data_key(db, clinic_id, ref), context, clinic_id, sealed)
    return _encrypt(_data_key(db, clinic_id, active), context, clinic_id, plaintext)


def rewrapped_subject_key(db: Any, row: SubjectKey, active: int) -> bytes | None:
    """The subject key wrapped with the active clinic version (None when destroyed)."""
    if row.wrapped is None:
        return None
    old = _data_key(db, row.clinic_id, row.data_key_version)
    key = _unwrapper(old.key)(row.wrapped, _subject_key_context(row.clinic_id, row.subject, row.data_key_version))
    new = _data_key(db, row.clinic_id, active)
    return _wrapper(new.key)(key, _subject_key_context(row.clinic_id, row.subject, active))


def _forget_after_commit(session: CarnetSession) -> None:
    # Key rows are re-read by the next transaction: an erasure or a rotation elsewhere holds here.
    # A savepoint released (announced as a commit too) leaves the transaction, and its keys, as
    # they were: a patient created in a savepoint does not read its keys twice.
    if session.in_nested_transaction():
        return
    session.info.pop(_SESSION_CACHE, None)


def _forget_after_rollback(session: CarnetSession, previous_transaction: Any) -> None:
    session.info.pop(_SESSION_CACHE, None)


# Registered by plain calls, not decorators: mutmut (`make mutation`) skips decorated functions.
event.listen(CarnetSession, "after_commit", _forget_after_commit)
event.listen(CarnetSession, "after_soft_rollback", _forget_after_rollback)
