"""Signing links and codes by SMS, where enabled: the clinic's owner switched it on, SMS can leave
(a provider is installed: here core's stand-in, which leaves them in the SMS folder), the signer
has a phone, and the patient
did not refuse or withdraw "SMS reminders". The SMS carries its own link, whose one-time code comes
by SMS (the channel the link came through), never the form's title or text or anything about the
patient; the signature's evidence says "sms"."""

from __future__ import annotations

import json

import pytest
from consent_world import (
    CANARY,
    choose_settings,
    link_in,
    mail_text,
    mails_to,
    send_form,
    sign_through_sms,
    sms,
    sms_to,
)
from sqlmodel import select

from carnet_core.plugin_api import open_
from carnet_core.testing import AuditRecord, SmsGateway, wait_for_jobs

from carnet_consent.models import Request, Signature
from carnet_consent.services import settings as consent_settings
from carnet_consent.testing import sign_form


@pytest.fixture
def inline_plugins(inline_plugins, request):
    """An SMS provider is installed unless the test says `none` (parametrized indirectly)."""
    if getattr(request, "param", "gateway") == "gateway":
        inline_plugins.add("smsgateway", SmsGateway())
    return inline_plugins


ELODIE = "+33612345678"  # the adult's phone
CAMILLE = "+33611223344"  # the minor's mother; the father has no phone on file


def test_the_link_sent_by_sms_gets_its_code_by_sms_and_the_evidence_says_so(
        client, world, carnet_db, carnet_settings, jobs_worker):
    choose_settings(carnet_db, world, sms_links=True)
    request_id = send_form(carnet_db, world, "telesoin", world.adult)
    wait_for_jobs(jobs_worker)
    assert len(mails_to(carnet_settings, "elodie@example.org")) == 1  # the e-mail still goes
    assert len(sms_to(carnet_settings, ELODIE)) == 1
    done = sign_through_sms(client, carnet_settings, jobs_worker, ELODIE, {"clause_telesoin": "accept"}, "Élodie Lefèvre")
    assert done.status_code == 200 and "signature est enregistrée" in done.text
    # the code went by SMS, to the same number, not by e-mail
    assert len(sms_to(carnet_settings, ELODIE)) == 2
    assert len(mails_to(carnet_settings, "elodie@example.org")) == 1
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.get(Request, request_id).status == "complete"
        signature = db.exec(select(Signature).where(Signature.request_id == request_id)).one()
        evidence = json.loads(open_(db, signature, "evidence"))
        assert signature.channel == "sms" and evidence["channel"] == "sms" and evidence["code_verified_at"]
        sent = db.exec(select(AuditRecord).where(AuditRecord.action == "send",
                                                 AuditRecord.resource_type == "consent_signer")).all()
        details = [json.loads(r.details) for r in sent]
        assert sorted(d["kind"] for d in details if d.get("channel") == "sms") == ["code", "invitation"]
    # the e-mailed link of the same signer is closed too
    assert client.get(link_in(carnet_settings, "elodie@example.org", "s")).status_code == 410


def test_sms_bodies_carry_no_form_content_or_health_data(client, world, carnet_db, carnet_settings, jobs_worker):
    choose_settings(carnet_db, world, sms_links=True)
    send_form(carnet_db, world, "sms_reminders", world.adult)
    send_form(carnet_db, world, "telesoin", world.minor)
    wait_for_jobs(jobs_worker)
    sign_through_sms(client, carnet_settings, jobs_worker, ELODIE, {"clause_sms_reminders": "accept"}, "Élodie Lefèvre")
    bodies = [body for _, body in sms(carnet_settings)]
    assert len(bodies) == 3  # Élodie's link and code, Camille's link
    for body in bodies:
        assert len(body) <= 640
        for forbidden in (CANARY, "Rappels", "rappels", "Télésoin", "télésoin", "Lefèvre", "Élodie", "Garnier",
                          "Léo", "Camille"):
            assert forbidden not in body, (forbidden, body)
        assert "/consent/w/" in body  # every message carries the withdrawal link


def test_no_sms_unless_the_owner_enabled_it_and_the_signer_has_a_phone(
        client, world, carnet_db, carnet_settings, jobs_worker):
    send_form(carnet_db, world, "telesoin", world.minor)
    wait_for_jobs(jobs_worker)
    assert sms(carnet_settings) == []  # off by default
    assert len(mails_to(carnet_settings, "camille@example.org")) == 1
    choose_settings(carnet_db, world, sms_links=True)
    from carnet_consent.services import signing

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        request = db.exec(select(Request).where(Request.patient_id == world.minor)).one()
        signing.resend(db, request.id)
    wait_for_jobs(jobs_worker)
    assert [to for to, _ in sms(carnet_settings)] == [CAMILLE]  # the father has no phone: e-mail only
    assert len(mails_to(carnet_settings, "thomas@example.org")) == 2


def test_a_patient_who_withdrew_sms_reminders_gets_no_sms_link(
        client, world, carnet_db, carnet_settings, jobs_worker):
    from carnet_consent.services import decisions

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.adult, "sms_reminders")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        decisions.withdraw(db, world.adult, "sms_reminders", source="staff", actor=f"user:{world.owner.id}")
    choose_settings(carnet_db, world, sms_links=True)
    send_form(carnet_db, world, "telesoin", world.adult)
    wait_for_jobs(jobs_worker)
    assert sms(carnet_settings) == []
    assert len(mails_to(carnet_settings, "elodie@example.org")) == 1  # the e-mail goes as usual


def test_the_sms_job_asks_the_question_when_it_sends(client, world, carnet_db, carnet_settings, jobs_worker):
    """A withdrawal recorded after the e-mail planned its SMS twin is respected by the SMS job."""
    from carnet_core.plugin_api import enqueue

    from carnet_consent.models import Signer
    from carnet_consent.services import decisions

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.adult, "sms_reminders")
    send_form(carnet_db, world, "telesoin", world.adult)
    wait_for_jobs(jobs_worker)  # SMS off: the e-mail alone
    choose_settings(carnet_db, world, sms_links=True)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        signer = db.exec(select(Signer).where(Signer.status == "pending")).one()
        decisions.withdraw(db, world.adult, "sms_reminders", source="staff", actor=f"user:{world.owner.id}")
        enqueue(db, "consent.send_sms_link", signer.id, "invitation", "test-key")
    wait_for_jobs(jobs_worker)
    assert sms(carnet_settings) == []
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        signer = db.exec(select(Signer).where(Signer.status == "pending")).one()
        assert signer.sms_link_id is None  # no link issued either


@pytest.mark.parametrize("inline_plugins", ["none"], indirect=True)
def test_without_an_sms_provider_links_go_by_email_only_and_the_settings_page_says_so(
        client, world, carnet_db, carnet_settings, jobs_worker, plugin_host, login_as):
    assert consent_settings.sms_possible(plugin_host) is False
    choose_settings(carnet_db, world, sms_links=True)
    send_form(carnet_db, world, "telesoin", world.adult)
    wait_for_jobs(jobs_worker)
    assert sms(carnet_settings) == []  # never an SMS that would not leave
    assert len(mails_to(carnet_settings, "elodie@example.org")) == 1
    login_as(client, world.owner)
    page = client.get("/consent/settings")
    assert page.status_code == 200 and "Aucun fournisseur SMS n’est configuré" in page.text


def test_with_a_provider_the_settings_page_does_not_warn(client, world, plugin_host, login_as):
    assert consent_settings.sms_possible(plugin_host) is True
    login_as(client, world.owner)
    assert "Aucun fournisseur SMS" not in client.get("/consent/settings").text


def test_a_link_valid_until_the_first_of_a_month_says_1er_by_mail_and_sms(
        client, world, carnet_db, carnet_settings, jobs_worker, monkeypatch):
    """`valable jusqu'au 1er janvier 2027` (core's long_date, in the clinic's time zone), never `1 janvier`."""
    from carnet_core.plugin_api import utcnow
    from carnet_core.testing import first_in_french, first_of_a_month

    until = first_of_a_month(12, after_days=1, weekday_only=False)
    monkeypatch.setattr("carnet_consent.jobs.SIGN_VALID", until - utcnow())  # the links expire that day
    choose_settings(carnet_db, world, sms_links=True)
    send_form(carnet_db, world, "telesoin", world.adult)
    wait_for_jobs(jobs_worker)
    (mail,) = mails_to(carnet_settings, "elodie@example.org")
    (text,) = sms_to(carnet_settings, ELODIE)
    for body in (mail_text(mail), text):
        assert first_in_french(until).search(body), body
