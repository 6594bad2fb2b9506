"""Real `carnet worker` processes against Redis: a worker SIGKILLed mid-job, graceful stop, and
the command's refusal without Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from carnet_core.db.session import ACTORS
from carnet_core.jobs import enqueue
from carnet_core.jobs.models import JobEffect, OutboxMessage
from carnet_core.jobs.testing import delete_namespace, unique_namespace
from carnet_core.testing import running_process, stop_process
from carnet_core.testing.plugin import test_redis_url

PLUGIN = '''
"""A plugin installed for a worker subprocess: `killtest.slow` waits for a gate, then appends "!"
to the clinic's name once per message."""
import time
from pathlib import Path

import sqlalchemy as sa

from carnet_core.clinics.models import Clinic
from carnet_core.contrib import ActorSpec
from carnet_core.hookspecs import hookimpl
from carnet_core.jobs import once


def slow(clinic_id, gate, job):
    gate = Path(gate)
    with (gate / "starts").open("a") as f:
        f.write(f"{job.message_id}\\n")
    deadline = time.monotonic() + 60
    while not (gate / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with job.session(unscoped=True) as db:
        if once(db, job.key()):
            t = Clinic.__table__
            db.execute(sa.update(t).where(t.c.id == clinic_id).values(name=t.c.name + "!"))


@hookimpl
def register_actors():
    return [ActorSpec("slow", slow)]
'''


def install_plugin(root: Path) -> None:
    """A real distribution on sys.path: package, metadata with its core range, entry point."""
    (root / "carnet_killtest").mkdir(parents=True)
    (root / "carnet_killtest" / "__init__.py").write_text("")
    (root / "carnet_killtest" / "plugin.py").write_text(PLUGIN)
    info = root / "carnet_killtest-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(textwrap.dedent("""\
        Metadata-Version: 2.1
        Name: carnet-killtest
        Version: 0.1.0
        Requires-Dist: carnet-core>=0.1,<1
        """))
    (info / "entry_points.txt").write_text("[carnet.plugins]\nkilltest = carnet_killtest.plugin\n")


def worker_env(carnet_settings, root: Path, namespace: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env.update({
        "CARNET_HOME": str(carnet_settings.home),
        "CARNET_DATABASE_URL": carnet_settings.database_url,
        "CARNET_REDIS_URL": redis_url,
        "CARNET_ALLOWED_PLUGINS": "killtest",
        "CARNET_JOBS_NAMESPACE": namespace,
        # a dead worker's unacknowledged message goes back to the queue after 2 s without
        # heartbeat; every broker call runs that maintenance (production: 60 s, 0.1 %)
        "CARNET_JOBS_HEARTBEAT_TIMEOUT_MS": "2000",
        "CARNET_JOBS_MAINTENANCE_CHANCE": "1000000",
        "CARNET_JOBS_RELAY_INTERVAL": "0.1",
        "CARNET_JOBS_WORKER_TIMEOUT_MS": "100",
        "PYTHONPATH": os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    })
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "carnet_workers", "worker", "--threads", "2"],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_until(predicate, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.05)


def outbox_row(db, row_id):
    with db.session(unscoped=True) as s:
        return s.get(OutboxMessage, row_id)


@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_the_job_to_run_exactly_once_after_restart(
        tmp_path, carnet_settings, carnet_db, make_clinic):
    redis_url = test_redis_url()
    root = tmp_path / "site"
    install_plugin(root)
    gate = tmp_path / "gate"
    gate.mkdir()
    namespace = unique_namespace()
    env = worker_env(carnet_settings, root, namespace, redis_url)
    log = tmp_path / "worker.log"
    clinic = make_clinic("alpha", name="Alpha", plugins=[])
    with carnet_db.session(clinic_id=clinic.id) as db:
        # the plugin is installed in the worker's environment only, not in this process's
        db.info[ACTORS] = db.info.get(ACTORS, frozenset()) | {"killtest.slow"}
        row = enqueue(db, "killtest.slow", clinic.id, str(gate))
    first = start_worker(env, log)
    second = None
    try:
        # given a worker that has started the job
        wait_until(lambda: (gate / "starts").exists(), 30, "the job to start", log)
        assert outbox_row(carnet_db, row.id).status == "published"
        # when it is SIGKILLed mid-job, and the job's gate opens
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        (gate / "release").touch()
        assert outbox_row(carnet_db, row.id).status == "published"
        # and a new worker starts
        second = start_worker(env, log)
        wait_until(lambda: outbox_row(carnet_db, row.id).status == "done", 60, "the job to finish", log)
        # then the job ran again and its effect happened exactly once
        starts = (gate / "starts").read_text().split()
        assert starts == [row.message_id, row.message_id]
        with carnet_db.session(unscoped=True) as s:
            from carnet_core.clinics.models import Clinic

            assert s.get(Clinic, clinic.id).name == "Alpha!"
            assert s.execute(sa.select(sa.func.count()).select_from(JobEffect)).scalar_one() == 1
        # and a graceful stop (SIGTERM) ends the worker cleanly
        os.killpg(second.pid, signal.SIGTERM)
        assert second.wait(40) == 0
        assert b"stopped" in log.read_bytes()
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        import redis

        client = redis.Redis.from_url(redis_url)
        delete_namespace(client, namespace)
        client.close()


def test_carnet_worker_without_redis_explains_the_embedded_mode(carnet_settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env["CARNET_HOME"] = str(carnet_settings.home)
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "carnet_workers", "worker"], env=env, capture_output=True, timeout=60,
    )
    assert out.returncode != 0
    assert b"CARNET_REDIS_URL is not set" in out.stderr
    assert b"Traceback" not in out.stderr


@pytest.mark.redis
@pytest.mark.slow
def test_a_second_sigterm_ends_a_worker_at_once_and_its_job_is_left_to_be_run_again(
        tmp_path, carnet_settings, carnet_db, make_clinic):
    """The first SIGTERM lets running jobs finish (up to the shutdown budget); an operator who does
    not want to wait sends it again and the process ends now, exit code 1, the job unfinished."""
    redis_url = test_redis_url()
    root = tmp_path / "site"
    install_plugin(root)
    gate = tmp_path / "gate"
    gate.mkdir()
    namespace = unique_namespace()
    log = tmp_path / "worker.log"
    clinic = make_clinic("alpha", name="Alpha", plugins=[])
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info[ACTORS] = db.info.get(ACTORS, frozenset()) | {"killtest.slow"}
        row = enqueue(db, "killtest.slow", clinic.id, str(gate))
    env = worker_env(carnet_settings, root, namespace, redis_url)
    try:
        with running_process([sys.executable, "-m", "carnet_workers", "worker", "--threads", "2"],
                             env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT) as worker:
            # given a worker running a job that waits for its gate
            wait_until(lambda: (gate / "starts").exists(), 30, "the job to start", log)
            # when it is asked to stop, it waits for the job…
            os.killpg(worker.pid, signal.SIGTERM)
            wait_until(lambda: b"received SIGTERM; stopping" in log.read_bytes(), 10, "the first SIGTERM", log)
            time.sleep(1.0)
            assert worker.poll() is None
            # …until asked again: then it ends at once
            started = time.monotonic()
            assert stop_process(worker, timeout=10, group=True, log=log) == 1
            assert time.monotonic() - started < 5
        assert b"received SIGTERM again; exiting without waiting for running jobs" in log.read_bytes()
        # and the job is neither done nor lost: it waits to be re-driven to another worker
        assert outbox_row(carnet_db, row.id).status == "published"
        with carnet_db.session(unscoped=True) as s:
            from carnet_core.clinics.models import Clinic

            assert s.get(Clinic, clinic.id).name == "Alpha"
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        delete_namespace(client, namespace)
        client.close()
