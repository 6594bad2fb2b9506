"""The daily cap per practitioner: once their inbox received N new patient messages today (the
clinic's day), a patient's next message is refused on the page with a French answer, nothing is
written and no automatic reply goes; the cap is set on the hours page (empty: none), counted from
the clinic's midnight, and only on that practitioner's conversations."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from telecare_world import make_world
from test_telecare_hours import ALL_DAYS, _closed_window
from test_telecare_messaging import NOFILE, _open_as_patient, _start

from carnet_core.plugin_api import InvalidInput
from carnet_core.testing import wait_for_jobs

from carnet_telecare.models import Message, Profile
from carnet_telecare.services import hours, messaging

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    return make_world(carnet_db, make_clinic, staff)


def _authors(carnet_db, clinic_id):
    with carnet_db.session(clinic_id=clinic_id) as db:
        return [m.author for m in db.exec(select(Message).order_by(Message.id))]


def test_past_the_cap_the_patient_is_told_in_french_nothing_is_written_and_no_auto_reply(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    opens, closes = _closed_window()
    assert client.post("/telecare/hours", data={"days": ALL_DAYS, "opens": opens, "closes": closes,
                                                "auto_reply": "Je lis les messages le mardi.", "daily_cap": "2"},
                       follow_redirects=False).status_code == 303
    assert 'value="2"' in client.get("/telecare/hours").text
    assert _start(client, world.patient).status_code == 303
    wait_for_jobs(jobs_worker)
    patient, path, opened, token = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        for body in ("Première question", "Deuxième question"):  # the cap itself is reached, not passed
            assert patient.post(f"{path}/answer", data={"_csrf_token": token, "body": body}, files=NOFILE,
                                follow_redirects=False).status_code == 303
        refused = patient.post(f"{path}/answer", data={"_csrf_token": token, "body": "Troisième question"},
                               files=NOFILE)
        assert refused.status_code == 422
        text = unescape(refused.text)
        assert "votre message n’a pas été envoyé" in text and "Écrivez à nouveau demain" in text
        assert "Troisième question" in text  # kept in the box to send later
    finally:
        patient.__exit__(None, None, None)
    # two patient messages, one automatic reply (for the first): nothing for the refused one
    assert _authors(carnet_db, world.clinic.id) == ["staff", "patient", "auto", "patient"]


def _conversation(db, world, practitioner_id):
    conversation, _ = messaging.open_conversation(db, world.patient, "clinical", "Sujet", "Bonjour", None,
                                                  world.owner.id, practitioner_id)
    return conversation


def test_the_cap_counts_from_the_clinics_midnight_and_only_that_practitioners_inbox(carnet_db, world):
    now = datetime(2026, 12, 5, 9, 0, tzinfo=PARIS)  # 08:00 UTC
    midnight = datetime(2026, 12, 5, 0, 0, tzinfo=PARIS)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        db.add(Profile(user_id=world.owner.id, auto_reply="", daily_cap=2))
        db.flush()
        mine = _conversation(db, world, world.owner.id)
        shared = _conversation(db, world, None)
        for conversation, at in ((mine, midnight - timedelta(minutes=1)), (mine, midnight - timedelta(hours=3)),
                                 (shared, midnight + timedelta(hours=1)), (shared, midnight + timedelta(hours=2)),
                                 (mine, midnight)):
            message = messaging.store_patient_message(db, conversation, "Question", None, None)
            message.created_at = at.astimezone(ZoneInfo("UTC"))
            db.add(message)
        db.flush()
        # yesterday's two and the secretariat's two do not count; the one at midnight does
        assert hours.received_today(db, world.owner.id, world.clinic.id, now) == 1
        hours.require_under_cap(db, mine.practitioner_id, world.clinic.id, now)
        message = messaging.store_patient_message(db, mine, "Question", None, None)
        message.created_at = now.astimezone(ZoneInfo("UTC"))
        db.add(message)
        db.flush()
        with pytest.raises(InvalidInput) as refused:
            hours.require_under_cap(db, mine.practitioner_id, world.clinic.id, now)
        assert refused.value.errors["body"].code == "daily_cap"
        # the secretariat's conversations have no practitioner, hence no cap
        hours.require_under_cap(db, shared.practitioner_id, world.clinic.id, now)
        # the next day starts again at zero
        hours.require_under_cap(db, mine.practitioner_id, world.clinic.id, now + timedelta(days=1))


@pytest.mark.parametrize("cap", ["0", "501", "deux", "-1", "2.5"])
def test_a_bad_cap_is_refused_with_its_message_and_nothing_saved(client, login_as, world, carnet_db, cap):
    login_as(client, world.owner)
    refused = client.post("/telecare/hours", data={"days": ALL_DAYS, "opens": "09:00", "closes": "18:00",
                                                   "auto_reply": "Réponse", "daily_cap": cap})
    assert refused.status_code == 422
    assert "un nombre entier de 1 à 500" in unescape(refused.text)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Profile)).all() == []


def test_an_empty_cap_means_none(client, login_as, world, carnet_db):
    login_as(client, world.owner)
    assert client.post("/telecare/hours", data={"days": ALL_DAYS, "opens": "09:00", "closes": "18:00",
                                                "auto_reply": "Réponse", "daily_cap": ""},
                       follow_redirects=False).status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Profile)).one().daily_cap is None
