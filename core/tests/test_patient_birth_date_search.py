"""Search of patients by birth date (issue 13: "search by … birth date, results showing birth
date to avoid homonym mistakes"): typed the French way or ISO, on a keyed blind index of the sealed
date, through the page's POST search (never in an address), back-filled by `carnet init`."""

from __future__ import annotations

import hmac
import re
from hashlib import sha256

import pytest
import sqlalchemy as sa
from sqlmodel import select

from carnet_core.patients import prefixes
from carnet_core.patients.models import Patient
from carnet_core.web.principal import Principal

PEOPLE = [
    {"last_name": "Martin", "first_name": "Tom", "birth_date": "2014-04-23"},
    {"last_name": "Martin", "first_name": "Tom", "birth_date": "1979-11-02"},  # a homonym
    {"last_name": "Roux", "first_name": "Léa", "birth_date": "2014-04-23"},  # the same day
    {"last_name": "Blanc", "first_name": "Eva"},
]


def _owner(clinic_id: int) -> Principal:
    return Principal(kind="user", user_id=None, clinic_id=clinic_id, roles=frozenset({"owner"}),
                     permissions=frozenset({"core.patients.view", "core.patients.view_all"}))


def _register(carnet_db, clinic_id: int, people=PEOPLE) -> list[int]:
    from carnet_core.patients.patient_access import patient_access

    with carnet_db.session(clinic_id=clinic_id) as db:
        db.info["principal"] = "system:tests"
        return [patient_access(db, _owner(clinic_id)).register(dict(p)) for p in people]


def _search(carnet_db, clinic_id: int, q: str) -> list[tuple[str, str | None]]:
    from carnet_core.patients.services import search_patients

    with carnet_db.session(clinic_id=clinic_id) as db:
        return [(v.display_name, v.fields.get("birth_date")) for v in search_patients(db, _owner(clinic_id), q)]


def test_a_date_typed_the_french_way_or_iso_finds_the_patients_born_that_day(carnet_db, clinic):
    _register(carnet_db, clinic.id)
    both = [("MARTIN Tom", "2014-04-23"), ("ROUX Léa", "2014-04-23")]
    for typed in ("23/04/2014", "2014-04-23", "23.04.2014", "23-04-2014", "  23/4/2014 "):
        assert _search(carnet_db, clinic.id, typed) == both, typed
    assert _search(carnet_db, clinic.id, "02/11/1979") == [("MARTIN Tom", "1979-11-02")]
    assert _search(carnet_db, clinic.id, "24/04/2014") == []
    # not a date: never read as a phone number, nothing found, no error
    assert _search(carnet_db, clinic.id, "31/02/2014") == []
    assert prefixes.typed_birth_date("31/02/2014") is None and prefixes.typed_birth_date("2314") is None
    assert prefixes.typed_birth_date("06 12 34 56 78") is None


def test_the_index_is_keyed_per_clinic_and_the_date_stays_sealed(carnet_db, clinic, make_clinic):
    other = make_clinic("cabinet-autre")
    [here, *_] = _register(carnet_db, clinic.id)
    [there] = _register(carnet_db, other.id, PEOPLE[:1])
    with carnet_db.engine.connect() as conn:
        raw = repr(conn.exec_driver_sql("SELECT * FROM core_patient").fetchall())
    assert "2014-04-23" not in raw and "23/04/2014" not in raw
    with carnet_db.session(unscoped=True) as db:
        rows = {p.id: bytes(p.birth_date_bidx) for p in db.exec(select(Patient)) if p.birth_date_bidx}
    assert rows[here] != rows[there]  # the same date gives another index in another clinic
    from carnet_core.encryption.models import PURPOSE_DATA, PURPOSE_INDEX
    from carnet_core.encryption.services import _active_data_key

    with carnet_db.session(clinic_id=clinic.id) as db:
        index_key = _active_data_key(db, clinic.id, PURPOSE_INDEX).key
        data_key = _active_data_key(db, clinic.id, PURPOSE_DATA).key

    def token(key: bytes) -> bytes:
        return hmac.new(key, b"carnet.bidx.v1\x00core_patient.birth_date\x002014-04-23", sha256).digest()[:16]

    assert rows[here] == token(index_key) != token(data_key)
    assert _search(carnet_db, other.id, "23/04/2014") == [("MARTIN Tom", "2014-04-23")]  # its own patient only


def test_changing_or_erasing_the_birth_date_moves_the_index(carnet_db, clinic):
    from carnet_core.patients.services import erase_patient, get_patient, update_patient

    [tom, *_] = _register(carnet_db, clinic.id)
    with carnet_db.session(clinic_id=clinic.id) as db:
        update_patient(db, _owner(clinic.id), get_patient(db, _owner(clinic.id), tom), {"birth_date": "2014-05-01"})
    assert _search(carnet_db, clinic.id, "01/05/2014") == [("MARTIN Tom", "2014-05-01")]
    assert _search(carnet_db, clinic.id, "23/04/2014") == [("ROUX Léa", "2014-04-23")]
    with carnet_db.session(clinic_id=clinic.id) as db:
        erase_patient(db, _owner(clinic.id), get_patient(db, _owner(clinic.id), tom))
    with carnet_db.session(unscoped=True) as db:
        assert db.exec(select(Patient.birth_date_bidx).where(Patient.id == tom)).one() is None
    assert _search(carnet_db, clinic.id, "01/05/2014") == []


def test_patients_registered_before_the_index_are_back_filled_by_carnet_init(carnet_db, clinic):
    _register(carnet_db, clinic.id)
    # given patients as core_patients_0006 leaves them: no index, marked not indexed
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.update(Patient).values(birth_date_bidx=None, prefixes_indexed=False))
    assert _search(carnet_db, clinic.id, "23/04/2014") == []
    # carnet init's step, which says what it indexed
    assert list(prefixes.backfill_step(None, None, carnet_db)) == [
        "patient search: the name prefixes and birth dates of 4 patients are now indexed"]
    assert [n for n, _ in _search(carnet_db, clinic.id, "23/04/2014")] == ["MARTIN Tom", "ROUX Léa"]
    assert list(prefixes.backfill_step(None, None, carnet_db)) == []


@pytest.mark.parametrize("typed", ["23/04/2014", "2014-04-23"])
def test_the_patient_page_searches_by_birth_date_in_a_post_and_shows_it(client, login_as, staff, clinic, carnet_db,
                                                                       typed):
    _register(carnet_db, clinic.id)
    login_as(client, staff("owner,practitioner", clinic=clinic))
    listing = client.get("/patients/")
    assert 'method="post" action="/patients/search"' in listing.text and "date de naissance" in listing.text
    found = client.post("/patients/search", data={"q": typed})
    assert found.status_code == 200
    rows = re.findall(r'<tr><td><a href="/patients/\d+">([^<]+)</a></td>\s*<td>([^<]*)</td></tr>', found.text)
    assert rows == [("MARTIN Tom", "23/04/2014"), ("ROUX Léa", "23/04/2014")]
    assert typed not in str(found.url)  # the date went in the body, not the address
