"""Télésoin sessions: planned only when every rule holds (consent, care, not an initial
assessment), the patient joins through their e-mailed link only around the session's time, a minor
needs an adult confirmed at joining, the practitioner admits from the waiting room and ends; the
events are recorded (sealed) and pre-fill the report; another patient's link reaches nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from litestar.testing import TestClient
from sqlmodel import select
from telecare_world import mail_text, mails_to, make_world

from carnet_core.plugin_api import open_, patient_access, utcnow
from carnet_core.testing import wait_for_jobs

from carnet_telecare.models import Session


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    return make_world(carnet_db, make_clinic, staff)


def _soon():
    now = utcnow().astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris")) + timedelta(minutes=5)
    return {"day": now.strftime("%Y-%m-%d"), "time": now.strftime("%H:%M"), "minutes": "30", "not_initial": "1",
            "act": "ortho_reeducation"}


def _plan(client, patient_id, **change):
    return client.post(f"/telecare/patients/{patient_id}/sessions", data={**_soon(), **change}, follow_redirects=False)


def _join_link(settings, address):
    for msg in reversed(mails_to(settings, address)):
        found = re.search(rf"{re.escape(settings.base_url)}(/p/\S+/telecare/j/\S+)", mail_text(msg))
        if found:
            return found.group(1), mail_text(msg)
    raise AssertionError("no join link")


def test_a_session_is_planned_joined_admitted_and_ended_with_its_events_prefilling_the_report(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    planned = _plan(client, world.patient)
    assert planned.status_code == 303, planned.text
    session_url = planned.headers["location"]
    wait_for_jobs(jobs_worker)
    path, text = _join_link(carnet_settings, "elodie@example.org")
    assert "télésoin" in text and "Lefèvre" not in text and "Élodie" not in text
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        page = patient.get(path)
        assert page.status_code == 200 and "salle d’attente" in unescape(page.text)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
        joined = patient.post(path, data={"_csrf_token": token})
        assert joined.status_code == 200 and "Vous êtes dans la salle d’attente" in unescape(joined.text)
        assert "Le patient est en salle d’attente" in unescape(client.get(session_url).text)
        assert client.post(f"{session_url}/admit", follow_redirects=False).status_code == 303
        assert patient.post(path, data={"_csrf_token": token}).status_code == 200  # the same browser, reloaded
        with TestClient(app=app, base_url="http://127.0.0.1:8000") as second:  # a second browser on the same link
            second_token = re.search(r'name="csrf-token" content="([^"]+)"', second.get(path).text).group(1)
            again = second.post(path, data={"_csrf_token": second_token})
            assert again.status_code == 403 and "un autre navigateur" in unescape(again.text)
        assert client.post(f"{session_url}/end", follow_redirects=False).status_code == 303
        assert patient.get(path).status_code == 410  # the link stops with the session
    report = unescape(client.get(session_url).text)
    assert "patient en salle d’attente" in report and "patient admis" in report and "séance terminée" in report
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        session = db.exec(select(Session)).one()
        assert session.status == "ended" and session.joined_at and session.admitted_at and session.ended_at
        assert b"joined" not in bytes(session.events)
        assert [e for e in __import__("json").loads(open_(db, session, "events"))][1]["event"] == "joined"


def test_each_rule_refuses_a_session_with_its_message_and_writes_nothing(client, login_as, world, carnet_db):
    login_as(client, world.owner)
    initial = _plan(client, world.patient, not_initial="")
    assert initial.status_code == 422 and "bilan initial" in unescape(initial.text)
    stranger = _plan(client, world.stranger)
    assert stranger.status_code == 422 and "aucune séance depuis 12 mois" in unescape(stranger.text)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Session)).all() == []


def test_without_telesoin_consent_no_session(client, login_as, carnet_db, make_clinic, staff):
    world = make_world(carnet_db, make_clinic, staff, slug="cabinet-sans-consent",
                       plugins=("scheduling", "consent", "telecare"))
    login_as(client, world.owner)
    refused = _plan(client, world.patient)
    assert refused.status_code == 422 and "consentement au télésoin" in unescape(refused.text)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Session)).all() == []


def test_the_link_opens_only_around_the_session_and_a_minor_needs_an_adult(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        registry = patient_access(db, "system:tests")
        minor = registry.register({"last_name": "Garnier", "first_name": "Léo", "birth_date": "2017-03-14",
                                   "practitioner_id": world.owner.id, "guardians": [
                                       {"relation": "mother", "last_name": "Garnier", "first_name": "Camille",
                                        "email": "camille@example.org"}]})
        from telecare_world import honoured_session

        honoured_session(db, world.owner.id, minor, days_ago=40)
    later = _soon()
    far = dict(later, day=(utcnow() + timedelta(days=3)).strftime("%Y-%m-%d"))
    assert _plan(client, world.patient, **far).status_code == 303
    assert _plan(client, minor).status_code == 303
    wait_for_jobs(jobs_worker)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        early, _ = _join_link(carnet_settings, "elodie@example.org")
        refused = patient.get(early)
        assert refused.status_code == 403 and "15 minutes avant" in unescape(refused.text)
        child, _ = _join_link(carnet_settings, "camille@example.org")
        page = patient.get(child)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
        alone = patient.post(child, data={"_csrf_token": token})
        assert alone.status_code == 422 and "adulte" in unescape(alone.text)
        assert patient.post(child, data={"_csrf_token": token, "adult_present": "1"}).status_code == 200
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        statuses = sorted(s.status for s in db.exec(select(Session)))
    assert statuses == ["scheduled", "waiting"]


def test_a_secretary_never_reaches_a_session(client, login_as, world, app):
    login_as(client, world.owner)
    url = _plan(client, world.patient).headers["location"]
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as secretary:
        login_as(secretary, world.secretary)
        assert secretary.get(url).status_code == 403


def test_a_session_on_the_first_of_a_month_is_announced_1er_at_the_clinic_hour(
        client, login_as, world, carnet_settings, jobs_worker):
    """The invitation says `mardi 1er décembre 2026 à 10:00` (core's long_datetime, clinic time), never `1 décembre`."""
    from carnet_core.testing import first_in_french, first_of_a_month

    first = first_of_a_month(10)
    login_as(client, world.owner)
    assert _plan(client, world.patient, day=f"{first.astimezone(__import__('zoneinfo').ZoneInfo('Europe/Paris')):%Y-%m-%d}",
                 time="10:00").status_code == 303
    wait_for_jobs(jobs_worker)
    _, text = _join_link(carnet_settings, "elodie@example.org")
    assert first_in_french(first).search(text) and "à 10:00" in text, text


def test_session_times_are_the_clinic_s_on_the_staff_and_patient_pages(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    """The patient's join page, the session page and the patient's page give the session's time
    in the clinic's zone (Paris is never UTC), never marked '(UTC)'."""
    from zoneinfo import ZoneInfo

    login_as(client, world.owner)
    planned = _plan(client, world.patient)
    assert planned.status_code == 303
    wait_for_jobs(jobs_worker)
    path, _ = _join_link(carnet_settings, "elodie@example.org")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        utc = db.exec(select(Session)).one().starts_at
    local = utc.astimezone(ZoneInfo("Europe/Paris"))
    staff = {"session": unescape(client.get(planned.headers["location"]).text),
             "patient": unescape(client.get(f"/telecare/patients/{world.patient}").text)}
    for name, text in staff.items():
        assert f"{local:%d/%m/%Y %H:%M}" in text and f"{utc:%d/%m/%Y %H:%M}" not in text and "(UTC)" not in text, name
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        page = unescape(patient.get(path).text)
    assert f"à {local:%H:%M}" in page and "(UTC)" not in page and f"{utc:%H:%M}" not in page
