"""Patient registry: API validation, visibility by role, sealed storage, audited access, erasure."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import select

from carnet_core.audit.models import AuditRecord
from carnet_core.patients.models import Patient, PatientGuardian
from carnet_core.web.principal import Principal

VALID = {
    "last_name": "Lefèvre", "first_name": "Élodie", "birth_date": "2016-04-02", "sex": "F",
    "email": "Parent.Lefevre@Example.fr", "phone": "06 12 34 56 78", "address": "3 rue des Lilas, Lyon",
    "referring_physician": "Dr Martin", "notes": "Bilan initial: retard de langage",
    "guardians": [{"relation": "mother", "last_name": "Lefèvre", "first_name": "Anne", "phone": "0611223344"}],
}


class People:
    """Staff of the test clinic, each acting through a real API token (Authorization: Bearer)."""

    def __init__(self) -> None:
        self.id: dict[str, int] = {}
        self.tokens: dict[str, str] = {}
        self.users: dict[str, object] = {}

    def h(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


@pytest.fixture
def people(carnet_db, clinic, staff, app):
    from carnet_core.identity.models import User
    from carnet_core.identity.services import create_token

    found = People()
    roles = {
        "owner": "owner", "pia": "practitioner", "paul": "practitioner", "sec": "secretary",
        "solo": "owner,practitioner",
    }
    for name, role in roles.items():
        member = staff(role, email=f"{name}@cabinet.test")
        with carnet_db.session(clinic_id=clinic.id) as db:
            raw, _ = create_token(db, clinic.id, db.get(User, member.id), name=f"test {name}")
        found.id[name] = member.id
        found.tokens[name] = raw
        found.users[name] = member
    return found


def _count(carnet_db, model):
    with carnet_db.session(unscoped=True) as db:
        return db.exec(select(sa.func.count()).select_from(model)).one()


def test_a_practitioner_registers_a_patient_and_reads_it_back(client, people, carnet_db):
    created = client.post("/api/v1/patients", json=VALID, headers=people.h("pia"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "parent.lefevre@example.fr"
    assert body["phone"] == "+33612345678"
    assert body["practitioner_id"] == people.id["pia"]
    assert body["notes"] == VALID["notes"]
    assert body["guardians"][0]["phone"] == "+33611223344"
    read = client.get(f"/api/v1/patients/{body['id']}", headers=people.h("pia"))
    assert read.status_code == 200 and read.json()["last_name"] == "Lefèvre"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"last_name": None}, "last_name"),
        ({"email": "pas-un-email"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"phone": "+33 1 23"}, "phone"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"birth_date": "02/04/2016"}, "birth_date"),
        ({"sex": "X"}, "sex"),
        ({"clinic_id": 2}, "clinic_id"),
        ({"id": 5}, "id"),
        ({"ins_number": "123456789012345"}, "ins_number"),
        ({"guardians": [{"relation": "uncle", "last_name": "A", "first_name": "B"}]}, "relation"),
    ],
)
def test_bad_input_is_refused_with_field_errors_and_writes_nothing(client, people, carnet_db, change, field):
    body = {**VALID, **change}
    answer = client.post("/api/v1/patients", json=body, headers=people.h("pia"))
    assert answer.status_code in (400, 422), answer.text
    assert field in answer.text
    assert _count(carnet_db, Patient) == 0
    assert _count(carnet_db, PatientGuardian) == 0


def test_missing_required_fields_are_named(client, people):
    answer = client.post("/api/v1/patients", json={"first_name": "Jean"}, headers=people.h("pia"))
    assert answer.status_code == 400
    assert "last_name" in answer.text


def test_international_phone_numbers_are_normalised(client, people):
    answer = client.post(
        "/api/v1/patients", json={"last_name": "Smith", "first_name": "Jo", "phone": "+44 20 7946 0958"},
        headers=people.h("sec"),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["phone"] == "+442079460958"


def test_patch_changes_only_given_fields_and_refuses_unknown_ones(client, people, carnet_db):
    pid = client.post("/api/v1/patients", json=VALID, headers=people.h("pia")).json()["id"]
    changed = client.patch(f"/api/v1/patients/{pid}", json={"phone": "+33 7 56 12 34 56"}, headers=people.h("pia"))
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone"] == "+33756123456" and changed.json()["last_name"] == "Lefèvre"
    refused = client.patch(f"/api/v1/patients/{pid}", json={"clinic_id": 9}, headers=people.h("pia"))
    assert refused.status_code == 400
    bad = client.patch(f"/api/v1/patients/{pid}", json={"email": "nope"}, headers=people.h("pia"))
    assert bad.status_code == 422 and bad.json()["errors"][0] == {
        "field": "email", "code": "invalid_email", "message": "Adresse e-mail invalide (nom@exemple.fr)."}
    assert client.get(f"/api/v1/patients/{pid}", headers=people.h("pia")).json()["email"] == VALID["email"].lower()


def test_search_by_first_letters_of_the_name_or_exact_email_or_phone(client, people):
    pid = client.post("/api/v1/patients", json=VALID, headers=people.h("pia")).json()["id"]
    other = client.post("/api/v1/patients", json={**VALID, "last_name": "Durand", "email": None, "phone": None},
                        headers=people.h("pia")).json()["id"]
    for q in ("lefevre", "  LEFÈVRE ", "Lefe", "lef élo", "parent.lefevre@example.fr", "06 12 34 56 78",
              "+33612345678"):
        found = client.get("/api/v1/patients", params={"q": q}, headers=people.h("pia"))
        assert found.status_code == 200
        assert [p["id"] for p in found.json()] == [pid], q
    assert sorted(p["id"] for p in client.get("/api/v1/patients", params={"q": "élod"},
                                              headers=people.h("pia")).json()) == sorted([pid, other])
    assert client.get("/api/v1/patients", params={"q": "parent.lefevre@example"},
                      headers=people.h("pia")).json() == []  # e-mail and phone: exact only


def test_a_practitioner_sees_only_their_patients_unless_the_clinic_shares_them(client, people, carnet_db, clinic):
    from carnet_core.patients.services import set_share_patients

    pid = client.post("/api/v1/patients", json=VALID, headers=people.h("pia")).json()["id"]
    assert client.get(f"/api/v1/patients/{pid}", headers=people.h("paul")).status_code == 404
    assert client.get("/api/v1/patients", headers=people.h("paul")).json() == []
    assert client.patch(f"/api/v1/patients/{pid}", json={"phone": None}, headers=people.h("paul")).status_code == 404
    with carnet_db.session(clinic_id=clinic.id) as db:
        set_share_patients(db, True)
    shared = client.get(f"/api/v1/patients/{pid}", headers=people.h("paul"))
    assert shared.status_code == 200 and shared.json()["notes"] == VALID["notes"]


def test_a_secretary_sees_administrative_fields_but_never_clinical_notes(client, people):
    pid = client.post("/api/v1/patients", json=VALID, headers=people.h("pia")).json()["id"]
    seen = client.get(f"/api/v1/patients/{pid}", headers=people.h("sec"))
    assert seen.status_code == 200
    assert seen.json()["last_name"] == "Lefèvre" and "notes" not in seen.json()
    assert VALID["notes"] not in seen.text
    refused = client.patch(f"/api/v1/patients/{pid}", json={"notes": "x"}, headers=people.h("sec"))
    assert refused.status_code == 403
    creating = client.post("/api/v1/patients", json=VALID, headers=people.h("sec"))
    assert creating.status_code == 403
    owner = client.get(f"/api/v1/patients/{pid}", headers=people.h("owner"))
    assert owner.status_code == 200 and "notes" not in owner.json()


def test_anonymous_and_other_clinics_get_nothing(client, people, make_clinic, carnet_db):
    pid = client.post("/api/v1/patients", json=VALID, headers=people.h("pia")).json()["id"]
    assert client.get(f"/api/v1/patients/{pid}").status_code == 401
    other = make_clinic("autre")
    with carnet_db.session(clinic_id=other.id) as db:
        assert db.exec(select(Patient)).all() == []


def test_every_read_and_write_is_audited(client, people, carnet_db):
    pid = client.post("/api/v1/patients", json=VALID, headers=people.h("pia")).json()["id"]
    client.get(f"/api/v1/patients/{pid}", headers=people.h("sec"))
    client.patch(f"/api/v1/patients/{pid}", json={"phone": None}, headers=people.h("pia"))
    client.get("/api/v1/patients", params={"q": "lefevre"}, headers=people.h("pia"))
    with carnet_db.session(unscoped=True) as db:
        rows = db.exec(select(AuditRecord).where(AuditRecord.patient_id == pid).order_by(AuditRecord.seq)).all()
    # exactly these records, in this order: what was done, to what, by whom (each through a token)
    recorded = [(r.action, r.resource_type, r.resource_id, r.patient_id, r.actor_kind, r.actor_user_id, r.details)
                for r in rows]
    pia, sec = people.id["pia"], people.id["sec"]
    assert recorded == [
        ("create", "patient", str(pid), pid, "token", pia, "{}"),
        ("read", "patient", str(pid), pid, "token", pia, '{"clinical":true}'),  # the answer shows the file
        ("read", "patient", str(pid), pid, "token", sec, '{"clinical":false}'),  # a secretary: no clinical part
        ("update", "patient", str(pid), pid, "token", pia, '{"fields":["phone"]}'),
        ("read", "patient", str(pid), pid, "token", pia, '{"clinical":true}'),
        ("search", "patient", str(pid), pid, "token", pia, '{"by":"name_prefix"}'),
    ]
    assert all("Lef" not in (r.details or "") for r in rows)


def test_an_erased_patient_answers_410_and_their_data_no_longer_opens(client, people, carnet_db, clinic):
    from carnet_core.encryption import KeyDestroyed, open_
    from carnet_core.patients.services import erase_patient, get_patient

    pid = client.post("/api/v1/patients", json=VALID, headers=people.h("pia")).json()["id"]
    principal = Principal(kind="user", user_id=people.id["owner"], clinic_id=clinic.id,
                          permissions=frozenset({"core.patients.view_all"}))
    with carnet_db.session(clinic_id=clinic.id) as db:
        erase_patient(db, principal, get_patient(db, principal, pid))
    answer = client.get(f"/api/v1/patients/{pid}", headers=people.h("pia"))
    assert answer.status_code == 410 and "effacées" in answer.json()["detail"]
    assert client.patch(f"/api/v1/patients/{pid}", json={"phone": None}, headers=people.h("pia")).status_code == 410
    assert client.get("/api/v1/patients", params={"q": "lefevre"}, headers=people.h("pia")).json() == []
    with carnet_db.session(clinic_id=clinic.id) as db:
        patient = db.get(Patient, pid)
        with pytest.raises(KeyDestroyed):
            open_(db, patient, "last_name")


def test_the_api_is_documented_in_openapi(client, people):
    schema = client.get("/schema/openapi.json").json()
    assert "/api/v1/patients" in schema["paths"] and "/api/v1/patients/{patient_id}" in schema["paths"]


def test_pages_list_create_show_and_edit(client, people, login_as):
    # given a practitioner logged in through the real login pages (session cookie + CSRF)
    token = login_as(client, people.users["pia"], send_csrf=False)
    page = client.get("/patients/new")
    assert page.status_code == 200 and 'name="_csrf_token"' in page.text
    form = {"last_name": "Bernard", "first_name": "Lucas", "birth_date": "2015-01-01", "phone": "0612345678"}
    # a form without its CSRF token is refused and writes nothing
    assert client.post("/patients/new", data=form, follow_redirects=False).status_code == 403
    created = client.post("/patients/new", data={**form, "_csrf_token": token}, follow_redirects=False)
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    shown = client.get(location)
    assert shown.status_code == 200 and "BERNARD Lucas" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    bad = client.post(f"{location}/edit", data={**form, "email": "nope", "_csrf_token": token})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    listed = client.post("/patients/search", data={"q": "bernard", "_csrf_token": token})
    assert listed.status_code == 200 and "BERNARD Lucas" in listed.text
    partial = client.post("/patients/search", data={"q": "bernard", "_csrf_token": token},
                          headers={"HX-Request": "true"})
    assert partial.text.startswith('<div class="table-wrap"><table') and "BERNARD Lucas" in partial.text


def test_the_search_form_posts_so_no_patient_data_lands_in_urls(client, people, login_as):
    import re

    token = login_as(client, people.users["pia"], send_csrf=False)
    client.post("/patients/new", data={"last_name": "Bernard", "first_name": "Lucas", "_csrf_token": token})
    client.post("/patients/new", data={"last_name": "Durand", "first_name": "Zoé", "_csrf_token": token})
    # the page's form posts to the search handler, with its CSRF token
    listing = client.get("/patients")
    form = re.search(r"<form[^>]*role=\"search\"[^>]*>", listing.text).group(0)
    assert 'method="post"' in form and 'action="/patients/search"' in form and 'hx-post="/patients/search"' in form
    assert 'hx-get' not in form and 'method="get"' not in form
    # a search returns the patient (exact last name, accents and case folded), not the others
    found = client.post("/patients/search", data={"q": "BERNARD", "_csrf_token": token})
    assert found.status_code == 200
    assert "BERNARD Lucas" in found.text and "DURAND" not in found.text.split('id="patient-results"')[1]
    assert str(found.url).endswith("/patients/search")
    # without the CSRF token the search is refused; an over-long query is a 400, not a 500
    assert client.post("/patients/search", data={"q": "bernard"}).status_code == 403
    assert client.post("/patients/search", data={"q": "x" * 300, "_csrf_token": token}).status_code == 400

CANARY = "QZXCANARY"
CANARY_PATIENT = {
    "last_name": f"{CANARY}nom", "first_name": f"{CANARY}prenom", "birth_date": "1911-11-11", "sex": "U",
    "email": f"{CANARY.lower()}@example.fr", "phone": "+33 6 98 76 54 32",
    "address": f"{CANARY} rue", "referring_physician": f"Dr {CANARY}", "notes": f"{CANARY} notes",
    "ins_number": "269054958815780", "birth_last_name": f"{CANARY}naissance",
    "birth_first_names": f"{CANARY}prenoms", "birth_place_code": "2A004",
    "guardians": [{"relation": "father", "last_name": f"{CANARY}pere", "first_name": f"{CANARY}p",
                   "email": f"{CANARY.lower()}.pere@example.fr", "phone": "+33 6 12 98 76 54",
                   "address": f"{CANARY} avenue"}],
}
CANARY_BYTES = [
    CANARY.encode(), CANARY.lower().encode(), b"1911-11-11", b"698765432", b"612987654",
    b"269054958815780", b"2A004",
]


def _exercise_canary(client, people, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    created = client.post("/api/v1/patients", json=CANARY_PATIENT, headers=people.h("pia"))
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert created.json()["birth_place_code"] == "2A004"
    client.get(f"/api/v1/patients/{pid}", headers=people.h("pia"))
    found = client.post("/api/v1/patients/search", json={"q": CANARY_PATIENT["email"]}, headers=people.h("pia"))
    assert [p["id"] for p in found.json()] == [pid]
    client.patch(f"/api/v1/patients/{pid}", json={"address": f"{CANARY} autre"}, headers=people.h("pia"))
    client.get(f"/patients/{pid}", headers=people.h("pia"))
    client.post("/api/v1/patients", json={**CANARY_PATIENT, "email": "bad"}, headers=people.h("pia"))
    # the server's records (the test client's own httpx lines show the URLs it requested)
    server_logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    for needle in CANARY_BYTES:
        assert needle.decode() not in server_logs
    return pid


def test_canary_never_appears_in_clear_in_the_sqlite_file_its_wal_or_the_logs(
    client, people, carnet_db, carnet_settings, caplog
):
    if not carnet_settings.is_sqlite:
        pytest.skip("SQLite file check (the PostgreSQL dump has its own test)")
    _exercise_canary(client, people, caplog)
    path = carnet_settings.database_url.removeprefix("sqlite:///")
    import os

    files = [p for p in (path, path + "-wal") if os.path.exists(p)]
    assert path + "-wal" in files
    for p in files:
        with open(p, "rb") as fh:
            data = fh.read()
        for needle in CANARY_BYTES:
            assert needle not in data, (p, needle)


@pytest.mark.postgres
def test_canary_never_appears_in_clear_in_a_postgresql_dump(client, people, carnet_db, carnet_settings, caplog):
    import subprocess

    _exercise_canary(client, people, caplog)
    url = carnet_settings.database_url
    dump = subprocess.run(["pg_dump", "--data-only", url], capture_output=True, timeout=120)
    assert dump.returncode == 0, dump.stderr
    assert b"core_patient" in dump.stdout
    for needle in CANARY_BYTES:
        assert needle not in dump.stdout, needle


def test_field_errors_are_french_with_a_stable_code_in_the_api_and_the_forms(client, people, login_as):
    # the API: each error names its field, a stable code, and a message in the request's language
    bad = {**VALID, "email": "pas-un-email", "birth_date": "2999-01-01", "ins_number": "123"}
    answer = client.post("/api/v1/patients", json=bad, headers=people.h("pia"))
    assert answer.status_code == 422 and answer.json()["status_code"] == 422
    errors = {e["field"]: e for e in answer.json()["errors"]}
    assert errors["email"]["code"] == "invalid_email"
    assert errors["email"]["message"] == "Adresse e-mail invalide (nom@exemple.fr)."
    assert errors["birth_date"]["code"] == "future_date"
    assert errors["ins_number"] == {"field": "ins_number", "code": "invalid_ins",
                                    "message": "Numéro INS invalide (15 caractères, clé comprise)."}
    english = client.post("/api/v1/patients", json=bad, headers={**people.h("pia"), "Accept-Language": "en"})
    assert {e["field"]: e["message"] for e in english.json()["errors"]}["email"].startswith("Not a valid e-mail")
    # a body the schema refuses still gets a code per field
    unknown = client.post("/api/v1/patients", json={**VALID, "clinic_id": 2}, headers=people.h("pia"))
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["code"] == "unknown_field"
    # the HTML form shows the French message next to the field
    token = login_as(client, people.users["pia"], send_csrf=False)
    form = client.post("/patients/new", data={"last_name": "", "first_name": "Lucas", "phone": "12",
                                              "_csrf_token": token})
    assert form.status_code == 422
    assert "Ce champ est obligatoire." in form.text
    assert "Numéro de téléphone invalide" in form.text and "Not a valid phone" not in form.text


def test_an_owner_turns_patient_sharing_on_and_off_from_the_settings_page(client, people, carnet_db, login_as):
    pid = client.post("/api/v1/patients", json=VALID, headers=people.h("pia")).json()["id"]
    assert client.get(f"/api/v1/patients/{pid}", headers=people.h("paul")).status_code == 404
    # a practitioner may not change the setting
    token = login_as(client, people.users["paul"], send_csrf=False)
    assert client.get("/settings/patients").status_code == 403
    assert client.post("/settings/patients", data={"share_patients": "1", "_csrf_token": token}).status_code == 403
    assert client.get(f"/api/v1/patients/{pid}", headers=people.h("paul")).status_code == 404
    # the owner turns it on
    client.cookies.clear()
    token = login_as(client, people.users["owner"], send_csrf=False)
    assert 'href="/settings/patients"' in client.get("/patients").text
    page = client.get("/settings/patients")
    assert page.status_code == 200 and 'name="share_patients"' in page.text and " checked" not in page.text
    on = client.post("/settings/patients", data={"share_patients": "1", "_csrf_token": token}, follow_redirects=False)
    assert on.status_code == 303
    assert " checked" in client.get("/settings/patients").text
    assert client.get(f"/api/v1/patients/{pid}", headers=people.h("paul")).status_code == 200
    # and off again (an unchecked box sends nothing)
    client.post("/settings/patients", data={"_csrf_token": token})
    assert client.get(f"/api/v1/patients/{pid}", headers=people.h("paul")).status_code == 404
    with carnet_db.session(unscoped=True) as db:
        rows = db.exec(select(AuditRecord).where(AuditRecord.resource_type == "patient_settings")
                       .order_by(AuditRecord.seq)).all()
    assert [(r.action, r.actor_user_id, r.details) for r in rows] == [
        ("update", people.id["owner"], '{"share_patients":true}'),
        ("update", people.id["owner"], '{"share_patients":false}'),
    ]


def test_the_patient_form_records_each_holder_of_parental_authority(client, people, login_as, carnet_db, clinic):
    """Issue 13: the patient form has a guardian section (relation, contact, whether they may receive
    messages), refused rows come back with French field errors, and messages go only to the
    holders who may receive them."""
    from carnet_core.patients.patient_access import access

    token = login_as(client, people.users["pia"], send_csrf=False)
    page = client.get("/patients/new")
    assert 'name="g0_relation"' in page.text and 'name="g1_phone"' in page.text and 'name="g2_phone"' not in page.text
    assert '<label for="g0-last_name">' in page.text and "Titulaires de l’autorité parentale" in page.text
    child = {"last_name": "Moreau", "first_name": "Inès", "birth_date": "2016-04-23", "_csrf_token": token}
    refused = client.post("/patients/new", data={**child, "g0_relation": "mother", "g0_last_name": "Moreau",
                                                 "g0_first_name": "Anne", "g0_phone": "12", "g0_messages": "1",
                                                 "g1_last_name": "Moreau", "g1_first_name": "Paul"})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    assert 'id="ge0-phone"' in refused.text and 'id="ge1-relation"' in refused.text  # both rows' errors
    assert 'value="Anne"' in refused.text  # what was typed is kept
    with carnet_db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM core_patient_guardian").scalar() == 0
    created = client.post("/patients/new", data={
        **child, "g0_relation": "mother", "g0_last_name": "Moreau", "g0_first_name": "Anne",
        "g0_phone": "06 12 34 56 01", "g0_messages": "1", "g1_relation": "father", "g1_last_name": "Moreau",
        "g1_first_name": "Paul", "g1_email": "paul.moreau@example.org",
    }, follow_redirects=False)
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    patient_id = int(location.rsplit("/", 1)[1])
    shown = client.get(location).text
    assert "Mère : MOREAU Anne" in shown or "Mère : Moreau Anne" in shown
    assert "Père" in shown and "ne reçoit aucun message" in shown
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        rows = db.exec(select(PatientGuardian).order_by(PatientGuardian.id)).all()
        assert [(g.relation, g.may_receive_messages) for g in rows] == [("mother", True), ("father", False)]
        contact = access(db).contact(patient_id, "email")
        assert contact.email is None  # the father, who has the only e-mail, receives nothing
        assert access(db).contact(patient_id, "sms").phone == "+33612345601"  # the mother may
    edit = client.get(f"{location}/edit").text
    assert 'value="Paul"' in edit and 'value="paul.moreau@example.org"' in edit


def test_the_list_is_paged_with_counts_and_shows_french_dates_and_phones(client, people, carnet_db, clinic, login_as):
    from carnet_core.testing import register_patients

    # given 120 patients the secretary sees (she sees every patient of the clinic)
    register_patients(carnet_db, clinic.id, [(f"Nom{n:03d}", "Prénom") for n in range(119)])
    created = client.post("/api/v1/patients", json={**VALID, "birth_date": "2014-04-23"}, headers=people.h("pia"))
    assert created.status_code == 201, created.text
    login_as(client, people.users["sec"])
    first = client.get("/patients/")
    assert "120 patients · page 1 sur 3" in first.text and 'href="/patients/?page=2"' in first.text
    assert first.text.count('<tr><td><a href="/patients/') == 50
    last = client.get("/patients/?page=3")
    assert "page 3 sur 3" in last.text and last.text.count('<tr><td><a href="/patients/') == 20
    assert "23/04/2014" in last.text and "2014-04-23" not in last.text  # the birth date, the French way
    # a page beyond the last, or not a number, shows a real page
    assert "page 3 sur 3" in client.get("/patients/?page=999999").text
    assert "page 1 sur 3" in client.get("/patients/?page=abc").text
    shown = client.get(f"/patients/{created.json()['id']}")
    # shown the French way, a link to call (the E.164 form only in the tel: address)
    assert 'href="tel:+33612345678">06 12 34 56 78</a>' in shown.text and ">+33612345678" not in shown.text
    assert "Féminin" in shown.text or "Masculin" in shown.text  # the sex in words, not its code
