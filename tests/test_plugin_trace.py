"""The structural trace of health-data access, tried by a "sneaky" plugin: it loads a patient
with `db.get(Patient, id)`, opens the name and writes a sealed field without ever calling
`audit.record` — core records each access all the same, attributed to the right principal,
once per request and patient (not per field), and never twice when the code audited itself."""

from __future__ import annotations

from typing import Any

import pytest
from sneaky_plugin import plugin as sneaky
from sqlmodel import select

from carnet_core.audit.models import AuditRecord
from carnet_core.encryption import open_
from carnet_core.jobs import enqueue
from carnet_core.jobs.testing import wait_for_jobs
from carnet_core.patients.models import Patient
from carnet_core.web.principal import Principal


@pytest.fixture
def patient_guard():
    # The sneaky plugin loads patients itself, which core's pytest plugin refuses by default
    # (tests/test_patient_access.py); here we look at what is traced when it does in production.
    return False


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("sneaky", sneaky.plugin)
    sneaky.SEEN.clear()
    return inline_plugins


def _patients(carnet_db, clinic, owner, *names: str) -> list[int]:
    from carnet_core.patients.services import create_patient

    registrar = Principal(kind="user", user_id=owner.id, clinic_id=clinic.id, roles=frozenset({"owner"}),
                          permissions=frozenset({"core.patients.edit"}))
    with carnet_db.session(clinic_id=clinic.id) as db:
        return [create_patient(db, registrar, {"last_name": n, "first_name": "Camille"}).id for n in names]


def _records(carnet_db, clinic, **where: Any) -> list[AuditRecord]:
    with carnet_db.session(clinic_id=clinic.id) as db:
        query = select(AuditRecord).order_by(AuditRecord.seq)
        for name, value in where.items():
            query = query.where(getattr(AuditRecord, name) == value)
        return list(db.exec(query).all())


def test_a_plugin_that_opens_a_patient_name_leaves_a_record_of_the_user(
    client, clinic, carnet_db, staff, login_as
):
    # given a patient and a secretary logged in
    owner = staff("owner")
    [pid] = _patients(carnet_db, clinic, owner, "Lefèvre")
    secretary = staff("secretary")
    login_as(client, secretary)
    before = _records(carnet_db, clinic, patient_id=pid)
    # when the plugin's page loads the patient itself and opens two sealed fields
    answer = client.get(f"/sneaky/peek/{pid}")
    # then the name was shown, and one record (not one per field) names the user and the patient
    assert answer.status_code == 200 and answer.json() == {"name": "Lefèvre Camille"}
    after = _records(carnet_db, clinic, patient_id=pid)[len(before):]
    assert [(r.action, r.resource_type, r.actor_kind, r.actor_user_id) for r in after] == [
        ("read", "core_patient", "user", secretary.id)]
    assert after[0].resource_id == str(pid) and after[0].request_id
    assert after[0].details == '{"fields":["first_name","last_name"],"rows":1,"trace":"open","values":2}'


def test_one_record_per_patient_when_a_page_opens_many(client, clinic, carnet_db, staff, login_as):
    owner = staff("owner")
    ids = _patients(carnet_db, clinic, owner, "Martin", "Bernard", "Dubois")
    login_as(client, owner)
    seq = _records(carnet_db, clinic)[-1].seq
    assert client.get("/sneaky/peek-all").status_code == 200
    new = [r for r in _records(carnet_db, clinic) if r.seq > seq]
    assert sorted(r.patient_id for r in new if r.action == "read") == sorted(ids)
    assert {r.actor_user_id for r in new} == {owner.id}


def test_a_plugin_that_writes_a_sealed_field_without_audit_leaves_a_record(
    client, clinic, carnet_db, staff, login_as
):
    owner = staff("owner")
    [pid] = _patients(carnet_db, clinic, owner, "Lefèvre")
    login_as(client, owner)
    before = len(_records(carnet_db, clinic, patient_id=pid))
    assert client.post(f"/sneaky/scribble/{pid}").status_code == 201
    after = _records(carnet_db, clinic, patient_id=pid)[before:]
    assert [(r.action, r.resource_type, r.actor_kind, r.actor_user_id) for r in after] == [
        ("update", "core_patient", "user", owner.id)]
    assert '"trace":"write"' in after[0].details


def test_a_job_that_opens_a_patient_name_is_recorded_as_the_job(jobs_worker, clinic, carnet_db, staff):
    owner = staff("owner")
    [pid] = _patients(carnet_db, clinic, owner, "Lefèvre")
    with carnet_db.session(clinic_id=clinic.id) as db:
        enqueue(db, "sneaky.peek", pid)
    wait_for_jobs(jobs_worker)
    assert sneaky.SEEN == ["Lefèvre"]
    reads = _records(carnet_db, clinic, patient_id=pid, action="read")
    assert [(r.actor_kind, r.actor_id, r.resource_type) for r in reads] == [("job", "sneaky.peek", "core_patient")]


def test_system_work_without_a_principal_is_recorded_as_system(clinic, carnet_db, staff):
    owner = staff("owner")
    [pid] = _patients(carnet_db, clinic, owner, "Lefèvre")
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert open_(db, db.get(Patient, pid), "first_name") == "Camille"
    [read] = _records(carnet_db, clinic, patient_id=pid, action="read")
    assert (read.actor_kind, read.actor_id) == ("system", None)


def test_what_the_code_audits_itself_is_not_recorded_twice(client, clinic, carnet_db, staff, login_as):
    # the registry's own page opens every field of the file and records one "read" of the patient:
    # core adds nothing for that patient in that request
    owner = staff("owner")
    [pid] = _patients(carnet_db, clinic, owner, "Lefèvre")
    login_as(client, owner)
    before = len(_records(carnet_db, clinic, patient_id=pid))
    assert client.get(f"/patients/{pid}").status_code == 200
    after = _records(carnet_db, clinic, patient_id=pid)[before:]
    assert ("read", "patient") in [(r.action, r.resource_type) for r in after]
    assert not [r for r in after if '"trace"' in r.details]


def test_opens_of_a_request_that_rolls_back_are_recorded_all_the_same(clinic, carnet_db, staff):
    owner = staff("owner")
    [pid] = _patients(carnet_db, clinic, owner, "Lefèvre")
    with pytest.raises(RuntimeError), carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = f"user:{owner.id}"
        open_(db, db.get(Patient, pid), "last_name")
        raise RuntimeError("the action fails after showing the name")
    [read] = _records(carnet_db, clinic, patient_id=pid, action="read")
    assert (read.actor_kind, read.actor_user_id, read.resource_type) == ("user", owner.id, "core_patient")


def test_the_trace_keeps_the_chain_verifiable(client, clinic, carnet_db, carnet_settings, staff, login_as):
    from carnet_core.audit.integrity import verify_clinic

    owner = staff("owner")
    ids = _patients(carnet_db, clinic, owner, "Martin", "Bernard")
    login_as(client, owner)
    assert client.get("/sneaky/peek-all").status_code == 200
    assert client.post(f"/sneaky/scribble/{ids[0]}").status_code == 201
    with carnet_db.session(unscoped=True) as db:
        assert verify_clinic(db, clinic.id, carnet_settings.keys_dir).ok


def test_a_bulk_delete_is_traced_per_patient(clinic, carnet_db, staff):
    from sqlalchemy import delete

    from carnet_core.patients.models import PatientGuardian
    from carnet_core.patients.services import create_patient

    owner = staff("owner")
    registrar = Principal(kind="user", user_id=owner.id, clinic_id=clinic.id, roles=frozenset({"owner"}))
    with carnet_db.session(clinic_id=clinic.id) as db:
        pid = create_patient(db, registrar, {"last_name": "Petit", "first_name": "Léo", "guardians": [
            {"relation": "mother", "last_name": "Petit", "first_name": "Anne"},
            {"relation": "father", "last_name": "Petit", "first_name": "Marc"}]}).id
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = f"user:{owner.id}"
        db.exec(delete(PatientGuardian).where(PatientGuardian.patient_id == pid))
    [deleted] = _records(carnet_db, clinic, patient_id=pid, action="delete")
    assert (deleted.resource_type, deleted.actor_user_id) == ("core_patient_guardian", owner.id)
    assert deleted.details == '{"rows":2,"trace":"write"}'
