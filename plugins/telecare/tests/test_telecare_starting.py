"""Conversations started by the patient, only when the practice allows it: off by default (404,
nothing written); on, a patient in care asks for a link by last name and e-mail on file, gets it by
e-mail, opens it with a one-time code (the same code steps as a notification's link) and writes to
their practitioner; a stranger, a patient without a care relationship or a wrong name get the same
answer and nothing is written or sent; misses and e-mails per address are limited."""

from __future__ import annotations

import re
from html import unescape

import pytest
from litestar.testing import TestClient
from sqlmodel import select
from telecare_world import CANARY, code_in, mail_text, mails, mails_to, make_world
from test_telecare_messaging import NOFILE

from carnet_core.testing import csrf_token, wait_for_jobs

from carnet_telecare.models import Access, Conversation, Message

NEUTRAL = "Si ces informations correspondent à un patient suivi par le cabinet"


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    return make_world(carnet_db, make_clinic, staff)


def _allow(client, login_as, world, on=True):
    login_as(client, world.owner)
    assert client.post("/telecare/settings", data={"patients_may_start": "1" if on else ""},
                       follow_redirects=False).status_code == 303


def _visitor(app):
    visitor = TestClient(app=app, base_url="http://127.0.0.1:8000")
    visitor.__enter__()
    return visitor


def _ask(visitor, world, last_name, email):
    path = f"/p/{world.clinic.slug}/telecare/new"
    token = csrf_token(visitor, path)
    return visitor.post(path, data={"_csrf_token": token, "last_name": last_name, "email": email})


def _nothing_written(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return (db.exec(select(Access)).all(), db.exec(select(Conversation)).all())


def _start_link(settings, address):
    for msg in reversed(mails_to(settings, address)):
        found = re.search(rf"{re.escape(settings.base_url)}(/p/\S+/telecare/s/\S+)", mail_text(msg))
        if found:
            return found.group(1)
    raise AssertionError(f"no start link e-mailed to {address}")


def test_off_by_default_the_page_answers_404_and_nothing_is_written(app, world, carnet_db, carnet_settings,
                                                                    jobs_worker):
    visitor = _visitor(app)
    try:
        shown = visitor.get(f"/p/{world.clinic.slug}/telecare/new")
        assert shown.status_code == 404 and "ne reçoit pas de nouveaux messages en ligne" in unescape(shown.text)
        token = csrf_token(visitor, f"/p/{world.clinic.slug}/telecare/new")
        refused = visitor.post(f"/p/{world.clinic.slug}/telecare/new",
                               data={"_csrf_token": token, "last_name": "Lefèvre", "email": "elodie@example.org"})
        assert refused.status_code == 404
    finally:
        visitor.__exit__(None, None, None)
    wait_for_jobs(jobs_worker)
    assert _nothing_written(carnet_db, world) == ([], []) and mails(carnet_settings) == []


def test_a_patient_in_care_starts_a_conversation_with_a_link_and_a_code(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    _allow(client, login_as, world)
    visitor = _visitor(app)
    try:
        asked = _ask(visitor, world, "LEFÈVRE", "elodie@example.org")
        assert asked.status_code == 200 and NEUTRAL in unescape(asked.text)
        wait_for_jobs(jobs_worker)
        notice = mails_to(carnet_settings, "elodie@example.org")
        assert len(notice) == 1 and "Lefèvre" not in mail_text(notice[0]) + str(notice[0]["Subject"])
        path = _start_link(carnet_settings, "elodie@example.org")
        first = visitor.get(path)
        assert first.status_code == 200 and "Recevoir un code" in first.text
        token = csrf_token(visitor, path)
        # writing before the code is refused
        early = visitor.post(f"{path}/write", data={"_csrf_token": token, "kind": "clinical", "subject": "x",
                                                    "body": "y"}, files=NOFILE)
        assert early.status_code == 403
        assert visitor.post(f"{path}/code", data={"_csrf_token": token}).status_code == 200
        wait_for_jobs(jobs_worker)
        opened = visitor.post(f"{path}/verify", data={"_csrf_token": token,
                                                      "code": code_in(carnet_settings, "elodie@example.org")})
        assert opened.status_code == 200 and "À qui écrivez-vous" in unescape(opened.text)
        bad = visitor.post(f"{path}/write", data={"_csrf_token": token, "kind": "autre", "subject": "",
                                                  "body": ""}, files=NOFILE)
        assert bad.status_code == 422
        assert {"choisissez à qui vous écrivez", "écrivez un message"} <= set(re.findall(
            r'role="alert"[^>]*>([^<]+)<', unescape(bad.text)))
        assert _nothing_written(carnet_db, world)[1] == []
        sent = visitor.post(f"{path}/write", data={"_csrf_token": token, "kind": "clinical",
                                                   "subject": "Question", "body": f"Bonjour, {CANARY}"},
                            files=NOFILE)
        assert sent.status_code == 200 and "Votre message a été envoyé au cabinet" in unescape(sent.text)
        again = visitor.post(f"{path}/write", data={"_csrf_token": token, "kind": "clinical",
                                                    "subject": "Encore", "body": "Encore"}, files=NOFILE)
        assert again.status_code == 410  # single use
    finally:
        visitor.__exit__(None, None, None)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        conversation = db.exec(select(Conversation)).one()
        assert (conversation.patient_id, conversation.kind, conversation.practitioner_id) == (
            world.patient, "clinical", world.owner.id)
        assert conversation.awaiting_since is not None and conversation.created_by is None
        message = db.exec(select(Message)).one()
        assert message.author == "patient" and CANARY.encode() not in bytes(message.body)
        assert db.exec(select(Access)).one().conversation_id == conversation.id
    inbox = unescape(client.get("/telecare/").text)
    assert f"/telecare/conversations/{conversation.id}" in inbox
    assert CANARY in unescape(client.get(f"/telecare/conversations/{conversation.id}").text)


def _page_text(response):
    return re.sub(r'name="_csrf_token" value="[^"]*"', "", response.text)


def test_a_patient_without_a_care_relationship_cannot_start_a_conversation(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    _allow(client, login_as, world)
    visitor = _visitor(app)
    try:
        answers = [_ask(visitor, world, last, email) for last, email in (
            ("Inconnu", "paul@example.org"),       # a patient, last care 500 days ago: no care relationship
            ("Martin", "personne@example.org"),    # a stranger
            ("Moreau", "elodie@example.org"),      # a patient's address with another name
        )]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert len({_page_text(a) for a in answers}) == 1 and NEUTRAL in unescape(answers[0].text)
    finally:
        visitor.__exit__(None, None, None)
    wait_for_jobs(jobs_worker)
    assert _nothing_written(carnet_db, world) == ([], [])
    assert mails(carnet_settings) == []


def test_the_public_form_is_rate_limited_per_visitor_and_per_address(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    _allow(client, login_as, world)
    visitor = _visitor(app)
    try:
        statuses = [_ask(visitor, world, "Lefèvre", "elodie@example.org").status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]  # five e-mails to one address per quarter of an hour
        misses = [_ask(visitor, world, f"Nom{n}", f"n{n}@example.org").status_code for n in range(21)]
        assert misses[:20] == [200] * 20 and misses[20] == 429
        refused = _ask(visitor, world, "Moreau", "hugo@example.org")  # a real patient: refused like the rest
        assert refused.status_code == 429 and "Trop d’essais" in unescape(refused.text)
    finally:
        visitor.__exit__(None, None, None)
    wait_for_jobs(jobs_worker)
    assert len(mails_to(carnet_settings, "elodie@example.org")) == 5 and mails_to(carnet_settings,
                                                                                    "hugo@example.org") == []


def test_the_practitioners_daily_cap_applies_to_a_conversation_the_patient_starts(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    from carnet_telecare.services import messaging

    _allow(client, login_as, world)
    assert client.post("/telecare/hours", data={"days": [str(n) for n in range(7)], "opens": "00:00",
                                                "closes": "23:59", "auto_reply": "Réponse", "daily_cap": "1"},
                       follow_redirects=False).status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:  # the practitioner's one message of the day
        db.info["principal"] = "system:tests"
        conversation, _ = messaging.open_conversation(db, world.other, "clinical", "Sujet", "Bonjour", None,
                                                      world.owner.id, world.owner.id)
        messaging.store_patient_message(db, conversation, "Question", None, None)
    visitor = _visitor(app)
    try:
        assert _ask(visitor, world, "Lefèvre", "elodie@example.org").status_code == 200
        wait_for_jobs(jobs_worker)
        path = _start_link(carnet_settings, "elodie@example.org")
        token = csrf_token(visitor, path)
        visitor.post(f"{path}/code", data={"_csrf_token": token})
        wait_for_jobs(jobs_worker)
        visitor.post(f"{path}/verify", data={"_csrf_token": token,
                                             "code": code_in(carnet_settings, "elodie@example.org")})
        capped = visitor.post(f"{path}/write", data={"_csrf_token": token, "kind": "clinical", "subject": "Question",
                                                     "body": "Bonjour"}, files=NOFILE)
        assert capped.status_code == 422 and "votre message n’a pas été envoyé" in unescape(capped.text)
        # to the secretariat (no practitioner, no cap) it goes, with the same link: the refusal used nothing
        sent = visitor.post(f"{path}/write", data={"_csrf_token": token, "kind": "administrative",
                                                   "subject": "Rendez-vous", "body": "Bonjour"}, files=NOFILE)
        assert sent.status_code == 200
    finally:
        visitor.__exit__(None, None, None)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        started = db.exec(select(Conversation).where(Conversation.patient_id == world.patient)).all()
        assert [(c.kind, c.practitioner_id) for c in started] == [("administrative", None)]
