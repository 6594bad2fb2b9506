"""Télésoin video signalling: the practitioner's and the patient's sockets open only for their own
session (staff session and clinical gate; join link and the seat of the browser that entered the
waiting room), only from our own origin; offers, answers and candidates are relayed only once the
patient is admitted, re-encoded from their validated fields; a message of another shape or size is
refused and closes the socket; connections, reconnections and the browsers' reports become events
that pre-fill the report's technical incidents."""

from __future__ import annotations

import json
import re
import time
from html import unescape

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from sqlmodel import select
from telecare_world import make_world
from test_telecare_sessions import _join_link, _plan

from carnet_core.plugin_api import open_
from carnet_core.testing import wait_for_jobs

from carnet_telecare.models import Session
from carnet_telecare.services import signalling

ORIGIN = {"origin": "http://127.0.0.1:8000"}
SDP = "v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
CANDIDATE = "candidate:842163049 1 udp 1677729535 192.0.2.10 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0"


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    return make_world(carnet_db, make_clinic, staff)


def _enter(patient, path):
    page = patient.get(path)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    entered = patient.post(path, data={"_csrf_token": token})
    assert entered.status_code == 200, entered.text
    assert signalling.SEAT_COOKIE in patient.cookies
    return entered


def _planned_and_entered(client, patient, world, carnet_settings, jobs_worker):
    planned = _plan(client, world.patient)
    assert planned.status_code == 303, planned.text
    wait_for_jobs(jobs_worker)
    path, _ = _join_link(carnet_settings, "elodie@example.org")
    page = _enter(patient, path)
    return planned.headers["location"], path, page


def _receive(ws):
    return json.loads(ws.receive_text())


def _settled(carnet_db, world, last):
    """The events once `last` was written (a socket's leaving is written after it closed)."""
    for _ in range(100):
        events = _events(carnet_db, world)
        if events[-1] == last:
            return events
        time.sleep(0.05)
    return events


def _events(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        session = db.exec(select(Session)).one()
        return [e["event"] for e in json.loads(open_(db, session, "events"))]


def test_the_two_sides_are_paired_once_admitted_and_only_webrtc_shapes_cross(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        session_url, path, page = _planned_and_entered(client, patient, world, carnet_settings, jobs_worker)
        assert 'id="tc-room"' in page.text and f'data-signal="{path}/signal"' in page.text
        assert "/static/telecare/room.js" in page.text and "<script>" not in page.text
        with patient.websocket_connect(f"{path}/signal", headers=ORIGIN) as p_ws:
            assert _receive(p_ws) == {"type": "peer", "present": False}
            p_ws.send_text(json.dumps({"type": "offer", "sdp": SDP}))  # not admitted yet: nothing relayed
            assert _receive(p_ws) == {"type": "error", "error": "not_ready"}
            assert client.post(f"{session_url}/admit", follow_redirects=False).status_code == 303
            with client.websocket_connect(f"{session_url}/signal", headers=ORIGIN) as s_ws:
                assert _receive(s_ws) == {"type": "peer", "present": True}
                assert _receive(p_ws) == {"type": "peer", "present": True}
                ready = _receive(s_ws)
                assert ready == {"type": "ready", "initiator": True, "iceServers": []}
                assert _receive(p_ws)["initiator"] is False
                s_ws.send_text(json.dumps({"type": "offer", "sdp": SDP}))
                assert _receive(p_ws) == {"type": "offer", "sdp": SDP}
                p_ws.send_text(json.dumps({"type": "answer", "sdp": SDP}))
                assert _receive(s_ws) == {"type": "answer", "sdp": SDP}
                p_ws.send_text(json.dumps({"type": "candidate", "candidate": CANDIDATE, "sdpMid": "0",
                                           "sdpMLineIndex": 0}))
                assert _receive(s_ws) == {"type": "candidate", "candidate": CANDIDATE, "sdpMid": "0",
                                          "sdpMLineIndex": 0}
                s_ws.send_text(json.dumps({"type": "state", "state": "connected"}))
                s_ws.send_text(json.dumps({"type": "state", "state": "connected"}))  # recorded once
                s_ws.send_text(json.dumps({"type": "state", "state": "interrupted"}))
                s_ws.send_text(json.dumps({"type": "bye"}))
                assert _receive(p_ws) == {"type": "bye"}
            assert _receive(p_ws) == {"type": "peer", "present": False}
        # the same browser comes back after admission (a reload): a reconnection, an incident
        assert patient.post(path, data={"_csrf_token": re.search(
            r'name="csrf-token" content="([^"]+)"', page.text).group(1)}).status_code == 200
        with patient.websocket_connect(f"{path}/signal", headers=ORIGIN) as p_ws:
            assert _receive(p_ws) == {"type": "peer", "present": False}
    events = _settled(carnet_db, world, "patient_left")
    assert events == ["planned", "joined", "patient_connected", "admitted", "practitioner_connected",
                      "video_connected", "video_interrupted", "practitioner_left", "patient_left",
                      "patient_reconnected", "patient_left"]
    report = unescape(client.get(session_url).text)
    assert "vidéo établie entre les deux navigateurs" in report
    assert "Incidents techniques : vidéo interrompue à" in report and "vidéo : reconnexion du patient à" in report


@pytest.mark.parametrize("message, code", [
    ("not json", 1008),
    (json.dumps({"type": "offer"}), 1008),  # missing field
    (json.dumps({"type": "offer", "sdp": SDP, "name": "Lefèvre"}), 1008),  # anything extra
    (json.dumps({"type": "chat", "text": "bonjour"}), 1008),  # not a WebRTC message
    (json.dumps({"type": "offer", "sdp": "<script>alert(1)</script>"}), 1008),  # not a description
    (json.dumps({"type": "candidate", "candidate": "candidate:1 <b>"  + "\n"}), 1008),
    (json.dumps({"type": "state", "state": "recording"}), 1008),
    (json.dumps({"type": "offer", "sdp": "v=0\r\n" + "a" * signalling.MAX_MESSAGE}), 1009),  # too large
])
def test_a_message_of_the_wrong_shape_or_size_closes_the_socket_and_writes_nothing(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker, message, code):
    login_as(client, world.owner)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        session_url, path, _ = _planned_and_entered(client, patient, world, carnet_settings, jobs_worker)
        before = _events(carnet_db, world)
        with client.websocket_connect(f"{session_url}/signal", headers=ORIGIN) as ws:
            assert _receive(ws)["type"] == "peer"
            ws.send_text(message)
            assert _receive(ws)["type"] == "error"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
        assert closed.value.code == code
    after = _settled(carnet_db, world, "practitioner_left")
    assert after == [*before, "practitioner_connected", "practitioner_left"]  # the message left no trace


def test_a_socket_opens_only_for_its_own_session_from_our_origin_and_the_admitted_browser(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker, make_clinic, staff):
    login_as(client, world.owner)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        session_url, path, page = _planned_and_entered(client, patient, world, carnet_settings, jobs_worker)
        refusals = []
        for who, url, headers in (
                (patient, f"{path}/signal", {"origin": "https://evil.example"}),  # another site's page
                (patient, f"{path}/signal", {}),  # no origin: not a browser page of ours
                (patient, f"{path[:-4]}abcd/signal", ORIGIN),  # a wrong token
                (patient, f"{session_url}/signal", ORIGIN),  # the staff socket without a staff session
                (client, f"{session_url[:-1]}999/signal", ORIGIN)):  # a session that does not exist
            with pytest.raises(WebSocketDisconnect) as refused, who.websocket_connect(url, headers=headers) as ws:
                ws.receive_text()
            refusals.append(refused.value.code)
        assert all(code >= 4000 or code == 1008 for code in refusals), refusals
        assert client.post(f"{session_url}/admit", follow_redirects=False).status_code == 303
        with TestClient(app=app, base_url="http://127.0.0.1:8000") as second:  # same link, another browser
            with pytest.raises(WebSocketDisconnect) as refused, second.websocket_connect(
                    f"{path}/signal", headers=ORIGIN) as ws:
                ws.receive_text()
            assert refused.value.code == 4403
            entered = second.post(path, data={"_csrf_token": re.search(
                r'name="csrf-token" content="([^"]+)"', second.get(path).text or page.text).group(1)})
            assert entered.status_code == 403 and "un autre navigateur" in unescape(entered.text)
        with TestClient(app=app, base_url="http://127.0.0.1:8000") as secretary:
            login_as(secretary, world.secretary)
            with pytest.raises(WebSocketDisconnect), secretary.websocket_connect(
                    f"{session_url}/signal", headers=ORIGIN) as ws:
                ws.receive_text()
        other = make_world(carnet_db, make_clinic, staff, slug="autre-cabinet")
        with TestClient(app=app, base_url="http://127.0.0.1:8000") as foreign:  # another clinic's owner
            login_as(foreign, other.owner)
            with pytest.raises(WebSocketDisconnect) as refused, foreign.websocket_connect(
                    f"{session_url}/signal", headers=ORIGIN) as ws:
                ws.receive_text()
            assert refused.value.code == 4403
        assert client.post(f"{session_url}/end", follow_redirects=False).status_code == 303
        for who, url in ((patient, f"{path}/signal"), (client, f"{session_url}/signal")):  # over: nothing opens
            with pytest.raises(WebSocketDisconnect) as refused, who.websocket_connect(url, headers=ORIGIN) as ws:
                ws.receive_text()
            assert refused.value.code == 4403
    assert "patient_connected" not in _events(carnet_db, world)


def test_turn_credentials_come_from_the_practice_secret_and_expire_with_the_session():
    from carnet_telecare.settings import TelecareSettings

    settings = TelecareSettings(ice_urls="stun:turn.cabinet.example:3478, turns:turn.cabinet.example:5349",
                                turn_secret="s3cret")
    servers = signalling.ice_servers(settings, 3600, now=1_800_000_000)
    assert servers[0] == {"urls": ["stun:turn.cabinet.example:3478"]}
    assert servers[1]["urls"] == ["turns:turn.cabinet.example:5349"]
    assert servers[1]["username"] == "1800003600:carnet"
    import base64
    import hashlib
    import hmac

    assert servers[1]["credential"] == base64.b64encode(
        hmac.new(b"s3cret", b"1800003600:carnet", hashlib.sha1).digest()).decode()
    assert signalling.ice_servers(TelecareSettings(), 600) == []
    with pytest.raises(ValueError, match="stun:, turn: or turns:"):
        TelecareSettings(ice_urls="https://meet.example.com")


def test_the_video_page_loads_nothing_from_another_host_and_sends_media_nowhere(
        app, client, login_as, world, carnet_settings, jobs_worker):
    """The room's script talks only to its own signalling socket: no request of its own (a recording,
    when consented, is saved on the practitioner's device: test_telecare_recording.py)."""
    login_as(client, world.owner)
    session_url = _plan(client, world.patient).headers["location"]
    page = client.get(session_url).text
    assert 'src="/static/telecare/room.js"' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    script = client.get("/static/telecare/room.js")
    assert script.status_code == 200
    assert "http" not in script.text.replace("https:", "")
    assert not re.search(r"fetch\(|XMLHttpRequest|sendBeacon|FormData|\.upload", script.text)
    assert "Recording is off" not in page and "l’enregistrement est désactivé" in unescape(page).lower()


def test_an_event_written_meanwhile_by_a_socket_is_never_erased_by_a_request(
        client, login_as, world, carnet_db):
    """A request (admitting, recording) holds the session it read before a socket wrote an event;
    appending its own must keep the socket's: the list is read again once the row is held (on
    SQLite reads ran outside the write transaction and the stale list overwrote the socket's
    "patient_connected"; on PostgreSQL the request's list was read without the socket's lock)."""
    from carnet_telecare.services import sessions

    login_as(client, world.owner)
    _plan(client, world.patient)
    with carnet_db.session(clinic_id=world.clinic.id) as request_db:
        request_db.info["principal"] = f"user:{world.owner.id}"
        held = request_db.exec(select(Session)).one()
        assert json.loads(open_(request_db, held, "events"))[-1]["event"] == "planned"  # read, as admit does
        with carnet_db.session(clinic_id=world.clinic.id) as socket_db:  # meanwhile, a socket's event
            sessions.video_event(socket_db, held.id, "patient_connected", "patient_link:1")
        sessions.add_event(request_db, held, "admitted", f"user:{world.owner.id}")
    assert _events(carnet_db, world) == ["planned", "patient_connected", "admitted"]
