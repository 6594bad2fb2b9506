"""One damaged sealed value never takes a page down: it fails closed for its record only.

A byte flipped in a real row (like a disk or an attacker would) makes that record show
"données illisibles (n° id)" while the rest of the list works; the damage is audited and logged
with table, column and id (no patient data); `carnet check` lists it and exits 1."""

from __future__ import annotations

import json
import logging

from click.testing import CliRunner
from sqlmodel import select

from carnet_core.audit.models import AuditRecord
from carnet_core.cli import main
from carnet_core.patients.models import Patient
from carnet_core.testing.tamper import flip_sealed_byte as flip_byte

PATIENTS = [
    {"last_name": "Durand", "first_name": "Camille", "birth_date": "2015-03-01", "sex": "F"},
    {"last_name": "Bernard", "first_name": "Lucas", "birth_date": "2014-05-02", "sex": "M",
     "phone": "06 11 22 33 44"},
    {"last_name": "Martin", "first_name": "Zoé", "birth_date": "2016-07-03", "sex": "F"},
]


def _token(carnet_db, clinic, member):
    from carnet_core.identity.models import User
    from carnet_core.identity.services import create_token

    with carnet_db.session(clinic_id=clinic.id) as db:
        raw, _ = create_token(db, clinic.id, db.get(User, member.id), name="integrity test")
    return {"Authorization": f"Bearer {raw}"}


def _register(client, headers):
    ids = []
    for data in PATIENTS:
        answer = client.post("/api/v1/patients", json=data, headers=headers)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


def _integrity_records(carnet_db, clinic):
    with carnet_db.session(unscoped=True) as db:
        return db.exec(select(AuditRecord).where(AuditRecord.clinic_id == clinic.id,
                                                 AuditRecord.action == "integrity")).all()


def test_a_flipped_byte_fails_closed_for_that_patient_only(client, carnet_db, clinic, staff, login_as, caplog):
    owner = staff("owner,practitioner")
    headers = _token(carnet_db, clinic, owner)
    durand, bernard, martin = _register(client, headers)
    flip_byte(carnet_db, "core_patient", "last_name", bernard)
    caplog.set_level(logging.INFO)

    # the API list answers 200: the damaged value is null and named, the others are intact
    listed = client.get("/api/v1/patients", headers=headers)
    assert listed.status_code == 200, listed.text
    by_id = {p["id"]: p for p in listed.json()}
    assert by_id[bernard]["last_name"] is None and by_id[bernard]["unreadable"] == ["last_name"]
    assert by_id[bernard]["first_name"] == "Lucas"
    assert by_id[durand]["last_name"] == "Durand" and "unreadable" not in by_id[durand]
    assert by_id[martin]["last_name"] == "Martin"

    # the patient's own file answers too, with the readable fields (never the marker as data)
    one = client.get(f"/api/v1/patients/{bernard}", headers=headers)
    assert one.status_code == 200 and one.json()["phone"] == "+33611223344"
    assert one.json()["last_name"] is None and one.json()["unreadable"] == ["last_name"]

    # the list page works and shows the damaged record's id, in French
    login_as(client, owner)
    page = client.get("/patients")
    assert page.status_code == 200
    assert f"Données illisibles (n° {bernard})" in page.text
    assert "DURAND Camille" in page.text and "MARTIN Zoé" in page.text
    # the patient page shows the readable fields; the edit form never pre-fills the marker
    shown = client.get(f"/patients/{bernard}")
    assert shown.status_code == 200 and "06 11 22 33 44" in shown.text  # shown the French way
    assert f"Données illisibles (n° {bernard})" in shown.text
    edit = client.get(f"/patients/{bernard}/edit")
    assert edit.status_code == 200 and "illisibles" not in edit.text
    # in English too
    client.cookies.set("carnet_lang", "en")
    english = client.get("/patients")
    assert f"Unreadable data (record {bernard})" in english.text

    # each request that met the damage audited it once: table, id, column, outcome failure
    records = _integrity_records(carnet_db, clinic)
    assert records and {(r.resource_type, r.resource_id, r.outcome) for r in records} == {
        ("core_patient", str(bernard), "failure")}
    assert all(json.loads(r.details) == {"column": "last_name"} for r in records)
    # and logged with table and id, without patient data
    lines = [r for r in caplog.records if r.name == "carnet.encryption.integrity"]
    assert lines and all(getattr(r, "table", None) == "core_patient" and r.row_id == bernard for r in lines)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Lucas" not in text and "611223344" not in text


def test_a_damaged_patient_key_fails_closed_for_that_patient_only(client, carnet_db, clinic, staff):
    owner = staff("owner,practitioner")
    headers = _token(carnet_db, clinic, owner)
    durand, bernard, _ = _register(client, headers)
    from carnet_core.encryption.models import SubjectKey

    with carnet_db.session(unscoped=True) as db:
        key_id = db.exec(select(SubjectKey.id).where(SubjectKey.subject == f"patient:{durand}")).one()
    flip_byte(carnet_db, "core_subject_key", "wrapped", key_id)
    listed = client.get("/api/v1/patients", headers=headers)
    assert listed.status_code == 200, listed.text
    by_id = {p["id"]: p for p in listed.json()}
    assert set(by_id[durand]["unreadable"]) >= {"last_name", "first_name", "birth_date", "sex"}
    assert by_id[bernard]["last_name"] == "Bernard"


def test_carnet_check_lists_damaged_records_and_exits_1(client, carnet_db, carnet_settings, clinic, staff):
    owner = staff("owner,practitioner")
    headers = _token(carnet_db, clinic, owner)
    durand, bernard, martin = _register(client, headers)
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}

    intact = CliRunner().invoke(main, ["check", "--batch", "2"], env=env, catch_exceptions=False)
    assert intact.exit_code == 0, intact.output
    assert f"{clinic.slug}: " in intact.output and "intact" in intact.output

    flip_byte(carnet_db, "core_patient", "first_name", martin)
    flip_byte(carnet_db, "core_patient", "birth_date", durand)
    found = CliRunner().invoke(main, ["check", "--batch", "2", "--json"], env=env, catch_exceptions=False)
    assert found.exit_code == 1, found.output
    (report,) = json.loads(found.stdout)
    assert report["clinic"] == clinic.slug
    assert sorted((d["table"], d["column"], d["row_id"]) for d in report["damaged"]) == [
        ("core_patient", "birth_date", durand), ("core_patient", "first_name", martin)]
    assert report["values"] >= 13
    text = CliRunner().invoke(main, ["check"], env=env, catch_exceptions=False)
    assert text.exit_code == 1 and f"DAMAGED core_patient.first_name id {martin}" in text.output
    assert "Camille" not in text.output and "2015" not in text.output

    # an erased patient's values are gone by design, not damage
    with carnet_db.session(clinic_id=clinic.id) as db:
        from carnet_core.encryption import destroy_subject_key, patient_subject

        destroy_subject_key(db, clinic.id, patient_subject(bernard))
        db.get(Patient, bernard).erased_at = db.get(Patient, bernard).created_at
    after = CliRunner().invoke(main, ["check", "--json"], env=env, catch_exceptions=False)
    assert len(json.loads(after.stdout)[0]["damaged"]) == 2


def test_the_marker_speaks_the_language_of_the_page_it_is_printed_in(tmp_path):
    # HTML pages translate the marker through its __html__ (the render sets the page's gettext),
    # plain-text messages through finalize; outside a render it is the English message.
    from carnet_core.encryption.unreadable import Unreadable
    from carnet_core.i18n import load_catalogs
    from carnet_core.plugins import build_plugin_host
    from carnet_core.testing.plugin import make_settings
    from carnet_core.web.templating import build_environment, message_environment

    host = build_plugin_host(make_settings(tmp_path), discover=False)
    catalogs = load_catalogs(host)
    marker = Unreadable("core_patient", 12, "last_name")
    page = build_environment(host, catalogs).from_string("<p>{{ name }}</p><i>{{ [name]|join }}</i>")
    assert page.render(name=marker, locale="fr") == (
        "<p>Données illisibles (n° 12)</p><i>Données illisibles (n° 12)</i>")
    assert page.render(name=marker, locale="en") == (
        "<p>Unreadable data (record 12)</p><i>Unreadable data (record 12)</i>")
    assert page.render(name="<b>", locale="fr") == "<p>&lt;b&gt;</p><i>&lt;b&gt;</i>"
    text = message_environment(host).from_string("{{ name }}")
    assert text.render(name=marker, locale="fr") == "Données illisibles (n° 12)"
    assert str(marker) == "Unreadable data (record 12)"
