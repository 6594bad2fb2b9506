"""Canonical encoding and hash chain of audit records (RFC 6962-style domain separation).

    leaf  = SHA-256(0x00 || canonical(record))
    hash  = SHA-256(0x01 || prev_hash || leaf)

`canonical` is deterministic JSON (sorted keys, no spaces, UTF-8) of every field except the
database id and the hashes, times as UTC ISO 8601 with microseconds; `details` enters as the
canonical JSON text it is stored as. The first record of a
clinic chains from GENESIS (32 zero bytes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) uses for a str
from typing import Any

FORMAT_VERSION = 1
GENESIS = "0" * 64
HASHED_FIELDS = (
    "clinic_id", "seq", "occurred_at", "actor_kind", "actor_id", "actor_user_id", "patient_id",
    "resource_type", "resource_id", "action", "outcome", "address", "request_id", "details",
)


def iso_utc(value: datetime) -> str:
    global _last_iso
    last = _last_iso  # one tuple, read and replaced whole: threads never see half of a pair
    if value is last[0]:  # the records of one batch share their time (core's trace): written once
        return last[1]
    if value.tzinfo is None:
        raise ValueError("audit times must be UTC-aware")
    text = _iso_utc(value.astimezone(UTC))
    _last_iso = (value, text)  # holds `value`: its identity cannot pass to another object
    return text


def _iso_utc(value: datetime) -> str:
    if value.year >= 1000:  # the same text as strftime below, without its cost
        return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_last_iso: tuple[Any, str] = (None, "")


# json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False),
# with the encoder built once instead of at every call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> str:
    return _ENCODER.encode(value)


def _json(value: Any) -> str:
    """`canonical_json(value)` for one column value; str, int and None (all but a few) directly."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    return canonical_json(value)


# The canonical document's keys in sorted order, as json.dumps(sort_keys=True) writes them.
_KEYS = sorted((*HASHED_FIELDS, "v"))
_TEMPLATE = "{" + ",".join(f'"{key}":%s' for key in _KEYS) + "}"
# canonical() below fills the template in this order; should HASHED_FIELDS ever differ from it,
# the plain definition (_defined) is used instead, so the fast path can never hash other fields.
_FAST = _KEYS == ["action", "actor_id", "actor_kind", "actor_user_id", "address", "clinic_id", "details",
                  "occurred_at", "outcome", "patient_id", "request_id", "resource_id", "resource_type", "seq", "v"]
_VERSION = str(FORMAT_VERSION)


def canonical(fields: Any) -> bytes:
    """The bytes that are hashed for a record given as a mapping of its columns.

    Byte for byte `canonical_json({"v": FORMAT_VERSION, **{name: fields[name] ...}})` with the time
    as `iso_utc` and `details` as its canonical text (the pinned vectors and properties of
    core/tests/test_audit_chain_properties.py hold it), written field by field: a week view appends
    40 records in a request and verification reads hundreds of thousands."""
    return canonical_values(
        fields["action"], fields["actor_id"], fields["actor_kind"], fields["actor_user_id"], fields["address"],
        fields["clinic_id"], fields["details"], fields["occurred_at"], fields["outcome"], fields["patient_id"],
        fields["request_id"], fields["resource_id"], fields["resource_type"], fields["seq"],
    )


def canonical_values(
    action: Any, actor_id: Any, actor_kind: Any, actor_user_id: Any, address: Any, clinic_id: Any, details: Any,
    occurred_at: datetime, outcome: Any, patient_id: Any, request_id: Any, resource_id: Any, resource_type: Any,
    seq: Any,
) -> bytes:
    """`canonical` of the hashed fields given in their sorted order (verification's row tuples)."""
    return canonical_at(action, actor_id, actor_kind, actor_user_id, address, clinic_id, details, iso_utc(occurred_at),
                        outcome, patient_id, request_id, resource_id, resource_type, seq)


def canonical_at(
    action: Any, actor_id: Any, actor_kind: Any, actor_user_id: Any, address: Any, clinic_id: Any, details: Any,
    occurred_at: str, outcome: Any, patient_id: Any, request_id: Any, resource_id: Any, resource_type: Any,
    seq: Any,
) -> bytes:
    """`canonical_values` with the time already written as `iso_utc` text (verification reads
    SQLite's stored text and rewrites it without building a datetime: see integrity)."""
    if not _FAST:
        return _defined(dict(
            action=action, actor_id=actor_id, actor_kind=actor_kind, actor_user_id=actor_user_id, address=address,
            clinic_id=clinic_id, details=details, occurred_at=occurred_at, outcome=outcome, patient_id=patient_id,
            request_id=request_id, resource_id=resource_id, resource_type=resource_type, seq=seq,
        ))
    return (_TEMPLATE % (
        _json(action), _json(actor_id), _json(actor_kind), _json(actor_user_id), _json(address), _json(clinic_id),
        encode_basestring(details if type(details) is str else canonical_json(details)),
        '"' + occurred_at + '"', _json(outcome), _json(patient_id), _json(request_id),
        _json(resource_id), _json(resource_type), _json(seq), _VERSION,
    )).encode("utf-8")


_NONE = type(None)
_STR, _INT, _STR_OR_NONE, _INT_OR_NONE = {str}, {int}, {str, _NONE}, {int, _NONE}


def _column(values: Sequence[Any]) -> Iterable[str]:
    """`_json` of each value of one column: a column of one common kind (text, integers, either
    with nulls) is encoded without a Python call per value; any other goes value by value."""
    kinds = set(map(type, values))
    if kinds == _STR:
        return map(encode_basestring, values)
    if kinds == _INT:
        return map(int.__repr__, values)
    if kinds <= _STR_OR_NONE:
        return ["null" if value is None else encode_basestring(value) for value in values]
    if kinds <= _INT_OR_NONE:
        return ["null" if value is None else int.__repr__(value) for value in values]
    return map(_json, values)


def canonical_columns(
    action: Sequence[Any], actor_id: Sequence[Any], actor_kind: Sequence[Any], actor_user_id: Sequence[Any],
    address: Sequence[Any], clinic_id: Sequence[Any], details: Sequence[Any], occurred_at: Sequence[str],
    outcome: Sequence[Any], patient_id: Sequence[Any], request_id: Sequence[Any], resource_id: Sequence[Any],
    resource_type: Sequence[Any], seq: Sequence[Any],
) -> list[bytes]:
    """`canonical_at` of many records given column by column (sequences of one length, the time
    as `iso_utc` text): verification reads its rows by thousands and encodes a column at once,
    then each record in one f-string (canonical_at's template, written out)."""
    if not _FAST:
        return list(map(canonical_at, action, actor_id, actor_kind, actor_user_id, address, clinic_id, details,
                        occurred_at, outcome, patient_id, request_id, resource_id, resource_type, seq))
    if set(map(type, details)) == _STR:
        texts: Iterable[str] = map(encode_basestring, details)
    else:
        texts = [encode_basestring(text if type(text) is str else canonical_json(text)) for text in details]
    version = _VERSION
    return [
        f'{{"action":{a},"actor_id":{ai},"actor_kind":{ak},"actor_user_id":{au},"address":{ad},'
        f'"clinic_id":{c},"details":{d},"occurred_at":"{t}","outcome":{o},"patient_id":{p},'
        f'"request_id":{rq},"resource_id":{ri},"resource_type":{rt},"seq":{s},"v":{version}}}'.encode()
        for a, ai, ak, au, ad, c, d, t, o, p, rq, ri, rt, s in zip(
            _column(action), _column(actor_id), _column(actor_kind), _column(actor_user_id), _column(address),
            _column(clinic_id), texts, occurred_at, _column(outcome), _column(patient_id), _column(request_id),
            _column(resource_id), _column(resource_type), _column(seq), strict=True,
        )
    ]


def _defined(fields: Any) -> bytes:
    """The format's definition, plainly: canonical JSON of "v" and the HASHED_FIELDS (the time as
    its `iso_utc` text, as canonical_at has it)."""
    doc: dict[str, Any] = {"v": FORMAT_VERSION}
    for name in HASHED_FIELDS:
        value = fields[name]
        if name == "details" and not isinstance(value, str):
            value = canonical_json(value)
        doc[name] = value
    return canonical_json(doc).encode("utf-8")


def chain_hash(prev_hash: str, content: bytes) -> str:
    leaf = hashlib.sha256(b"\x00" + content).digest()
    return hashlib.sha256(b"\x01" + bytes.fromhex(prev_hash) + leaf).hexdigest()
