"""Reminders against real Redis and real `carnet worker` processes: exactly once even when a
worker is SIGKILLed between delivering and recording, and nothing lost while Redis is down."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from patientside import mails, make_patient, next_weekday_at
from sqlmodel import select

from carnet_core.testing import JobEffect, OutboxMessage, stop_process, test_redis_url
from carnet_scheduling.patient_models import SENT, Reminder, ReminderRule
from carnet_scheduling.services import appointments as appts

pytestmark = pytest.mark.redis

# Test-only fault injection, loaded by the worker subprocess through PYTHONPATH: after each mail
# file is written, note it and sleep, so that the test can SIGKILL the worker inside the window
# between the delivery and the transaction that records it.
SITECUSTOMIZE = textwrap.dedent('''
    import os, time
    import carnet_core.mail as _mail

    _write = _mail.write_file_atomically

    def _slow_write(folder, name, data):
        path = _write(folder, name, data)
        with open(os.environ["CARNET_TEST_DELIVERIES"], "a") as log:
            log.write(name + "\\n")
        time.sleep(float(os.environ.get("CARNET_TEST_PAUSE_AFTER_DELIVERY", "0")))
        return path

    _mail.write_file_atomically = _slow_write
''')


def _book_due_now(carnet_db, world, plugin_host, count: int) -> list[int]:
    """`count` appointments of distinct patients, each with one e-mail reminder due now."""
    hooks = plugin_host.for_clinic({"scheduling"})
    patients = [make_patient(carnet_db, world, email_addr=f"p{i}@example.org", last=f"Nom{i}") for i in range(count)]
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        db.add(ReminderRule(channel="email", minutes_before=24 * 60))
        db.flush()
        ids = []
        for i, patient_id in enumerate(patients):
            start = next_weekday_at(i % 5, 8 + (i // 5) % 10, 30 * ((i // 50) % 2), weeks=2 + i // 100)
            appt = appts.book(db, practitioner_id=world.practitioner.id, patient_id=patient_id,
                              appointment_type_id=world.session_type_id, starts_at=start, hooks=hooks)
            ids.append(appt.id)
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.update(OutboxMessage.__table__).values(not_before=None))
    return ids


def _worker_env(carnet_settings, redis_url: str, namespace: str, extra_path: Path | None = None, **more: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env.update({
        "CARNET_HOME": str(carnet_settings.home),
        "CARNET_DATABASE_URL": carnet_settings.database_url,
        "CARNET_REDIS_URL": redis_url,
        "CARNET_BASE_URL": carnet_settings.base_url,
        "CARNET_JOBS_NAMESPACE": namespace,
        "CARNET_JOBS_RELAY_INTERVAL": "0.1",
        "CARNET_JOBS_MIN_BACKOFF_MS": "100",
        "CARNET_JOBS_MAX_BACKOFF_MS": "1000",
        "CARNET_JOBS_REDRIVE_AFTER": "5",
        "CARNET_JOBS_HEARTBEAT_TIMEOUT_MS": "2000",
        "CARNET_JOBS_MAINTENANCE_CHANCE": "1000000",
        "CARNET_JOBS_WORKER_THREADS": "2",
    })
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    env.update(more)
    return env


def _start_worker(env) -> subprocess.Popen:
    log = open(Path(env["CARNET_HOME"]) / "worker.log", "ab")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen([sys.executable, "-m", "carnet_workers", "worker", "--processes", "1"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def _statuses(carnet_db, world, ids) -> list[str]:
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return [r.status for r in db.exec(select(Reminder).where(sa.column("appointment_id").in_(ids)))]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _clean_namespace(redis_url: str, namespace: str) -> None:
    import redis

    from carnet_core.testing import delete_namespace

    delete_namespace(redis.Redis.from_url(redis_url), namespace)


def test_reminders_are_sent_exactly_once_when_a_worker_is_killed_between_sending_and_recording(
        carnet_db, world, plugin_host, carnet_settings, tmp_path):
    redis_url = test_redis_url()
    namespace = f"carnet-test-{uuid.uuid4().hex[:10]}"
    ids = _book_due_now(carnet_db, world, plugin_host, 12)
    hooks_dir = tmp_path / "faults"
    hooks_dir.mkdir()
    (hooks_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    deliveries = tmp_path / "deliveries.log"
    deliveries.touch()
    kills = 0
    worker = None
    try:
        # given a worker that pauses after each delivery, killed with SIGKILL inside that pause, three times
        for _ in range(3):
            seen = len(deliveries.read_text().splitlines())
            worker = _start_worker(_worker_env(carnet_settings, redis_url, namespace, hooks_dir,
                                               CARNET_TEST_DELIVERIES=str(deliveries),
                                               CARNET_TEST_PAUSE_AFTER_DELIVERY="30"))
            _wait(lambda s=seen: len(deliveries.read_text().splitlines()) > s, 60, "a delivery")
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            kills += 1
        # when a healthy worker takes over
        worker = _start_worker(_worker_env(carnet_settings, redis_url, namespace, hooks_dir,
                                           CARNET_TEST_DELIVERIES=str(deliveries)))
        _wait(lambda: _statuses(carnet_db, world, ids) == [SENT] * len(ids), 120, "every reminder sent")
    finally:
        if worker is not None:
            stop_process(worker, timeout=40)
        _clean_namespace(redis_url, namespace)
    # then the killed deliveries were made again (the window was hit) yet each reminder is one file
    names = deliveries.read_text().splitlines()
    assert kills == 3 and len(names) > len(set(names))
    files = sorted(Path(carnet_settings.mail_dir).glob("*.eml"))
    assert len(files) == len(ids) == len(set(names))
    assert sorted({m["To"] for m in mails(carnet_settings)}) == sorted(f"p{i}@example.org" for i in range(12))
    with carnet_db.session(unscoped=True) as db:
        keys = db.exec(select(JobEffect.key).where(JobEffect.key.like("scheduling.reminder:%"))).all()
    assert len(keys) == len(set(keys)) == len(ids)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_server(port: int, folder: Path) -> subprocess.Popen:
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(folder), "--maxmemory-policy", "noeviction"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    _wait(lambda: _pings(client), 10, "redis-server to start")
    return server


def _pings(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_a_booking_made_while_redis_is_down_gets_its_reminder_once_redis_is_back(
        carnet_db, world, plugin_host, carnet_settings, tmp_path):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed to stop and restart a Redis of the test's own")
    port = _free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    server = _redis_server(port, tmp_path)
    worker = _start_worker(_worker_env(carnet_settings, redis_url, "carnet-down"))
    try:
        time.sleep(1.0)
        # given Redis stops
        server.terminate()
        server.wait(10)
        # when a booking is made
        ids = _book_due_now(carnet_db, world, plugin_host, 1)
        time.sleep(2.0)
        # then it committed, its reminder waits in the outbox and nothing was sent
        assert _statuses(carnet_db, world, ids) == ["scheduled"]
        assert mails(carnet_settings) == []
        with carnet_db.session(unscoped=True) as db:
            assert db.exec(select(OutboxMessage.status).where(
                OutboxMessage.actor == "scheduling.send_reminder")).all() == ["pending"]
        # and once Redis is back the reminder goes out, once
        server = _redis_server(port, tmp_path)
        _wait(lambda: _statuses(carnet_db, world, ids) == [SENT], 90, "the reminder after Redis came back")
        assert len(mails(carnet_settings)) == 1
    finally:
        try:
            stop_process(worker, timeout=40)
        finally:
            stop_process(server, timeout=10)
