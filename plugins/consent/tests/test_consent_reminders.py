"""Reminders for unsigned forms and resending a link: the periodic actor reminds each pending
signer once per step (3 and 7 days after sending), never after the form is signed or cancelled;
a resent link replaces the old one; the messages carry no form content or health data."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from consent_world import CANARY, link_in, mail_text, mails_to, send_form, sign_through_mail
from sqlmodel import select

from carnet_core.plugin_api import enqueue
from carnet_core.testing import AuditRecord, SmsGateway, csrf_token, wait_for_jobs

from carnet_consent.models import Request
from carnet_consent.services import signing


@pytest.fixture
def inline_plugins(inline_plugins):
    """An SMS provider (core's stand-in: SMS land in the folder) for the reminders by SMS."""
    inline_plugins.add("smsgateway", SmsGateway())
    return inline_plugins


def _age(carnet_db, world, request_id: int, days: float) -> None:
    """Pretend the request was sent `days` ago."""
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        request = db.get(Request, request_id)
        request.created_at = request.created_at - timedelta(days=days)
        db.add(request)


def _remind(carnet_db, world, jobs) -> None:
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        enqueue(db, "consent.remind_unsigned", world.clinic.id)
    wait_for_jobs(jobs)


def _count(settings, address: str) -> int:
    return len(mails_to(settings, address))


def test_an_unsigned_form_is_reminded_once_per_step_and_never_after_signing(
        client, world, carnet_db, carnet_settings, jobs_worker):
    request_id = send_form(carnet_db, world, "telesoin", world.minor)
    wait_for_jobs(jobs_worker)
    assert _count(carnet_settings, "camille@example.org") == 1
    _remind(carnet_db, world, jobs_worker)  # nothing due yet
    assert _count(carnet_settings, "camille@example.org") == 1
    first_link = link_in(carnet_settings, "camille@example.org", "s")

    _age(carnet_db, world, request_id, 3.1)
    _remind(carnet_db, world, jobs_worker)
    _remind(carnet_db, world, jobs_worker)  # a second run: the step was sent, nothing more
    for address in ("camille@example.org", "thomas@example.org"):
        assert _count(carnet_settings, address) == 2
        reminder = mails_to(carnet_settings, address)[-1]
        assert "rappel" in reminder["Subject"] and "Rappel" in mail_text(reminder) and CANARY not in mail_text(reminder)
        assert "Télésoin" not in mail_text(reminder)  # no form title or text in the message
    assert link_in(carnet_settings, "camille@example.org", "s") != first_link
    assert client.get(first_link).status_code == 410  # the reminder's fresh link replaced it

    done = sign_through_mail(client, carnet_settings, jobs_worker, "camille@example.org",
                             {"clause_telesoin": "accept"}, "Camille Garnier")
    assert done.status_code == 200
    _age(carnet_db, world, request_id, 4)  # now 7 days old: step 2 due
    _remind(carnet_db, world, jobs_worker)
    _remind(carnet_db, world, jobs_worker)
    codes_and_links = _count(carnet_settings, "camille@example.org")
    assert _count(carnet_settings, "thomas@example.org") == 3  # still to sign: the second reminder, once
    _age(carnet_db, world, request_id, 30)
    _remind(carnet_db, world, jobs_worker)
    assert _count(carnet_settings, "camille@example.org") == codes_and_links  # signed: never reminded
    assert _count(carnet_settings, "thomas@example.org") == 3  # both steps sent: no third


def test_a_late_first_run_sends_one_reminder_not_a_burst(client, world, carnet_db, carnet_settings, jobs_worker):
    request_id = send_form(carnet_db, world, "sms_reminders", world.adult)
    wait_for_jobs(jobs_worker)
    _age(carnet_db, world, request_id, 10)  # both steps due at the first run
    _remind(carnet_db, world, jobs_worker)
    _remind(carnet_db, world, jobs_worker)
    assert _count(carnet_settings, "elodie@example.org") == 2  # the invitation and one reminder


def test_a_cancelled_request_is_not_reminded(client, world, carnet_db, carnet_settings, jobs_worker):
    request_id = send_form(carnet_db, world, "sms_reminders", world.adult)
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        signing.cancel(db, request_id)
    _age(carnet_db, world, request_id, 8)
    _remind(carnet_db, world, jobs_worker)
    assert _count(carnet_settings, "elodie@example.org") == 1


def test_staff_resend_a_fresh_link_that_replaces_the_old_one(
        client, world, carnet_db, carnet_settings, jobs_worker, login_as):
    request_id = send_form(carnet_db, world, "sms_reminders", world.adult)
    wait_for_jobs(jobs_worker)
    old = link_in(carnet_settings, "elodie@example.org", "s")
    login_as(client, world.secretary)
    token = csrf_token(client, f"/consent/patients/{world.adult}")
    sent = client.post(f"/consent/requests/{request_id}/resend", data={"_csrf_token": token},
                       follow_redirects=False)
    assert sent.status_code == 303
    wait_for_jobs(jobs_worker)
    assert _count(carnet_settings, "elodie@example.org") == 2
    new = link_in(carnet_settings, "elodie@example.org", "s")
    assert new != old
    client.cookies.clear()
    assert client.get(old).status_code == 410
    assert client.get(new).status_code == 200
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert len(db.exec(select(AuditRecord).where(AuditRecord.action == "resend")).all()) == 1


def test_a_signed_request_cannot_be_resent(client, world, carnet_db, carnet_settings, jobs_worker, login_as):
    request_id = send_form(carnet_db, world, "sms_reminders", world.adult)
    wait_for_jobs(jobs_worker)
    sign_through_mail(client, carnet_settings, jobs_worker, "elodie@example.org",
                      {"clause_sms_reminders": "accept"}, "Élodie Lefèvre")
    before = _count(carnet_settings, "elodie@example.org")
    login_as(client, world.owner)
    token = csrf_token(client, f"/consent/patients/{world.adult}")
    refused = client.post(f"/consent/requests/{request_id}/resend", data={"_csrf_token": token},
                          follow_redirects=False)
    assert refused.status_code == 409
    wait_for_jobs(jobs_worker)
    assert _count(carnet_settings, "elodie@example.org") == before


def test_the_clinics_interval_reminds_once_per_step_by_email_and_sms_and_stops_when_signed(
        client, world, carnet_db, carnet_settings, jobs_worker):
    from consent_world import choose_settings, sms_to

    choose_settings(carnet_db, world, reminder_every_days=5, reminder_count=3, sms_links=True)
    request_id = send_form(carnet_db, world, "telesoin", world.adult)
    wait_for_jobs(jobs_worker)
    phone = "+33612345678"
    assert (_count(carnet_settings, "elodie@example.org"), len(sms_to(carnet_settings, phone))) == (1, 1)
    _age(carnet_db, world, request_id, 4.9)  # the default 3 days passed, the clinic's 5 not yet
    _remind(carnet_db, world, jobs_worker)
    assert (_count(carnet_settings, "elodie@example.org"), len(sms_to(carnet_settings, phone))) == (1, 1)
    _age(carnet_db, world, request_id, 0.2)  # 5.1 days: step 1
    _remind(carnet_db, world, jobs_worker)
    _remind(carnet_db, world, jobs_worker)
    assert (_count(carnet_settings, "elodie@example.org"), len(sms_to(carnet_settings, phone))) == (2, 2)
    assert "rappel" in sms_to(carnet_settings, phone)[-1] and CANARY not in sms_to(carnet_settings, phone)[-1]
    _age(carnet_db, world, request_id, 5)  # 10.1 days: step 2, once
    _remind(carnet_db, world, jobs_worker)
    _remind(carnet_db, world, jobs_worker)
    assert (_count(carnet_settings, "elodie@example.org"), len(sms_to(carnet_settings, phone))) == (3, 3)
    done = sign_through_mail(client, carnet_settings, jobs_worker, "elodie@example.org",
                             {"clause_telesoin": "accept"}, "Élodie Lefèvre")
    assert done.status_code == 200
    mails_now, sms_now = _count(carnet_settings, "elodie@example.org"), len(sms_to(carnet_settings, phone))
    _age(carnet_db, world, request_id, 30)  # step 3 and beyond: signed, nothing
    _remind(carnet_db, world, jobs_worker)
    assert (_count(carnet_settings, "elodie@example.org"), len(sms_to(carnet_settings, phone))) == (mails_now, sms_now)


def test_no_reminder_when_the_owner_chose_none_or_the_request_was_cancelled(
        client, world, carnet_db, carnet_settings, jobs_worker):
    from consent_world import choose_settings

    choose_settings(carnet_db, world, reminder_every_days=2, reminder_count=0)
    request_id = send_form(carnet_db, world, "telesoin", world.adult)
    wait_for_jobs(jobs_worker)
    _age(carnet_db, world, request_id, 20)
    _remind(carnet_db, world, jobs_worker)
    assert _count(carnet_settings, "elodie@example.org") == 1
    choose_settings(carnet_db, world, reminder_every_days=2, reminder_count=4)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        signing.cancel(db, request_id)
    _remind(carnet_db, world, jobs_worker)
    assert _count(carnet_settings, "elodie@example.org") == 1


def test_only_the_owner_sets_the_interval_and_a_wrong_value_is_refused_in_french(
        client, world, carnet_db, login_as):
    from carnet_consent.models import Setting

    login_as(client, world.secretary)
    token = csrf_token(client, "/consent/")
    assert client.post("/consent/settings", data={"_csrf_token": token, "reminder_every_days": "4",
                                                  "reminder_count": "2"}).status_code == 403
    client.cookies.clear()
    token = login_as(client, world.owner)
    page = client.get("/consent/settings")
    assert page.status_code == 200 and 'name="reminder_every_days"' in page.text and 'value="3"' in page.text
    for every, count, field, message in (("0", "2", "reminder_every_days", "entre 1 et 30"),
                                         ("31", "2", "reminder_every_days", "entre 1 et 30"),
                                         ("trois", "2", "reminder_every_days", "entre 1 et 30"),
                                         ("3", "6", "reminder_count", "entre 0 et 5"),
                                         ("3", "-1", "reminder_count", "entre 0 et 5")):
        refused = client.post("/consent/settings", data={"_csrf_token": token, "sms_links": "1",
                                                         "reminder_every_days": every, "reminder_count": count})
        assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
        assert message in refused.text and f'aria-describedby="err-{field}"' in refused.text
        assert "Rien n’a été enregistré" in refused.text or "Rien n’a été enregistré" in refused.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Setting)).all() == []  # nothing written
        assert db.exec(select(AuditRecord).where(AuditRecord.resource_type == "consent_setting")).all() == []
    saved = client.post("/consent/settings", data={"_csrf_token": token, "accesses_view": "1", "sms_links": "1",
                                                   "reminder_every_days": "7", "reminder_count": "1"},
                        follow_redirects=True)
    assert saved.status_code == 200 and "Paramètres enregistrés" in saved.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        row = db.exec(select(Setting)).one()
        assert (row.reminder_every_days, row.reminder_count, row.sms_links) == (7, 1, True)
        change = db.exec(select(AuditRecord).where(AuditRecord.resource_type == "consent_setting")).one()
        details = json.loads(change.details)
        assert details["reminder_every_days"] == 7 and details["sms_links"] is True


def test_a_resent_link_gets_its_own_first_code(client, world, carnet_db, carnet_settings, jobs_worker):
    """A code asked on the first link, then a resend: the new link's first code is sent too (the
    code job's key is the link's, not the signer's: a new link starts its codes again at 1)."""
    import re

    from consent_world import code_in

    request_id = send_form(carnet_db, world, "sms_reminders", world.adult)
    wait_for_jobs(jobs_worker)
    old = link_in(carnet_settings, "elodie@example.org", "s")
    version_id = re.search(r'name="version_id" value="(\d+)"', client.get(old).text).group(1)
    asked = client.post(f"{old}/code", data={"_csrf_token": csrf_token(client, old), "version_id": version_id,
                                             "full_name": "Élodie Lefèvre", "clause_sms_reminders": "accept"})
    assert asked.status_code == 200
    wait_for_jobs(jobs_worker)
    assert code_in(carnet_settings, "elodie@example.org")  # the first link's code came
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        signing.resend(db, request_id)
    wait_for_jobs(jobs_worker)
    done = sign_through_mail(client, carnet_settings, jobs_worker, "elodie@example.org",
                             {"clause_sms_reminders": "accept"}, "Élodie Lefèvre")
    assert done.status_code == 200 and "signature est enregistrée" in done.text
    assert _count(carnet_settings, "elodie@example.org") == 4  # invitation, code, new link, its code
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.get(Request, request_id).status == "complete"
