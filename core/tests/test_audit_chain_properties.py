"""Properties of the canonical audit encoding (hypothesis) and pinned vectors of the format.

The chain's evidence is only as good as its encoding: two different records must never encode to
the same bytes (injective), the same record must always encode to the same bytes whatever the
dict order or time zone it comes with (stable), the encoding must read back to the values it
holds (round trip), and the bytes of a given record must never change between releases (every
stored hash would stop verifying): the pinned vectors below fail on any change of the format.
"""

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from carnet_core.audit import chain
from carnet_core.audit.chain import GENESIS, HASHED_FIELDS, canonical, canonical_json, chain_hash, iso_utc
from carnet_core.audit.checkpoints import checkpoint_message

# Records are big examples and the machine is shared: fewer, slower examples, no deadline.
settings.register_profile("carnet-audit", max_examples=80, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile("carnet-audit")

# Any text a column may hold: unicode, quotes, backslashes, controls (the encoding must not care).
text = st.text(max_size=12)
optional_text = st.none() | text
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
optional_ints = st.none() | ints
instants = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
json_scalars = st.none() | st.booleans() | ints | st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=6,
)
details = st.dictionaries(text, json_values, max_size=3)

FIELD_VALUES = {
    "clinic_id": ints, "seq": ints, "occurred_at": instants, "actor_kind": text,
    "actor_id": optional_text, "actor_user_id": optional_ints, "patient_id": optional_ints,
    "resource_type": text, "resource_id": optional_text, "action": text, "outcome": text,
    "address": optional_text, "request_id": optional_text, "details": details,
}
records = st.fixed_dictionaries(FIELD_VALUES)


def test_every_hashed_field_has_a_strategy():
    assert set(FIELD_VALUES) == set(HASHED_FIELDS)


def _normal(fields):
    """What a record means: the values the encoding must distinguish."""
    out = dict(fields)
    out["occurred_at"] = fields["occurred_at"].astimezone(UTC)
    if not isinstance(fields["details"], str):
        out["details"] = canonical_json(fields["details"])
    return {name: out[name] for name in HASHED_FIELDS}


@PROFILE
@given(records, records)
def test_canonical_is_injective(a, b):
    assert (canonical(a) == canonical(b)) == (_normal(a) == _normal(b))


@PROFILE
@given(records, st.sampled_from(HASHED_FIELDS), st.data())
def test_changing_any_one_field_changes_the_bytes_and_the_hash(record, name, data):
    other = dict(record)
    other[name] = data.draw(FIELD_VALUES[name], label=name)
    assume(_normal(other)[name] != _normal(record)[name])
    assert canonical(other) != canonical(record)
    assert chain_hash(GENESIS, canonical(other)) != chain_hash(GENESIS, canonical(record))


@PROFILE
@given(records, st.randoms(use_true_random=False), st.integers(min_value=-23, max_value=23))
def test_canonical_is_stable(record, rnd, hours):
    # the same record, its keys in another order, its time in another zone, extra columns around
    again = dict(rnd.sample(sorted(record.items()), len(record)))
    again["occurred_at"] = record["occurred_at"].astimezone(timezone(timedelta(hours=hours)))
    again.update(id=rnd.randint(1, 10**6), prev_hash="f" * 64, hash="e" * 64)
    assert canonical(again) == canonical(record)
    # details given as the canonical text it is stored as encodes like the dict it came from
    stored = dict(record, details=canonical_json(record["details"]))
    assert canonical(stored) == canonical(record)


@PROFILE
@given(records)
def test_canonical_reads_back_to_its_values(record):
    doc = json.loads(canonical(record).decode("utf-8"))
    assert doc.pop("v") == 1
    assert set(doc) == set(HASHED_FIELDS)
    assert datetime.strptime(doc["occurred_at"], "%Y-%m-%dT%H:%M:%S.%f%z") == record["occurred_at"]
    assert json.loads(doc["details"]) == record["details"]
    for name in HASHED_FIELDS:
        if name not in ("occurred_at", "details"):
            assert doc[name] == record[name]


def _reference(fields):
    """The format's definition, the plain way: canonical JSON of the hashed fields and "v"."""
    doc = {"v": 1, **{name: fields[name] for name in HASHED_FIELDS}}
    doc["occurred_at"] = fields["occurred_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if not isinstance(fields["details"], str):
        doc["details"] = canonical_json(fields["details"])
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


old_instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(1999, 12, 30), timezones=st.just(UTC))


@PROFILE
@given(records, st.none() | old_instants, st.booleans())
def test_canonical_is_the_reference_encoding_byte_for_byte(record, when, stored):
    # canonical() writes the fields one by one (speed); it must say exactly what the definition says
    if when is not None:
        record = dict(record, occurred_at=when)
    if stored:
        record = dict(record, details=canonical_json(record["details"]))
    assert canonical(record) == _reference(record)


@PROFILE
@given(records, st.booleans())
def test_the_plain_definition_used_should_the_fields_change_is_the_same_encoding(record, stored):
    """canonical() falls back to the plain definition whenever HASHED_FIELDS no longer match its
    field-by-field template: that fallback must write the same bytes (the format does not depend on
    which path wrote it)."""
    if stored:
        record = dict(record, details=canonical_json(record["details"]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chain, "_FAST", False)
        assert canonical(record) == _reference(record)
        assert canonical(RECORD) == PINNED_RECORD


# Columns as a database returns them: details as its stored text, and values of other kinds than a
# column holds (what a changed row may hold), which are encoded value by value.
stored_records = st.fixed_dictionaries({
    **FIELD_VALUES, "details": details.map(canonical_json),
    "actor_user_id": optional_ints | st.sampled_from([True, 1.5, "7"]),
    "resource_id": optional_text | st.sampled_from([7, 2.0]),
})


@PROFILE
@given(st.lists(stored_records, min_size=1, max_size=6))
def test_canonical_columns_encodes_each_record_as_canonical_does(records):
    # verification encodes the records of a batch column by column: the bytes must be canonical()'s
    columns = [[r[name] for r in records] for name in sorted(HASHED_FIELDS)]
    columns[sorted(HASHED_FIELDS).index("occurred_at")] = [iso_utc(r["occurred_at"]) for r in records]
    assert chain.canonical_columns(*columns) == [canonical(r) for r in records]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chain, "_FAST", False)
        assert chain.canonical_columns(*columns) == [canonical(r) for r in records]


@PROFILE
@given(st.lists(records.map(lambda r: {**r, "details": canonical_json(r["details"])}), min_size=1, max_size=6))
def test_a_batch_appended_is_hashed_over_each_records_canonical_bytes(records):
    # append encodes a batch column by column (a week view's trace: 40 records); its bytes, and so
    # the chain's hashes, must be canonical()'s of each record, as verification recomputes them
    from carnet_core.audit.services import _canonical_batch

    assert _canonical_batch(records) == [canonical(r) for r in records]


@PROFILE
@given(json_values)
def test_canonical_json_round_trips_sorted_and_compact(value):
    encoded = canonical_json(value)
    assert json.loads(encoded) == value
    assert canonical_json(json.loads(encoded)) == encoded  # a fixed point: re-encoding changes nothing
    assert encoded == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@PROFILE
@given(st.sampled_from([math.nan, math.inf, -math.inf]))
def test_canonical_json_refuses_what_json_cannot_say(value):
    with pytest.raises(ValueError):
        canonical_json({"x": value})


@PROFILE
@given(st.binary(min_size=1, max_size=64), st.binary(min_size=1, max_size=64),
       st.sampled_from([GENESIS, "ab" * 32]), st.sampled_from(["cd" * 32, "01" * 32]))
def test_chain_hash_depends_on_the_previous_hash_and_the_content(c1, c2, p1, p2):
    assert chain_hash(p1, c1) == chain_hash(p1, c1)
    assert (chain_hash(p1, c1) == chain_hash(p1, c2)) == (c1 == c2)
    assert chain_hash(p1, c1) != chain_hash(p2, c1)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="UTC-aware"):
        iso_utc(datetime(2026, 1, 1, 12, 0))


def test_times_keep_microseconds_and_are_written_in_utc():
    paris = timezone(timedelta(hours=2))
    assert iso_utc(datetime(2026, 6, 1, 9, 30, 5, 7, tzinfo=paris)) == "2026-06-01T07:30:05.000007Z"


# Pinned vectors: a change here makes every stored hash and signature unverifiable. ---------------

RECORD = {
    "clinic_id": 7, "seq": 42, "occurred_at": datetime(2026, 3, 1, 9, 30, 5, 123456, tzinfo=UTC),
    "actor_kind": "user", "actor_id": "12", "actor_user_id": 12, "patient_id": 3401,
    "resource_type": "patient", "resource_id": "3401", "action": "read", "outcome": "success",
    "address": "192.0.2.10", "request_id": "r-1", "details": {"n": 1, "é": "ü"},
}


PINNED_RECORD = (
    '{"action":"read","actor_id":"12","actor_kind":"user","actor_user_id":12,"address":"192.0.2.10",'
    '"clinic_id":7,"details":"{\\"n\\":1,\\"é\\":\\"ü\\"}","occurred_at":"2026-03-01T09:30:05.123456Z",'
    '"outcome":"success","patient_id":3401,"request_id":"r-1","resource_id":"3401",'
    '"resource_type":"patient","seq":42,"v":1}'
).encode()


def test_the_record_encoding_is_pinned():
    assert canonical(RECORD) == PINNED_RECORD


def test_the_chain_hash_is_pinned_with_rfc6962_domain_separation():
    content = canonical(RECORD)
    leaf = hashlib.sha256(b"\x00" + content).digest()
    assert chain_hash(GENESIS, content) == hashlib.sha256(b"\x01" + bytes(32) + leaf).hexdigest()
    assert chain_hash(GENESIS, content) == "0e619f7c9ff7c728cb4caa653a8ea35ee21f133b0da259ae9ffa52a1549813be"


def test_the_checkpoint_message_is_pinned():
    message = checkpoint_message(7, "checkpoint", 42, "ab" * 32, datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    assert message == (
        b'{"clinic_id":7,"created_at":"2026-03-01T10:00:00.000000Z","hash":"' + b"ab" * 32
        + b'","kind":"checkpoint","seq":42,"type":"carnet.audit.checkpoint","v":1}'
    )


CHECKPOINT_FIELDS = {
    "clinic_id": ints, "kind": st.sampled_from(["checkpoint", "anchor"]) | text, "seq": ints,
    "hash_": st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), "created_at": instants,
}


@PROFILE
@given(st.fixed_dictionaries(CHECKPOINT_FIELDS), st.sampled_from(sorted(CHECKPOINT_FIELDS)), st.data())
def test_the_checkpoint_message_covers_every_signed_field(fields, name, data):
    other = dict(fields)
    other[name] = data.draw(CHECKPOINT_FIELDS[name], label=name)
    assume(other[name] != fields[name])
    assert checkpoint_message(**other) != checkpoint_message(**fields)

