"""'Who looked at my file', for the patient: through the link of a consent message and a one-time
code sent to the same address, the accesses to their own file (when, which staff member and role,
what kind of access, in French), never another patient's; single use; viewing is audited."""

from __future__ import annotations

import re

from consent_world import code_in, link_in, mail_text, mails_to, owner_principal
from litestar.testing import TestClient
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
    # when: in the clinic's time zone (Paris is never UTC), not marked UTC
    from zoneinfo import ZoneInfo
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        moments = db.exec(select(AuditRecord.occurred_at).where(AuditRecord.patient_id == world.adult)).all()
    paris = {f"{m.astimezone(ZoneInfo('Europe/Paris')):%d/%m/%Y %H:%M}" for m in moments}
    assert set(re.findall(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", shown.text)) <= paris and "UTC" not in shown.text
    # a question about an access goes to the practice as a request about one's data
    ask = f'/p/{world.clinic.slug}/consent/rights'
    assert f'href="{ask}"' in shown.text and "Une question sur l’un de ces accès" in shown.text
    assert client.get(ask).status_code == 200
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


def test_the_owner_switches_the_accesses_page_off_and_on(client, world, carnet_db, carnet_settings, jobs_worker,
                                                           login_as, app):
    """Off: a link already sent opens a clear page (no code sent, nothing shown), new messages carry
    no such link; on again: the page works. Only owners reach the switch; the change is audited."""
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        signing.send(db, owner_principal(world.clinic.id, world.owner.id), world.forms["care"], world.adult)
    wait_for_jobs(jobs_worker)
    sent_before = link_in(carnet_settings, "elodie@example.org", "a")
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as secretary:
        login_as(secretary, world.secretary)
        assert secretary.get("/consent/settings").status_code == 403
    staff = TestClient(app=app, base_url="http://127.0.0.1:8000")
    token = login_as(staff, world.owner)
    page = staff.get("/consent/settings")
    assert page.status_code == 200 and 'name="accesses_view" value="1" checked' in page.text  # on by default
    saved = staff.post("/consent/settings", data={"_csrf_token": token, "reminder_every_days": "3",
                                                  "reminder_count": "2"}, follow_redirects=True)
    assert saved.status_code == 200 and "Paramètres enregistrés" in saved.text
    assert 'name="accesses_view" value="1" checked' not in saved.text

    off = client.get(sent_before)
    assert off.status_code == 403 and "pas proposée par le cabinet" in off.text
    csrf = csrf_token(client, "/login")  # the public page is a refusal: any session's token will do
    assert client.post(f"{sent_before}/code", data={"_csrf_token": csrf}).status_code == 403
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        signing.send(db, owner_principal(world.clinic.id, world.owner.id), world.forms["telesoin"], world.adult)
    wait_for_jobs(jobs_worker)
    newest = mail_text(mails_to(carnet_settings, "elodie@example.org")[-1])
    assert "/consent/s/" in newest and "/consent/a/" not in newest and "Qui a consulté" not in newest

    staff.post("/consent/settings", data={"_csrf_token": token, "accesses_view": "1", "reminder_every_days": "3",
                                          "reminder_count": "2"})
    again = client.get(sent_before)
    assert again.status_code == 200 and "Recevoir un code" in again.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        changes = db.exec(select(AuditRecord).where(AuditRecord.resource_type == "consent_setting")).all()
        assert [c.action for c in changes] == ["update", "update"]
