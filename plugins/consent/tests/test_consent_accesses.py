"""'Who looked at my file', for the patient: through the link of a consent message and a one-time
code sent to the same address, the accesses to their own file (when, which staff member and role,
what kind of access, in French), never another patient's; single use; viewing is audited."""

from __future__ import annotations

import re

from consent_world import code_in, link_in, owner_principal
from sqlmodel import select

from carnet_core.plugin_api import patient_access
from carnet_core.testing import AuditRecord, csrf_token, wait_for_jobs

from carnet_consent.services import signing


def test_a_patient_sees_the_accesses_to_their_own_file_and_never_another_patients(
        client, world, carnet_db, carnet_settings, jobs_worker):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        who = owner_principal(world.clinic.id, world.owner.id)
        signing.send(db, who, world.forms["care"], world.adult)
    with carnet_db.session(clinic_id=world.clinic.id) as db:  # the secretary opens the minor's file only
        db.info["principal"] = f"user:{world.secretary.id}"
        patient_access(db, owner_principal(world.clinic.id, world.secretary.id)).contact(world.minor)
    wait_for_jobs(jobs_worker)
    path = link_in(carnet_settings, "elodie@example.org", "a")
    first = client.get(path)
    assert first.status_code == 200 and "Recevoir un code" in first.text
    token = csrf_token(client, path)
    asked = client.post(f"{path}/code", data={"_csrf_token": token})
    assert asked.status_code == 200 and "Voir les accès" in asked.text
    wait_for_jobs(jobs_worker)
    code = code_in(carnet_settings, "elodie@example.org")
    wrong = client.post(path, data={"_csrf_token": token, "code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 400 and "pas le bon" in wrong.text
    shown = client.post(path, data={"_csrf_token": token, "code": code})
    assert shown.status_code == 200 and "Qui a consulté votre dossier" in shown.text
    owner_name, secretary_name = world.owner.email.split("@")[0], world.secretary.email.split("@")[0]
    assert f"{owner_name} (titulaire du cabinet, praticien)" in shown.text  # who, with their roles
    assert "message envoyé" in shown.text and "consulté" in shown.text  # what kind of access, in French
    assert secretary_name not in shown.text  # she opened another patient's file
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", shown.text)
    # single use, and the viewing is itself in the trail
    assert client.post(path, data={"_csrf_token": token, "code": code}).status_code == 410
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        viewed = db.exec(select(AuditRecord).where(AuditRecord.resource_type == "patient_accesses",
                                                   AuditRecord.action == "read",
                                                   AuditRecord.patient_id == world.adult)).all()
        assert len(viewed) == 1


def test_the_accesses_link_of_a_parent_shows_the_childs_file_only(client, world, carnet_db, carnet_settings,
                                                                  jobs_worker):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        signing.send(db, owner_principal(world.clinic.id, world.owner.id), world.forms["telesoin"], world.minor)
    wait_for_jobs(jobs_worker)
    path = link_in(carnet_settings, "camille@example.org", "a")
    token = csrf_token(client, path)
    client.post(f"{path}/code", data={"_csrf_token": token})
    wait_for_jobs(jobs_worker)
    shown = client.post(path, data={"_csrf_token": token, "code": code_in(carnet_settings, "camille@example.org")})
    assert shown.status_code == 200
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        viewed = db.exec(select(AuditRecord).where(AuditRecord.resource_type == "patient_accesses",
                                                   AuditRecord.action == "read")).one()
        assert viewed.patient_id == world.minor
