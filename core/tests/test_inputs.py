"""Core's input bounds (carnet_core.inputs, carnet_core.web.limits): property tests of the free-text
validator, the id bound and the JSON nesting check, then the named inputs of the fuzzing run
answered 4xx by core's own routes (patients API and pages, static files), nothing written."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from carnet_core.inputs import (
    EARLIEST,
    LATEST,
    MAX_COMBINING_RUN,
    MAX_ID,
    MAX_JSON_DEPTH,
    DateOutOfRange,
    Id,
    Offset,
    check_moment,
    json_depth_exceeds,
    text_problem,
)

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
CONTROLS = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r") + "\x7f"


# --- the free-text validator: properties ----------------------------------------------------------

ordinary = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me", "Zl", "Zp")),
    min_size=1,
).filter(lambda s: any(unicodedata.category(c)[0] in "LNPS" for c in s))


@given(ordinary, st.sampled_from(["", "\t", "\n", "\r\n", " "]), ordinary)
@example("Lefèvre", "\r\n", "Élodie")
@example("Nguyễn", " ", "Thị")
@example("שָׁלוֹם", "\n", "مرحبا")
def test_ordinary_text_with_tabs_and_line_breaks_is_accepted(before, gap, after):
    assert text_problem(before + gap + after) is None


@given(st.text(), st.sampled_from(CONTROLS), st.text())
def test_any_control_character_but_tab_and_newline_is_refused(before, control, after):
    assert text_problem(before + control + after) is not None


@given(st.text(), st.sampled_from(BIDI), st.text())
def test_any_bidi_override_or_isolate_is_refused(before, bidi, after):
    problem = text_problem(before + bidi + after)
    assert problem is not None and problem.code in ("bidi_control", "forbidden_character")


@given(st.text(st.characters(categories=("Zs", "Cf", "Mn")).filter(lambda c: c not in BIDI), max_size=20))
def test_required_text_needs_a_visible_character(blank):
    assert text_problem(blank) is not None
    assert text_problem(blank, required=False) is None or any(unicodedata.category(c) in ("Mn",) for c in blank)


@given(st.integers(min_value=0, max_value=40))
def test_combining_marks_are_capped(marks):
    problem = text_problem("e" + "\u0301" * marks + "x")
    assert (problem is None) == (marks <= MAX_COMBINING_RUN)


@given(st.text())
def test_the_validator_is_total_and_its_verdict_never_depends_on_more_than_the_text(value):
    first = text_problem(value)
    assert first == text_problem(value)  # no state, no exception on any string
    if first is None:
        value.encode("utf-8")  # what it accepts can be stored as UTF-8 (no lone surrogate)
        assert "\x00" not in value


# --- id and offset bounds: properties --------------------------------------------------------------

class IdModel(BaseModel):
    id: Id
    offset: Offset = 0


class IdStruct(msgspec.Struct):
    id: Id
    offset: Offset = 0


@given(st.integers(), st.integers())
@example(MAX_ID, 0)
@example(MAX_ID + 1, 0)
@example(2**63, 2**63)
def test_pydantic_and_msgspec_apply_the_same_id_and_offset_bound(id_, offset):
    accepted = 1 <= id_ <= MAX_ID and 0 <= offset <= MAX_ID
    try:
        IdModel(id=id_, offset=offset)
        pydantic_ok = True
    except ValidationError:
        pydantic_ok = False
    try:
        msgspec.convert({"id": id_, "offset": offset}, IdStruct)
        msgspec_ok = True
    except msgspec.ValidationError:
        msgspec_ok = False
    assert pydantic_ok == msgspec_ok == accepted


@given(st.datetimes(timezones=st.just(UTC)), st.integers(min_value=0, max_value=3 * 366 * 24 * 60))
def test_an_accepted_instant_survives_the_arithmetic_the_platform_does(moment, minutes):
    try:
        check_moment(moment)
    except DateOutOfRange:
        assert not EARLIEST <= moment < LATEST
        return
    moment + timedelta(minutes=minutes)  # never OverflowError for an accepted value
    moment - timedelta(minutes=minutes)


def test_naive_and_aware_instants_at_the_ends_of_the_calendar_are_out_of_range():
    for value in (datetime(9999, 12, 31, 23, 50), datetime(9999, 12, 31, 23, 50, tzinfo=UTC), datetime(1, 1, 1)):
        with pytest.raises(DateOutOfRange):
            check_moment(value)


# --- JSON nesting: property against the real decoder ----------------------------------------------

def _depth(value):
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=3), inner,
                                                                   max_size=3),
    max_leaves=60,
)


@settings(max_examples=300)
@given(json_values, st.integers(min_value=1, max_value=12))
def test_the_nesting_check_agrees_with_the_real_depth(value, limit):
    body = json.dumps(value).encode()
    assert json_depth_exceeds(body, limit) == (_depth(value) > limit)


def test_the_nesting_check_refuses_thousands_of_levels_quickly():
    assert json_depth_exceeds(b"[" * 2000 + b"]" * 2000)
    assert not json_depth_exceeds(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert not json_depth_exceeds(json.dumps({"name": "[" * 5000}).encode())


# --- the named inputs through core's routes --------------------------------------------------------

@pytest.fixture
def token(carnet_db, clinic, staff):
    from carnet_core.identity.models import User
    from carnet_core.identity.services import create_token

    member = staff("owner,practitioner")
    with carnet_db.session(clinic_id=clinic.id) as db:
        raw, _ = create_token(db, clinic.id, db.get(User, member.id), name="fuzz")
    return {"Authorization": f"Bearer {raw}"}


def _patients(carnet_db) -> int:
    with carnet_db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM core_patient")).scalar()


def test_the_patient_api_refuses_the_fuzzers_inputs_and_writes_nothing(client, token, carnet_db):
    before = _patients(carnet_db)
    huge = 2**63
    assert client.get(f"/api/v1/patients/{huge}", headers=token).status_code == 404
    assert client.patch(f"/api/v1/patients/{MAX_ID + 1}", json={"first_name": "A"}, headers=token).status_code == 404
    assert client.get("/api/v1/patients", params={"offset": huge}, headers=token).status_code == 400
    assert client.post("/api/v1/patients/search", json={"q": "x", "offset": huge}, headers=token).status_code == 400
    created = client.post("/api/v1/patients", json={"last_name": "A", "first_name": "B", "practitioner_id": huge},
                          headers=token)
    assert created.status_code == 400
    for body in ("[" * 2000 + "]" * 2000, '{"last_name": ' + "[" * 2000 + "]" * 2000 + "}"):
        r = client.post("/api/v1/patients", content=body, headers={**token, "content-type": "application/json"})
        assert r.status_code == 400 and "nests" in r.json()["detail"]
    for bad, code in (("Lef\x00vre", "forbidden_character"), ("Lef\u202eerv", "bidi_control"),
                      ("\u200b", "required"), ("Le" + "\u0301" * 12, "too_many_combining_marks")):
        r = client.post("/api/v1/patients", json={"last_name": bad, "first_name": "B"}, headers=token)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["code"] in (code, "no_visible_character"), r.text
        if code != "required":  # the same validator guards free text such as the clinical notes
            r = client.post("/api/v1/patients", json={"last_name": "A", "first_name": "B", "notes": bad + "x"},
                            headers=token)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "notes", r.text
    assert _patients(carnet_db) == before


def test_a_patient_form_with_a_nul_is_shown_again_and_writes_nothing(client, carnet_db, staff, login_as):
    login_as(client, staff("owner,practitioner"))
    before = _patients(carnet_db)
    r = client.post("/patients/new", data={"last_name": "Ber\x00nard", "first_name": "Lucas"})
    assert r.status_code in (400, 422) and 'name="last_name"' in r.text
    assert _patients(carnet_db) == before


def test_a_nul_in_a_static_path_is_not_found(client):
    for path in ("/static/core/%00", "/static/core/app.css%00", "/static/vendor/%00.js"):
        assert client.get(path).status_code == 404, path


def test_core_names_go_through_the_same_validator(carnet_db, clinic, staff):
    from carnet_core.clinics.services import ClinicError, create_clinic
    from carnet_core.identity.models import User
    from carnet_core.identity.services import IdentityError, create_or_get_user, create_token

    member = staff("owner")
    with carnet_db.session(unscoped=True) as db:
        with pytest.raises(ClinicError, match="name"):
            create_clinic(db, "cabinet-bidi", "Cabinet \u202egnol")
        with pytest.raises(IdentityError, match="name"):
            create_or_get_user(db, "nul@cabinet.test", "Ann\x00e")
        with pytest.raises(IdentityError, match="name"):
            create_token(db, clinic.id, db.get(User, member.id), name="ci\x1b[31m")
        assert create_or_get_user(db, "ok@cabinet.test", "Anne-Sophie Lefèvre").display_name == "Anne-Sophie Lefèvre"
