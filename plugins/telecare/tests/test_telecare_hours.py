"""Messaging hours: a practitioner sets them with an automatic reply; a patient writing outside
them gets the reply at once (once a day per conversation), inside them nothing; bad hours are
refused with the field's message."""

from __future__ import annotations

from datetime import datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from telecare_world import make_world
from test_telecare_messaging import NOFILE, _open_as_patient, _start

from carnet_core.plugin_api import open_
from carnet_core.testing import wait_for_jobs

from carnet_telecare.models import Message, Profile

ALL_DAYS = [str(n) for n in range(7)]


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    return make_world(carnet_db, make_clinic, staff)


def _closed_window() -> tuple[str, str]:
    hour = datetime.now(ZoneInfo("Europe/Paris")).hour
    return ("13:00", "14:00") if hour < 12 else ("06:00", "07:00")


def test_outside_the_hours_the_patient_gets_the_automatic_reply_once(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    opens, closes = _closed_window()
    saved = client.post("/telecare/hours", data={"days": ALL_DAYS, "opens": opens, "closes": closes,
                                                 "auto_reply": "Je lis les messages le mardi."},
                        follow_redirects=False)
    assert saved.status_code == 303
    assert _start(client, world.patient).status_code == 303
    wait_for_jobs(jobs_worker)
    patient, path, opened, token = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        for body in ("Première question", "Deuxième question"):
            assert patient.post(f"{path}/answer", data={"_csrf_token": token, "body": body}, files=NOFILE,
                                follow_redirects=False).status_code == 303
        shown = unescape(patient.get(path).text)
        assert "Je lis les messages le mardi." in shown and "Réponse automatique" in shown
    finally:
        patient.__exit__(None, None, None)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        autos = db.exec(select(Message).where(Message.author == "auto")).all()
        assert len(autos) == 1 and open_(db, autos[0], "body") == "Je lis les messages le mardi."


def test_within_the_hours_no_automatic_reply(app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    assert client.post("/telecare/hours", data={"days": ALL_DAYS, "opens": "00:00", "closes": "23:59",
                                                "auto_reply": "Réponse"}, follow_redirects=False).status_code == 303
    assert _start(client, world.patient).status_code == 303
    wait_for_jobs(jobs_worker)
    patient, path, opened, token = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        patient.post(f"{path}/answer", data={"_csrf_token": token, "body": "Question"}, files=NOFILE)
    finally:
        patient.__exit__(None, None, None)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Message).where(Message.author == "auto")).all() == []


def test_bad_hours_are_refused_with_their_message_and_nothing_saved(client, login_as, world, carnet_db):
    login_as(client, world.owner)
    assert "Heures de messagerie" in unescape(client.get("/telecare/hours").text)
    refused = client.post("/telecare/hours", data={"opens": "18:00", "closes": "09:00", "auto_reply": ""})
    assert refused.status_code == 422
    text = unescape(refused.text)
    assert "au moins un jour" in text and "rédigez la réponse" in text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Profile)).all() == []
