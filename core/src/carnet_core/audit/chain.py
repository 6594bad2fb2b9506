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
from datetime import UTC, datetime
from typing import Any

FORMAT_VERSION = 1
GENESIS = "0" * 64
HASHED_FIELDS = (
    "clinic_id", "seq", "occurred_at", "actor_kind", "actor_id", "actor_user_id", "patient_id",
    "resource_type", "resource_id", "action", "outcome", "address", "request_id", "details",
)


def iso_utc(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times must be UTC-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes that are hashed for a record given as a mapping of its columns."""
    doc: dict[str, Any] = {"v": FORMAT_VERSION}
    for name in HASHED_FIELDS:
        value = fields[name]
        if name == "occurred_at":
            value = iso_utc(value)
        elif name == "details" and not isinstance(value, str):
            value = canonical_json(value)
        doc[name] = value
    return canonical_json(doc).encode("utf-8")


def chain_hash(prev_hash: str, content: bytes) -> str:
    leaf = hashlib.sha256(b"\x00" + content).digest()
    return hashlib.sha256(b"\x01" + bytes.fromhex(prev_hash) + leaf).hexdigest()
