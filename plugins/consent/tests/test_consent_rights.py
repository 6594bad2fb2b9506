"""The register of patients' RGPD requests: legal deadlines computed (8 days or 2 months for an
access, 1 month otherwise, extended once by 2 months with a reason), overdue and due-soon warned,
an access request answered with core's export through an expiring, single-use link with a
one-time code (no health data in the messages), bad input refused with nothing written, every
step audited."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from consent_world import CANARY, code_in, mail_text, mails_to
from sqlmodel import select

from carnet_core.plugin_api import links
from carnet_core.testing import AuditRecord, csrf_token, wait_for_jobs

from carnet_consent.models import RightsRequest
from carnet_consent.services import rights

RECEIVED = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)


def test_legal_deadlines():
    assert rights.legal_deadline("access", RECEIVED) == RECEIVED + timedelta(days=8)
    assert rights.legal_deadline("access", RECEIVED, old_data=True) == datetime(2027, 3, 31, 12, 0, tzinfo=UTC)
    for kind in ("rectification", "erasure", "objection", "portability", "restriction"):
        assert rights.legal_deadline(kind, RECEIVED) == datetime(2027, 2, 28, 12, 0, tzinfo=UTC)  # calendar month


def _form(client, patient_id: int, **values):
    path = f"/consent/patients/{patient_id}/rights"
    token = csrf_token(client, path)
    return client.post(path, data={"_csrf_token": token, **values}, follow_redirects=False)


def _audit(carnet_db, world, action: str) -> list:
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return db.exec(select(AuditRecord).where(AuditRecord.resource_type == "consent_rights_request",
                                                 AuditRecord.action == action)).all()


def test_a_request_is_recorded_with_its_deadline_extended_once_with_a_reason_and_decided(
        client, world, carnet_db, login_as):
    login_as(client, world.owner)
    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
    made = _form(client, world.adult, kind="rectification", requester="patient", identity_check="in_person",
                 received_on=ten_days_ago, details="Mon adresse a changé")
    assert made.status_code == 303, made.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        row = db.exec(select(RightsRequest)).one()
        assert row.due_at.date() > datetime.now(UTC).date() and row.status == "open"
        assert b"adresse" not in row.details  # sealed
        request_id = row.id
    page = client.get(f"/consent/rights/{request_id}")
    assert page.status_code == 200 and "Mon adresse a changé" in page.text
    token = csrf_token(client, f"/consent/rights/{request_id}")
    no_reason = client.post(f"/consent/rights/{request_id}/extend", data={"_csrf_token": token, "reason": ""}, follow_redirects=False)
    assert no_reason.status_code == 422
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.get(RightsRequest, request_id).extended_at is None
    extended = client.post(f"/consent/rights/{request_id}/extend",
                           data={"_csrf_token": token, "reason": "Demande complexe"}, follow_redirects=False)
    assert extended.status_code == 303
    again = client.post(f"/consent/rights/{request_id}/extend", data={"_csrf_token": token, "reason": "Encore"}, follow_redirects=False)
    assert again.status_code == 422
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        row = db.get(RightsRequest, request_id)
        assert row.due_at == row.received_at + rights.EXTENDED
    refused = client.post(f"/consent/rights/{request_id}/decide",
                          data={"_csrf_token": token, "decision": "refused", "decision_reason": ""}, follow_redirects=False)
    assert refused.status_code == 422  # a refusal needs its reason
    done = client.post(f"/consent/rights/{request_id}/decide",
                       data={"_csrf_token": token, "decision": "answered", "decision_reason": "Adresse corrigée"}, follow_redirects=False)
    assert done.status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        row = db.get(RightsRequest, request_id)
        assert row.status == "answered" and row.handled_by == world.owner.id and row.answered_at
    assert [len(_audit(carnet_db, world, a)) for a in ("create", "extend", "decide")] == [1, 1, 1]


def test_bad_input_writes_nothing(client, world, carnet_db, login_as):
    login_as(client, world.owner)
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    for values in ({"kind": "dance", "requester": "patient", "identity_check": "in_person"},
                   {"kind": "access", "requester": "nobody", "identity_check": "in_person"},
                   {"kind": "access", "requester": "patient", "identity_check": "guess"},
                   {"kind": "access", "requester": "patient", "identity_check": "in_person", "received_on": future},
                   {"kind": "access", "requester": "patient", "identity_check": "in_person", "received_on": "hier"},
                   {"kind": "access", "requester": "patient", "identity_check": "in_person", "details": "x" * 2100}):
        answer = _form(client, world.adult, **values)
        assert answer.status_code == 422, values
        assert "text/html" in answer.headers["content-type"]
    assert _form(client, 999999, kind="access", requester="patient", identity_check="in_person").status_code == 404
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(RightsRequest)).all() == []


def test_overdue_and_due_soon_requests_are_warned(client, world, carnet_db, login_as):
    login_as(client, world.owner)
    long_ago = (datetime.now(UTC) - timedelta(days=20)).date().isoformat()
    six_days = (datetime.now(UTC) - timedelta(days=6)).date().isoformat()
    assert _form(client, world.adult, kind="access", requester="patient", identity_check="id_document",
                 received_on=long_ago).status_code == 303  # 8 days: overdue
    assert _form(client, world.minor, kind="access", requester="parent", identity_check="in_person",
                 received_on=six_days).status_code == 303  # due in 2 days
    assert _form(client, world.adult, kind="objection", requester="patient", identity_check="in_person"
                 ).status_code == 303  # a month ahead
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert rights.warnings(db) == {"overdue": 1, "due_soon": 1}
    register = client.get("/consent/rights")
    assert register.status_code == 200
    assert "dépassé le délai légal" in register.text and "à rendre sous 3 jours" in register.text
    assert "1 demande RGPD a dépassé le délai légal" in client.get("/consent/").text  # the module's home warns too


def test_an_access_request_delivers_the_export_through_a_single_use_link_with_a_code(
        client, world, carnet_db, carnet_settings, jobs_worker, login_as):
    login_as(client, world.owner)
    assert _form(client, world.adult, kind="access", requester="patient",
                 identity_check="id_document").status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        request_id = db.exec(select(RightsRequest)).one().id
    token = csrf_token(client, f"/consent/rights/{request_id}")
    assert client.post(f"/consent/rights/{request_id}/deliver", data={"_csrf_token": token}, follow_redirects=False).status_code == 303
    # asked twice while the link is unused: refused, nothing enqueued twice
    assert client.post(f"/consent/rights/{request_id}/deliver", data={"_csrf_token": token}, follow_redirects=False).status_code == 422
    wait_for_jobs(jobs_worker)
    sent = mails_to(carnet_settings, "elodie@example.org")
    assert len(sent) == 1
    body = mail_text(sent[0])
    assert CANARY not in body and "Lefèvre" not in body and "Élodie" not in body
    path = re.search(rf"{re.escape(carnet_settings.base_url)}(/p/\S+/consent/r/\S+)", body).group(1)
    client.cookies.clear()
    assert client.get(path).status_code == 200
    public_token = csrf_token(client, path)
    assert client.post(f"{path}/code", data={"_csrf_token": public_token}).status_code == 200
    wait_for_jobs(jobs_worker)
    code = code_in(carnet_settings, "elodie@example.org")
    for msg in mails_to(carnet_settings, "elodie@example.org"):
        assert CANARY not in mail_text(msg)
    wrong = client.post(path, data={"_csrf_token": public_token, "code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 400
    got = client.post(path, data={"_csrf_token": public_token, "code": code})
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/json")
    assert "attachment" in got.headers["content-disposition"]
    export = json.loads(got.content)
    assert export["patient"]["notes"] == CANARY and "plugins" in export  # core's export, every module's part
    # single use: the same link again is refused with core's clear page
    again = client.get(path)
    assert again.status_code == 410
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        row = db.get(RightsRequest, request_id)
        assert row.downloaded_at is not None and row.export is not None and CANARY.encode() not in row.export
        exports = db.exec(select(AuditRecord).where(AuditRecord.action == "export",
                                                    AuditRecord.patient_id == world.adult)).all()
        assert len(exports) == 1
        downloads = db.exec(select(AuditRecord).where(AuditRecord.action == "download",
                                                      AuditRecord.resource_type == "consent_rights_request")).all()
        assert len(downloads) == 1
    assert len(_audit(carnet_db, world, "deliver")) >= 1


def test_an_expired_export_link_is_refused(client, world, carnet_db, carnet_settings, jobs_worker, login_as):
    login_as(client, world.owner)
    assert _form(client, world.adult, kind="portability", requester="patient",
                 identity_check="known_address").status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        request_id = db.exec(select(RightsRequest)).one().id
    token = csrf_token(client, f"/consent/rights/{request_id}")
    client.post(f"/consent/rights/{request_id}/deliver", data={"_csrf_token": token}, follow_redirects=False)
    wait_for_jobs(jobs_worker)
    body = mail_text(mails_to(carnet_settings, "elodie@example.org")[-1])
    path = re.search(rf"{re.escape(carnet_settings.base_url)}(/p/\S+/consent/r/\S+)", body).group(1)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        link = db.exec(select(links.PatientLink).where(links.PatientLink.purpose == rights.DELIVERY)).one()
        link.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        db.add(link)
    client.cookies.clear()
    assert client.get(path).status_code == 410


def test_a_secretary_records_but_does_not_decide_or_deliver(client, world, carnet_db, login_as):
    login_as(client, world.secretary)
    assert client.get("/consent/rights").status_code == 200
    assert _form(client, world.adult, kind="erasure", requester="patient",
                 identity_check="in_person").status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        request_id = db.exec(select(RightsRequest)).one().id
    token = csrf_token(client, f"/consent/rights/{request_id}")
    for action in ("extend", "decide", "deliver"):
        assert client.post(f"/consent/rights/{request_id}/{action}",
                           data={"_csrf_token": token, "reason": "x", "decision": "answered"}, follow_redirects=False).status_code == 403
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        row = db.get(RightsRequest, request_id)
        assert row.status == "open" and row.extended_at is None
