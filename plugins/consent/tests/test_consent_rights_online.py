"""A patient's RGPD request from the clinic's public page, without an account: the page tells
nobody who is a patient, the personal link goes only to the address on file (the patient's, or a
parent's), a one-time code confirms it, the request lands in the register with its legal deadline
and "checked through a personal link"; links are single use, URLs carry no patient data, messages
no health data, and the page is rate-limited."""

from __future__ import annotations

import re
from datetime import timedelta

from consent_world import CANARY, code_in, link_in, mail_text, mails_to
from sqlmodel import select

from carnet_core.testing import AuditRecord, csrf_token, wait_for_jobs

from carnet_consent.models import RightsRequest

PAGE = "/p/cabinet-consent/consent/rights"


def _ask(client, **values):
    token = csrf_token(client, PAGE)
    return client.post(PAGE, data={"_csrf_token": token, **values})


def _requests(carnet_db, world) -> list[RightsRequest]:
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return list(db.exec(select(RightsRequest)))


def test_a_patient_files_an_access_request_from_the_public_page(client, world, carnet_db, carnet_settings,
                                                                 jobs_worker):
    page = client.get(PAGE)
    assert page.status_code == 200 and "Recevoir un lien personnel" in page.text
    bad = _ask(client, last_name="", email="pas-une-adresse")
    assert bad.status_code == 422 and "nom de famille" in bad.text and "adresse e-mail" in bad.text
    unknown = _ask(client, last_name="Inconnu", email="elodie@example.org")
    known = _ask(client, last_name="lefèvre", email="Elodie@Example.org")
    assert unknown.status_code == known.status_code == 200
    sentence = "Si ces informations correspondent à un dossier du cabinet"
    assert sentence in unknown.text and sentence in known.text  # the same answer: no one learns who is a patient
    wait_for_jobs(jobs_worker)
    received = mails_to(carnet_settings, "elodie@example.org")
    assert len(received) == 1  # one link, for the matching submission only
    body = mail_text(received[0])
    for secret in (CANARY, "Lefèvre", "Élodie", "accès"):
        assert secret not in body and secret not in received[0]["Subject"]
    path = link_in(carnet_settings, "elodie@example.org", "rights")
    assert re.fullmatch(r"/p/cabinet-consent/consent/rights/[A-Za-z0-9_-]{40,64}", path)  # a token, no data
    assert not _requests(carnet_db, world)  # nothing recorded before the code

    opened = client.get(path)
    assert opened.status_code == 200 and "Recevoir un code" in opened.text
    token = csrf_token(client, path)
    form = client.post(f"{path}/code", data={"_csrf_token": token})
    assert form.status_code == 200 and "Que demandez-vous" in form.text
    wait_for_jobs(jobs_worker)
    code = code_in(carnet_settings, "elodie@example.org")
    no_kind = client.post(path, data={"_csrf_token": token, "code": code, "details": "Tout mon dossier"})
    assert no_kind.status_code == 422 and "Tout mon dossier" in no_kind.text  # the code is not spent
    wrong = client.post(path, data={"_csrf_token": token, "code": "000000" if code != "000000" else "111111",
                                    "kind": "access"})
    assert wrong.status_code == 400 and "pas le bon" in wrong.text
    assert not _requests(carnet_db, world)
    done = client.post(path, data={"_csrf_token": token, "code": code, "kind": "access",
                                   "details": "Tout mon dossier"})
    assert done.status_code == 200 and "Votre demande est enregistrée" in done.text, done.text
    [row] = _requests(carnet_db, world)
    assert (row.patient_id, row.kind, row.requester, row.identity_check, row.status) == (
        world.adult, "access", "patient", "signed_link", "open")
    assert row.due_at - row.received_at == timedelta(days=8)  # the legal deadline for an access
    assert b"dossier" not in row.details  # sealed
    assert client.post(path, data={"_csrf_token": token, "code": code, "kind": "access"}).status_code == 410
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        created = db.exec(select(AuditRecord).where(AuditRecord.resource_type == "consent_rights_request",
                                                    AuditRecord.action == "create",
                                                    AuditRecord.resource_id == str(row.id))).all()
        assert {(c.patient_id, c.actor_kind) for c in created} == {(world.adult, "patient_link")}


def test_a_parent_files_a_request_for_a_child_through_the_address_on_file(client, world, carnet_db,
                                                                          carnet_settings, jobs_worker):
    assert _ask(client, last_name="Garnier", email="thomas@example.org").status_code == 200
    wait_for_jobs(jobs_worker)
    assert not mails_to(carnet_settings, "camille@example.org")  # only the address typed and on file
    path = link_in(carnet_settings, "thomas@example.org", "rights")
    token = csrf_token(client, path)
    client.post(f"{path}/code", data={"_csrf_token": token})
    wait_for_jobs(jobs_worker)
    done = client.post(path, data={"_csrf_token": token, "code": code_in(carnet_settings, "thomas@example.org"),
                                   "kind": "rectification"})
    assert done.status_code == 200, done.text
    [row] = _requests(carnet_db, world)
    assert (row.patient_id, row.kind, row.requester) == (world.minor, "rectification", "parent")
    assert row.due_at.month != row.received_at.month  # one calendar month


def test_the_public_page_is_rate_limited(client, world, carnet_db, carnet_settings, jobs_worker):
    for _ in range(5):
        assert _ask(client, last_name="Lefèvre", email="elodie@example.org").status_code == 200
    flooded = _ask(client, last_name="Lefèvre", email="elodie@example.org")
    assert flooded.status_code == 429 and "Trop de demandes" in flooded.text  # the patient's mailbox is spared
    wait_for_jobs(jobs_worker)
    assert len(mails_to(carnet_settings, "elodie@example.org")) == 5
    statuses = [_ask(client, last_name=f"Devine{n}", email=f"devine{n}@example.org").status_code for n in range(21)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429  # guesses from one address are counted
    assert not _requests(carnet_db, world)
