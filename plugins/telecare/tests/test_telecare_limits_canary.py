"""The patient's daily cap (every conversation, a rolling day), the antivirus hook (clean, infected,
clamd unreachable: fail closed) against a loopback daemon speaking clamd's INSTREAM protocol, and
canaries: a message's text, a file's name, the patient's name and e-mail never reach the logs (a whole
flow, video signalling included) nor Redis (the jobs of messaging and sessions)."""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlmodel import select
from telecare_world import CANARY, make_world
from test_telecare_messaging import NOFILE, PDF, _open_as_patient, _start
from test_telecare_sessions import _join_link, _plan

from carnet_core.testing import redis_dump, wait_for_jobs

from carnet_telecare.models import Attachment, Message
from carnet_telecare.services import antivirus

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    return make_world(carnet_db, make_clinic, staff)


class Clamd:
    """A loopback daemon answering clamd's INSTREAM as clamd does: `stream: OK`, or `stream: <name>
    FOUND` for a stream holding the EICAR test string; counts the bytes it was sent."""

    def __init__(self, path: Path):
        self.path, self.received = str(path), 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(4)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                command = b""
                while not command.endswith(b"\0"):
                    command += conn.recv(1)
                assert command == b"zINSTREAM\0"
                data = b""
                while True:
                    size = struct.unpack("!L", self._exactly(conn, 4))[0]
                    if size == 0:
                        break
                    data += self._exactly(conn, size)
                self.received += len(data)
                conn.sendall(b"stream: Eicar-Signature FOUND\0" if EICAR in data else b"stream: OK\0")

    @staticmethod
    def _exactly(conn, size):
        got = b""
        while len(got) < size:
            got += conn.recv(size - len(got))
        return got

    def close(self):
        self.server.close()


@pytest.fixture
def clamd(tmp_path):
    daemon = Clamd(tmp_path / "clamd.ctl")
    yield daemon
    daemon.close()


def test_the_antivirus_hook_says_clean_refuses_a_threat_and_fails_closed(clamd, tmp_path):
    assert antivirus.scan("", PDF) == "not_scanned"
    big = PDF + b"%" + b"x" * 200_000  # several INSTREAM chunks
    assert antivirus.scan(clamd.path, big) == "clean" and clamd.received == len(big)
    with pytest.raises(antivirus.InvalidInput) as infected:
        antivirus.scan(clamd.path, PDF + EICAR)
    assert infected.value.errors["attachment"].code == "infected"
    for unreachable in (str(tmp_path / "no-clamd.ctl"), "127.0.0.1:1"):
        with pytest.raises(antivirus.InvalidInput) as down:
            antivirus.scan(unreachable, PDF)
        assert down.value.errors["attachment"].code == "antivirus_unavailable"


@pytest.mark.parametrize("carnet_env", [{"CARNET_TELECARE_CLAMD_SOCKET": "/tmp/tc11-clamd-down.ctl"}],
                         indirect=True)
def test_with_clamd_configured_but_down_an_attachment_is_refused_and_nothing_is_written(
        client, login_as, world, carnet_db):
    login_as(client, world.owner)
    refused = _start(client, world.patient, files={"attachment": ("bilan.pdf", PDF, "application/pdf")})
    assert refused.status_code == 422 and "antivirus" in refused.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Message)).all() == [] and db.exec(select(Attachment)).all() == []


CLAMD_PATH = Path("/tmp") / f"tc11-clamd-{os.getpid()}.ctl"


@pytest.mark.parametrize("carnet_env", [{"CARNET_TELECARE_CLAMD_SOCKET": str(CLAMD_PATH)}], indirect=True)
def test_with_clamd_an_attachment_is_stored_as_scanned_clean_and_a_threat_is_refused(
        client, login_as, world, carnet_db):
    CLAMD_PATH.unlink(missing_ok=True)
    daemon = Clamd(CLAMD_PATH)
    try:
        login_as(client, world.owner)
        assert _start(client, world.patient, files={"attachment": ("bilan.pdf", PDF, "application/pdf")}
                      ).status_code == 303
        infected = _start(client, world.patient, files={"attachment": ("b.pdf", PDF + EICAR, "application/pdf")})
        assert infected.status_code == 422 and "antivirus" in infected.text
    finally:
        daemon.close()
        CLAMD_PATH.unlink(missing_ok=True)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert [a.scan for a in db.exec(select(Attachment))] == ["clean"]


@pytest.mark.parametrize("carnet_env", [{"CARNET_TELECARE_PATIENT_MESSAGES_PER_DAY": "3"}], indirect=True)
def test_the_patient_side_is_capped_per_day_over_every_conversation_and_a_refusal_writes_nothing(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    assert _start(client, world.patient, subject="Première").status_code == 303
    wait_for_jobs(jobs_worker)
    first, path, _, token = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        for n in range(2):  # under the hourly limit of a conversation (4)
            assert first.post(f"{path}/answer", data={"_csrf_token": token, "body": f"Q{n}"},
                              files=NOFILE, follow_redirects=False).status_code == 303
    finally:
        first.__exit__(None, None, None)
    assert _start(client, world.patient, subject="Seconde").status_code == 303
    wait_for_jobs(jobs_worker)
    second, path, _, token = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        assert second.post(f"{path}/answer", data={"_csrf_token": token, "body": "Q3"},
                           files=NOFILE, follow_redirects=False).status_code == 303
        # one message in this conversation, three for the patient today: the daily cap answers
        refused = second.post(f"{path}/answer", data={"_csrf_token": token, "body": "Encore"}, files=NOFILE)
        assert refused.status_code == 422, refused.status_code
        assert "3 messages aujourd" in refused.text.replace("&#39;", "'"), refused.text
    finally:
        second.__exit__(None, None, None)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert len(db.exec(select(Message).where(Message.author == "patient")).all()) == 3


SECRETS = (CANARY, "Lefèvre", "Élodie", "elodie@example.org", "bilan-canari")


def test_no_patient_data_in_the_logs_of_a_whole_flow_video_included(
        app, client, login_as, world, carnet_settings, jobs_worker, caplog):
    import json

    caplog.set_level(logging.DEBUG)
    login_as(client, world.owner)
    assert _start(client, world.patient, files={"attachment": ("bilan-canari.pdf", PDF, "application/pdf")}
                  ).status_code == 303
    wait_for_jobs(jobs_worker)
    patient, path, opened, token = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        assert CANARY in opened.text
        patient.post(f"{path}/answer", data={"_csrf_token": token, "body": f"Réponse {CANARY}"}, files=NOFILE)
    finally:
        patient.__exit__(None, None, None)
    session_url = _plan(client, world.patient).headers["location"]
    wait_for_jobs(jobs_worker)
    join, _ = _join_link(carnet_settings, "elodie@example.org")
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as browser:
        page = browser.get(join)
        csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        assert browser.post(join, data={"_csrf_token": csrf}).status_code == 200
        with browser.websocket_connect(f"{join}/signal", headers={"origin": "http://127.0.0.1:8000"}) as ws:
            ws.receive_text()
            ws.send_text(json.dumps({"type": "chat", "text": CANARY}))  # refused: its content is never logged
            ws.receive_text()
    client.post(f"{session_url}/report", data={"report": f"Séance {CANARY}"})
    # the server's records (the test's own HTTP client, httpx, logs the URLs it calls: not ours)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records
                       if not r.name.startswith(("httpx", "httpcore")))
    assert logged, "nothing was logged: the test would prove nothing"
    for secret in (*SECRETS, join.rsplit("/", 1)[1]):
        assert secret not in logged, secret


@pytest.mark.redis
def test_no_patient_data_reaches_redis_through_telecare_jobs(
        app, client, login_as, carnet_db, make_clinic, staff, redis_jobs, carnet_settings):
    world = make_world(carnet_db, make_clinic, staff, slug="cabinet-telecare-redis")
    login_as(client, world.owner)
    assert _start(client, world.patient, files={"attachment": ("bilan-canari.pdf", PDF, "application/pdf")}
                  ).status_code == 303
    assert _plan(client, world.patient).status_code == 303
    redis_jobs.relay.run_once()
    published = redis_dump(redis_jobs.broker.client, redis_jobs.config.namespace)
    assert published, "nothing reached Redis: the test would prove nothing"
    redis_jobs.start_worker()
    wait_for_jobs(redis_jobs, timeout=60)
    processed = redis_dump(redis_jobs.broker.client, redis_jobs.config.namespace)
    for secret in SECRETS:
        assert secret.encode() not in published and secret.encode() not in processed, secret
