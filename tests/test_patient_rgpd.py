"""RGPD on the patient registry, all plugins installed: the export (page and CLI) gathers every
installed plugin's data (enabled or not, see test_data_lifecycle.py); the erasure is owner-only, confirmed, audited, and leaves a 410 page; the
patient page shows the panels of enabled plugins only."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from example_plugin import plugin as example
from sqlmodel import select

from carnet_core.audit.models import AuditRecord
from carnet_core.cli import main

PATIENT = {
    "last_name": "Lefèvre", "first_name": "Élodie", "birth_date": "2016-04-02", "email": "parent@example.fr",
    "phone": "06 12 34 56 78", "notes": "Bilan initial: retard de langage",
    "guardians": [{"relation": "mother", "last_name": "Lefèvre", "first_name": "Anne", "phone": "0611223344"}],
}


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("example", example)
    for seen in example.SEEN.values():
        seen.clear()
    return inline_plugins


@pytest.fixture
def team(staff, carnet_db, clinic):
    from carnet_core.identity.models import User
    from carnet_core.identity.services import create_token

    people = {name: staff(role, email=f"{name}@cabinet.test") for name, role in
              {"owner": "owner", "pia": "practitioner", "paul": "practitioner", "sec": "secretary"}.items()}
    tokens = {}
    with carnet_db.session(clinic_id=clinic.id) as db:
        for name, member in people.items():
            tokens[name], _ = create_token(db, clinic.id, db.get(User, member.id), name=f"test {name}")
    return people, tokens


def _register(client, tokens, who="pia", body=PATIENT):
    created = client.post("/api/v1/patients", json=body, headers={"Authorization": f"Bearer {tokens[who]}"})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _book(carnet_db, clinic, patient_id, practitioner_id, notes):
    from carnet_core.encryption import seal
    from carnet_scheduling.models import Appointment, AppointmentType

    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with carnet_db.session(clinic_id=clinic.id) as db:
        kind = AppointmentType(clinic_id=clinic.id, name="Bilan orthophonique", duration_minutes=60)
        db.add(kind)
        db.flush()
        appointment = Appointment(
            clinic_id=clinic.id, practitioner_id=practitioner_id, patient_id=patient_id,
            appointment_type_id=kind.id, starts_at=start, ends_at=start + timedelta(hours=1),
            local_day=date(2026, 3, 2), status="honoured",
        )
        db.add(appointment)
        db.flush()
        seal(db, appointment, "notes", notes)


def _audit(carnet_db, patient_id, action):
    with carnet_db.session(unscoped=True) as db:
        return db.exec(select(AuditRecord).where(
            AuditRecord.patient_id == patient_id, AuditRecord.action == action)).all()


def test_hook_export_patient_data_gathers_core_fields_guardians_and_each_enabled_plugin(
    client, team, clinic, carnet_db, login_as
):
    people, tokens = team
    pid = _register(client, tokens)
    _book(carnet_db, clinic, pid, people["pia"].id, "séance: progrès nets")
    # given the patient's practitioner on the patient page
    token = login_as(client, people["pia"], send_csrf=False)
    shown = client.get(f"/patients/{pid}")
    assert f'action="/patients/{pid}/export"' in shown.text and "Exporter le dossier" in shown.text
    # when they export the file
    answer = client.post(f"/patients/{pid}/export", data={"_csrf_token": token})
    # then a JSON attachment, never cached, never sniffed
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"] == f'attachment; filename="patient-{pid}-export.json"'
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-type"].startswith("application/json")
    document = answer.json()
    assert document["format"] == "carnet.patient-export/1"
    assert document["patient"]["last_name"] == "Lefèvre" and document["patient"]["notes"] == PATIENT["notes"]
    assert document["patient"]["phone"] == "+33612345678"
    assert document["patient"]["guardians"][0]["first_name"] == "Anne"
    # each enabled plugin's part is keyed by its name
    assert document["plugins"]["example"] == {"greeting": "bonjour", "patient_id": pid}
    visit = document["plugins"]["scheduling"]["appointments"][0]
    assert visit["type"] == "Bilan orthophonique" and visit["status"] == "honoured"
    assert visit["starts_at"].startswith("2026-03-02T09:00") and visit["notes"] == "séance: progrès nets"
    # audited as "export", with plugin names only
    records = _audit(carnet_db, pid, "export")
    assert len(records) == 1 and records[0].actor_user_id == people["pia"].id
    assert "Lef" not in (records[0].details or "") and "scheduling" in records[0].details
    # without the CSRF token, nothing is exported
    assert client.post(f"/patients/{pid}/export").status_code == 403
    assert len(_audit(carnet_db, pid, "export")) == 1


def test_hook_export_patient_data_reaches_plugins_the_clinic_has_not_enabled_and_leaves_out_empty_parts(
    client, staff, make_clinic, carnet_db, login_as
):
    # a data-lifecycle hook: a module the clinic never enabled is asked too (it may hold data from
    # when it was enabled); scheduling holds nothing about this patient, so it has no part
    bare = make_clinic("sans-modules", plugins=[])
    owner = staff("owner,practitioner", clinic=bare, email="solo@cabinet.test")
    token = login_as(client, owner, send_csrf=False)
    created = client.post("/patients/new", data={"last_name": "Martin", "first_name": "Léa", "_csrf_token": token},
                          follow_redirects=False)
    pid = int(created.headers["location"].rsplit("/", 1)[1])
    document = client.post(f"/patients/{pid}/export", data={"_csrf_token": token}).json()
    assert document["plugins"] == {"example": {"greeting": "bonjour", "patient_id": pid}}
    assert document["patient"]["first_name"] == "Léa"
    assert example.SEEN["exported"] == [(bare.slug, pid)]


def test_only_owners_and_the_patients_practitioner_may_export(client, team, clinic, carnet_db, login_as):
    from carnet_core.patients.services import set_share_patients

    people, tokens = team
    pid = _register(client, tokens)
    with carnet_db.session(clinic_id=clinic.id) as db:
        set_share_patients(db, True)  # paul sees pia's patient, but does not follow them
    for name, status in (("sec", 403), ("paul", 403), ("owner", 200)):
        client.cookies.clear()
        token = login_as(client, people[name], send_csrf=False)
        page = client.get(f"/patients/{pid}")
        assert ("Exporter le dossier" in page.text) == (status == 200), name
        assert client.post(f"/patients/{pid}/export", data={"_csrf_token": token}).status_code == status, name
    assert len(_audit(carnet_db, pid, "export")) == 1


def test_carnet_patients_export_writes_the_same_document_to_a_private_file(
    client, team, clinic, carnet_db, carnet_settings, plugin_host, monkeypatch, tmp_path
):
    import os

    people, tokens = team
    pid = _register(client, tokens)
    monkeypatch.setattr("carnet_core.cli.Runtime.host", property(lambda self: plugin_host))
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    out = tmp_path / "export.json"
    runner = CliRunner()
    done = runner.invoke(main, ["patients", "export", "--clinic", clinic.slug, "--patient", str(pid),
                                "--output", str(out)], env=env)
    assert done.exit_code == 0, done.output
    assert os.stat(out).st_mode & 0o777 == 0o600
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["patient"]["email"] == "parent@example.fr" and "example" in document["plugins"]
    records = _audit(carnet_db, pid, "export")
    assert len(records) == 1 and (records[0].actor_kind, records[0].actor_id) == ("system", "cli")
    missing = runner.invoke(main, ["patients", "export", "--clinic", clinic.slug, "--patient", "999999"], env=env)
    assert missing.exit_code == 2 and "no patient 999999" in missing.output


def test_hook_erase_patient_data_runs_on_a_confirmed_owner_erasure_then_the_page_answers_410(
    client, team, clinic, carnet_db, login_as
):
    from carnet_core.encryption import KeyDestroyed, open_
    from carnet_core.patients.models import Patient

    people, tokens = team
    pid = _register(client, tokens)
    _book(carnet_db, clinic, pid, people["pia"].id, "séance")
    # a practitioner may not even see the erasure page
    token = login_as(client, people["pia"], send_csrf=False)
    assert client.get(f"/patients/{pid}/erase").status_code == 403
    assert client.post(f"/patients/{pid}/erase", data={"_csrf_token": token, "reason": "other",
                                                       "confirm_last_name": "Lefèvre"}).status_code == 403
    client.cookies.clear()
    token = login_as(client, people["owner"], send_csrf=False)
    assert f'href="/patients/{pid}/erase"' in client.get(f"/patients/{pid}").text
    form = client.get(f"/patients/{pid}/erase")
    assert form.status_code == 200 and 'name="confirm_last_name"' in form.text
    # a wrong name or a missing reason changes nothing
    wrong = client.post(f"/patients/{pid}/erase", data={"_csrf_token": token, "reason": "patient_request",
                                                        "confirm_last_name": "Martin"})
    assert wrong.status_code == 422 and "nom de famille" in wrong.text
    no_reason = client.post(f"/patients/{pid}/erase", data={"_csrf_token": token, "confirm_last_name": "lefevre"})
    assert no_reason.status_code == 422
    assert example.SEEN["erased"] == [] and _audit(carnet_db, pid, "erase") == []
    # the confirmed erasure (name typed without accents or capitals)
    done = client.post(f"/patients/{pid}/erase", data={"_csrf_token": token, "reason": "patient_request",
                                                       "confirm_last_name": " LEFEVRE "}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/patients/{pid}"
    assert example.SEEN["erased"] == [(clinic.slug, pid)]
    erased = _audit(carnet_db, pid, "erase")
    assert len(erased) == 1 and erased[0].actor_user_id == people["owner"].id
    assert "patient_request" in erased[0].details
    # then the patient page answers 410 with a clear French page, the export too
    gone = client.get(f"/patients/{pid}")
    assert gone.status_code == 410 and "Dossier effacé" in gone.text
    assert client.post(f"/patients/{pid}/export", data={"_csrf_token": token}).status_code == 410
    # and the patient's fields no longer open; scheduling erased its appointments (rows and all)
    from carnet_scheduling.models import Appointment

    with carnet_db.session(clinic_id=clinic.id) as db:
        with pytest.raises(KeyDestroyed):
            open_(db, db.get(Patient, pid), "last_name")
        assert db.exec(select(Appointment).where(Appointment.patient_id == pid)).all() == []


def test_hook_patient_panels_shows_an_enabled_plugins_panel_and_not_another_clinics(
    client, staff, make_clinic, login_as
):
    for slug, plugins, shown in (("avec-panneau", ["example"], True), ("sans-panneau", [], False)):
        place = make_clinic(slug, plugins=plugins)
        owner = staff("owner,practitioner", clinic=place, email=f"solo@{slug}.test")
        client.cookies.clear()
        token = login_as(client, owner, send_csrf=False)
        created = client.post("/patients/new", data={"last_name": "Petit", "first_name": "Jo", "_csrf_token": token},
                              follow_redirects=False)
        page = client.get(created.headers["location"])
        assert page.status_code == 200
        assert ('<p class="example-panel">from example</p>' in page.text) == shown, slug
        assert ("Example panel" in page.text) == shown, slug
