"""Recording a télésoin session (issue 11: "recording is off, and possible only with the recording
clause consented"). The practitioner's browser records, on their own device; the server only says
whether it may: the consent question (purpose `recording`) is asked at every start, so a session
whose patient never signed the clause, or withdrew it, is refused in French and nothing is written;
a start and a stop are events of the session (its page and report show them) and audited, and both
video sockets are told, so the patient's page shows that the session is being recorded."""

from __future__ import annotations

import json
from html import unescape

import pytest
from litestar.testing import TestClient
from sqlmodel import select
from telecare_world import make_world
from test_telecare_sessions import _join_link, _plan
from test_telecare_video import ORIGIN, _enter, _events, _receive

from carnet_core.testing import AuditRecord, wait_for_jobs

from carnet_telecare.models import Session

pytest.importorskip("carnet_consent")

HTMX = {"HX-Request": "true"}
START = "Démarrer l’enregistrement"
NO_CONSENT = "n’a pas consenti à l’enregistrement des séances"


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    """Consent enabled: télésoin signed by Élodie (her sessions can take place), recording not yet."""
    from carnet_consent.testing import sign_form

    world = make_world(carnet_db, make_clinic, staff, slug="cabinet-enregistre",
                       plugins=("scheduling", "consent", "telecare"))
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.patient, "telesoin")
    return world


def _sign_recording(carnet_db, world):
    from carnet_consent.testing import sign_form

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.patient, "recording")


def _started(client, patient, world, carnet_settings, jobs_worker):
    """Planned, the patient in the waiting room, admitted: the session is in progress."""
    planned = _plan(client, world.patient)
    assert planned.status_code == 303, planned.text
    wait_for_jobs(jobs_worker)
    path, _ = _join_link(carnet_settings, "elodie@example.org")
    _enter(patient, path)
    session_url = planned.headers["location"]
    assert client.post(f"{session_url}/admit", follow_redirects=False).status_code == 303
    return session_url, path


def _record(client, session_url, on):
    return client.post(f"{session_url}/recording", data={"recording": "on" if on else "off"}, headers=HTMX)


def _audited(carnet_db, world, action):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return [(a.resource_type, a.patient_id) for a in db.exec(select(AuditRecord)
                                                                 .where(AuditRecord.action == action))]


def test_recording_is_refused_without_the_recording_clause_and_writes_nothing(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        session_url, _ = _started(client, patient, world, carnet_settings, jobs_worker)
        page = unescape(client.get(session_url).text)
        assert START not in page and "l’enregistrement est désactivé" in page.lower()
        before = _events(carnet_db, world)
        refused = _record(client, session_url, True)
        assert refused.status_code == 422 and NO_CONSENT in unescape(refused.text)
        assert 'id="tc-recording"' in refused.text and 'data-recording="off"' in refused.text
        plain = client.post(f"{session_url}/recording", data={"recording": "on"})  # without htmx: the page
        assert plain.status_code == 422 and NO_CONSENT in unescape(plain.text)
    assert _events(carnet_db, world) == before
    assert _audited(carnet_db, world, "record_start") == []


def test_with_the_clause_recording_starts_and_stops_audited_and_the_patient_is_told(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    _sign_recording(carnet_db, world)
    login_as(client, world.owner)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        # before the patient is admitted: offered later, refused now
        planned = _plan(client, world.patient)
        wait_for_jobs(jobs_worker)
        path, _ = _join_link(carnet_settings, "elodie@example.org")
        _enter(patient, path)
        session_url = planned.headers["location"]
        early = _record(client, session_url, True)
        assert early.status_code == 422 and "une fois le patient admis" in unescape(early.text)
        assert client.post(f"{session_url}/admit", follow_redirects=False).status_code == 303
        assert START in unescape(client.get(session_url).text)
        with patient.websocket_connect(f"{path}/signal", headers=ORIGIN) as p_ws:
            assert _receive(p_ws) == {"type": "peer", "present": False}
            started = _record(client, session_url, True)
            assert started.status_code == 200 and 'data-recording="on"' in started.text
            assert "<html" not in started.text  # the panel alone: the video stays up
            assert _receive(p_ws) == {"type": "recording", "on": True}
            assert _record(client, session_url, True).status_code == 200  # already on: nothing more
        # a browser connecting while it records is told at once
        with patient.websocket_connect(f"{path}/signal", headers=ORIGIN) as p_ws:
            assert _receive(p_ws) == {"type": "peer", "present": False}
            assert _receive(p_ws) == {"type": "recording", "on": True}
            stopped = _record(client, session_url, False)
            assert stopped.status_code == 200 and 'data-recording="off"' in stopped.text
            assert _receive(p_ws) == {"type": "recording", "on": False}
        page = unescape(client.get(session_url).text)
        assert "enregistrement démarré sur le poste du praticien" in page and "enregistrement arrêté" in page
        assert "enregistrement démarré par le praticien (consentement du patient vérifié)" in page  # the report
        patient_page = unescape(_enter(patient, path).text)  # the same browser, its room page reloaded
        assert 'id="tc-recording-notice"' in patient_page
        assert "Cette séance est enregistrée par le praticien" in patient_page
    events = [e for e in _events(carnet_db, world) if e.startswith("recording_")]
    assert events == ["recording_started", "recording_stopped"]
    assert _audited(carnet_db, world, "record_start") == [("telecare_session", world.patient)]
    assert _audited(carnet_db, world, "record_stop") == [("telecare_session", world.patient)]


def test_after_a_withdrawal_recording_is_refused_and_ending_stops_a_recording(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    from carnet_consent.services import decisions

    _sign_recording(carnet_db, world)
    login_as(client, world.owner)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        session_url, _ = _started(client, patient, world, carnet_settings, jobs_worker)
        assert _record(client, session_url, True).status_code == 200
        assert _record(client, session_url, False).status_code == 200
        with carnet_db.session(clinic_id=world.clinic.id) as db:  # withdrawn during the session
            db.info["principal"] = f"user:{world.owner.id}"
            decisions.withdraw(db, world.patient, "recording", source="staff", actor=f"user:{world.owner.id}")
        assert START not in unescape(client.get(session_url).text)
        before = _events(carnet_db, world)
        refused = _record(client, session_url, True)
        assert refused.status_code == 422 and NO_CONSENT in unescape(refused.text)
        assert _events(carnet_db, world) == before
        assert len(_audited(carnet_db, world, "record_start")) == 1
    # signed again, recording, then the session ends: the recording stops with it (the browser saves it)
    _sign_recording(carnet_db, world)
    assert _record(client, session_url, True).status_code == 200
    assert client.post(f"{session_url}/end", follow_redirects=False).status_code == 303
    assert _events(carnet_db, world)[-2:] == ["recording_stopped", "ended"]
    assert _record(client, session_url, True).status_code == 422  # over


def test_another_clinics_member_and_a_secretary_cannot_start_a_recording(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker, make_clinic, staff):
    _sign_recording(carnet_db, world)
    login_as(client, world.owner)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        session_url, _ = _started(client, patient, world, carnet_settings, jobs_worker)
    before = _events(carnet_db, world)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as secretary:
        login_as(secretary, world.secretary)
        assert _record(secretary, session_url, True).status_code in (403, 404)
    other = make_world(carnet_db, make_clinic, staff, slug="autre-cabinet")
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as foreign:
        login_as(foreign, other.owner)
        assert _record(foreign, session_url, True).status_code == 404
    assert _events(carnet_db, world) == before and _audited(carnet_db, world, "record_start") == []


def test_the_consent_contract_recording_relies_on(plugin_host, carnet_db, world):
    """Consent's own contract for the purpose telecare asks before every recording: no before any
    signature, yes once signed, no at once after a withdrawal."""
    from carnet_consent.testing import check_purpose_contract

    check_purpose_contract(plugin_host, carnet_db, world.clinic.id, world.owner.id, world.other, "recording")


def test_a_browser_cannot_claim_a_recording_over_the_socket(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    """Only the server says whether the session records: the message from a browser is refused."""
    login_as(client, world.owner)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        session_url, _ = _started(client, patient, world, carnet_settings, jobs_worker)
        with client.websocket_connect(f"{session_url}/signal", headers=ORIGIN) as ws:
            assert _receive(ws)["type"] == "peer"
            ws.send_text(json.dumps({"type": "recording", "on": True}))
            assert _receive(ws) == {"type": "error", "error": "shape"}
    assert not any(e.startswith("recording_") for e in _events(carnet_db, world))
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Session)).one().status == "started"
