"""Sending and signing without an account, over HTTP with the mail folder: a minor's form that
needs both parents is complete only after each signs through their own link and code; evidence
stored per signature; links and codes expire, work once, and lock after wrong tries; no form
content or health data in any message."""

from __future__ import annotations

import json
import re

from consent_world import CANARY, code_in, link_in, mail_text, mails
from consent_world import send_form as _send
from consent_world import sign_through_mail as _sign_through_mail
from sqlmodel import select

from carnet_core.plugin_api import open_
from carnet_core.testing import AuditRecord, csrf_token, wait_for_jobs

from carnet_consent.models import Decision, Request, Signature, Signer

SIGN_FORM = {"clause_telesoin": "accept", "full_name": "Camille Garnier"}


def test_a_minors_form_needing_both_parents_is_complete_only_after_both_sign(
        client, world, carnet_db, carnet_settings, jobs_worker):
    request_id = _send(carnet_db, world, "telesoin", world.minor)
    wait_for_jobs(jobs_worker)
    # each parent has their own link; nobody else got one
    assert link_in(carnet_settings, "camille@example.org", "s") != link_in(carnet_settings, "thomas@example.org", "s")
    done = _sign_through_mail(client, carnet_settings, jobs_worker, "camille@example.org",
                              {"clause_telesoin": "accept"}, "Camille Garnier")
    assert done.status_code == 200 and "signature est enregistrée" in done.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.get(Request, request_id).status == "pending"
        assert db.exec(select(Decision).where(Decision.patient_id == world.minor)).all() == []
    done = _sign_through_mail(client, carnet_settings, jobs_worker, "thomas@example.org",
                              {"clause_telesoin": "accept"}, "Thomas Garnier")
    assert done.status_code == 200
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        request = db.get(Request, request_id)
        assert request.status == "complete" and request.completed_at is not None
        decision = db.exec(select(Decision).where(Decision.patient_id == world.minor)).one()
        assert decision.purpose == "telesoin" and decision.allowed and decision.source == "signature"
        signatures = db.exec(select(Signature).where(Signature.request_id == request_id)).all()
        assert len(signatures) == 2
        evidence = json.loads(open_(db, signatures[0], "evidence"))
        assert evidence["typed_name"] == "Camille Garnier" and evidence["signer"]["relation"] == "mother"
        assert evidence["channel"] == "email" and evidence["code_verified_at"]
        assert evidence["address"] and evidence["user_agent"]
        assert evidence["version"]["hash"] == signatures[0].version_hash and len(signatures[0].version_hash) == 64
        assert json.loads(open_(db, signatures[0], "answers")) == {"telesoin": True}
        audit = db.exec(select(AuditRecord).where(AuditRecord.seq == signatures[0].audit_seq,
                                                 AuditRecord.clinic_id == world.clinic.id)).one()
        assert audit.action == "sign" and audit.patient_id == world.minor
    # the same link cannot sign twice
    path = link_in(carnet_settings, "camille@example.org", "s")
    assert client.get(path).status_code == 410


def test_when_one_parent_refuses_a_clause_the_answer_is_no(client, world, carnet_db, carnet_settings, jobs_worker):
    _send(carnet_db, world, "telesoin", world.minor)
    wait_for_jobs(jobs_worker)
    _sign_through_mail(client, carnet_settings, jobs_worker, "camille@example.org", {"clause_telesoin": "accept"},
                       "Camille Garnier")
    _sign_through_mail(client, carnet_settings, jobs_worker, "thomas@example.org", {"clause_telesoin": "refuse"},
                       "Thomas Garnier")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        decision = db.exec(select(Decision).where(Decision.patient_id == world.minor)).one()
        assert decision.allowed is False


def test_an_adult_signs_alone_and_messages_carry_no_form_content_or_health_data(
        client, world, carnet_db, carnet_settings, jobs_worker):
    _send(carnet_db, world, "sms_reminders", world.adult)
    wait_for_jobs(jobs_worker)
    done = _sign_through_mail(client, carnet_settings, jobs_worker, "elodie@example.org",
                              {"clause_sms_reminders": "accept"}, "Élodie Lefèvre")
    assert done.status_code == 200
    everything = "\n".join(mail_text(m) + str(m["Subject"]) for m in mails(carnet_settings))
    assert {str(m["Subject"]) for m in mails(carnet_settings)} == {
        f"{world.clinic.name} : un document à signer", f"{world.clinic.name} : votre code de signature"}
    for forbidden in (CANARY, "SMS", "Rappels", "rappels", "télésoin", "Lefèvre", "Élodie"):
        assert forbidden not in everything, forbidden


def test_a_wrong_code_is_refused_counted_and_locks_after_five(client, world, carnet_db, carnet_settings, jobs_worker):
    _send(carnet_db, world, "sms_reminders", world.adult)
    wait_for_jobs(jobs_worker)
    path = link_in(carnet_settings, "elodie@example.org", "s")
    page = client.get(path)
    version_id = re.search(r'name="version_id" value="(\d+)"', page.text).group(1)
    token = csrf_token(client, path)
    form = {"_csrf_token": token, "version_id": version_id, "full_name": "Élodie Lefèvre",
            "clause_sms_reminders": "accept"}
    assert client.post(f"{path}/code", data=form).status_code == 200
    wait_for_jobs(jobs_worker)
    code = code_in(carnet_settings, "elodie@example.org")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        refused = client.post(f"{path}/sign", data={**form, "code": wrong})
        assert refused.status_code == 400 and "pas le bon" in refused.text
    locked = client.post(f"{path}/sign", data={**form, "code": code})
    assert locked.status_code == 429 and "verrouillé" in locked.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Signature)).all() == []
        assert db.exec(select(Signer).where(Signer.patient_id == world.adult)).one().status == "pending"


def test_unanswered_clauses_and_a_missing_name_come_back_in_french(client, world, carnet_db, carnet_settings,
                                                                   jobs_worker):
    _send(carnet_db, world, "sms_reminders", world.adult)
    wait_for_jobs(jobs_worker)
    path = link_in(carnet_settings, "elodie@example.org", "s")
    page = client.get(path)
    version_id = re.search(r'name="version_id" value="(\d+)"', page.text).group(1)
    refused = client.post(f"{path}/code", data={"_csrf_token": csrf_token(client, path), "version_id": version_id})
    assert refused.status_code == 422 and "Acceptez ou refusez" in refused.text and "Saisissez vos prénom et nom" in refused.text
    wait_for_jobs(jobs_worker)
    assert len(mails(carnet_settings)) == 1  # the invitation only: no code sent


def test_unknown_and_expired_links_get_clear_pages(client, world, carnet_db, carnet_settings, jobs_worker):
    base = f"/p/{world.clinic.slug}/consent"
    assert client.get(f"{base}/s/{'x' * 43}").status_code == 404
    _send(carnet_db, world, "sms_reminders", world.adult)
    wait_for_jobs(jobs_worker)
    path = link_in(carnet_settings, "elodie@example.org", "s")
    from datetime import timedelta

    from carnet_core.plugin_api import links, utcnow
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        signer = db.exec(select(Signer)).one()
        link = db.exec(select(links.PatientLink).where(links.PatientLink.id == signer.link_id)).one()
        link.expires_at = utcnow() - timedelta(minutes=1)
        db.add(link)
    expired = client.get(path)
    assert expired.status_code == 410 and "expiré" in expired.text


def test_a_version_published_while_reading_is_shown_instead(client, world, carnet_db, carnet_settings, jobs_worker):
    from carnet_consent.services import forms

    _send(carnet_db, world, "sms_reminders", world.adult)
    wait_for_jobs(jobs_worker)
    path = link_in(carnet_settings, "elodie@example.org", "s")
    page = client.get(path)
    old_version = re.search(r'name="version_id" value="(\d+)"', page.text).group(1)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        template = forms.get_template(db, world.forms["sms_reminders"])
        forms.save_draft(db, template.id, {"title": template.title, "body": template.body + "\n\nNouveau paragraphe.",
                                           "signers": template.signers, "clauses": json.loads(template.clauses)})
        forms.publish(db, template.id, world.owner.id)
    again = client.post(f"{path}/code", data={"_csrf_token": csrf_token(client, path), "version_id": old_version,
                                              "full_name": "Élodie Lefèvre", "clause_sms_reminders": "accept"})
    assert again.status_code == 409 and "Nouveau paragraphe" in again.text and "nouvelle version" in again.text


def test_patients_pages_show_no_staff_login(client, world, carnet_db, carnet_settings, jobs_worker):
    """A patient has no account: the signing, withdrawal and request pages, and core's page for a
    refused link, never offer the staff login, nor the logo's link to the staff home (core's shell
    knows a patient-side page)."""
    _send(carnet_db, world, "sms_reminders", world.adult)
    wait_for_jobs(jobs_worker)
    slug = world.clinic.slug
    pages = [link_in(carnet_settings, "elodie@example.org", "s"), link_in(carnet_settings, "elodie@example.org", "w"),
             f"/p/{slug}/consent/rights", f"/p/{slug}/consent/s/not-a-real-token", f"/p/{slug}/consent/no-such-page"]
    for path in pages:
        shown = client.get(path)
        assert shown.status_code in (200, 404) and "<header" in shown.text, path
        assert 'href="/login"' not in shown.text and "Se connecter" not in shown.text, path
        assert 'href="/"' not in shown.text and 'class="public-header"' in shown.text, path  # the practice, not Carnet's logo
    staff = client.get("/").text
    assert 'href="/login"' in staff and '<a class="brand" href="/">' in staff  # the staff side keeps them
