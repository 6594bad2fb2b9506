"""Jobs against a real Redis: rollback, Redis down then back, double delivery, failures, policy."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from jobs_plugin import ExamplePlugin, clinic_name

from carnet_core.jobs import JobsError, enqueue
from carnet_core.jobs.models import FailedJob, JobEffect, OutboxMessage
from carnet_core.jobs.outbox import outbox_counts
from carnet_core.jobs.runtime import setup_jobs
from carnet_core.jobs.testing import (
    delete_namespace,
    test_jobs_config,
    unique_namespace,
    wait_for_jobs,
)
from carnet_core.plugins import build_plugin_host
from carnet_core.testing import stop_process

pytestmark = pytest.mark.redis


@pytest.fixture
def example(inline_plugins):
    return inline_plugins.add("example", ExamplePlugin())


@pytest.fixture
def plugin_host(carnet_settings, inline_plugins, example):
    return build_plugin_host(carnet_settings, extra=inline_plugins.items)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server this test starts and stops on a loopback port (no persistence)."""

    def __init__(self, workdir: Path, policy: str = "noeviction"):
        self.port = free_port()
        self.workdir = workdir
        self.policy = policy
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.proc = subprocess.Popen(  # noqa: S603
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--maxmemory-policy", self.policy, "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
            self.proc = None


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path)
    yield server
    server.stop()


def test_a_job_enqueued_in_a_rolled_back_transaction_is_never_run_on_redis(redis_jobs, example, make_clinic):
    redis_jobs.start_worker()
    clinic = make_clinic("alpha", plugins=[])
    with pytest.raises(RuntimeError), redis_jobs.db.session(clinic_id=clinic.id) as db:
        enqueue(db, "example.mark", clinic.id)
        raise RuntimeError("the booking failed")
    with redis_jobs.db.session(clinic_id=clinic.id) as db:
        committed = enqueue(db, "example.mark", clinic.id)
    wait_for_jobs(redis_jobs)
    # only the committed job ran
    assert [c[1] for c in example.calls_of("mark")] == [committed.message_id]
    assert clinic_name(redis_jobs.db, clinic.id) == "Alpha!"


def test_a_job_enqueued_while_redis_is_down_runs_once_redis_is_back(
        plugin_host, carnet_db, own_redis, example, make_clinic):
    clinic = make_clinic("alpha", plugins=[])
    runtime = setup_jobs(plugin_host.settings, plugin_host, carnet_db, redis_url=own_redis.url,
                         config=test_jobs_config({}))
    try:
        # given Redis is not running: the business transaction still commits
        with carnet_db.session(clinic_id=clinic.id) as db:
            row = enqueue(db, "example.mark", clinic.id)
        # and the relay cannot publish: the row stays pending, with a backoff
        assert runtime.relay.run_once() == 0
        with carnet_db.session(unscoped=True) as s:
            pending = s.get(OutboxMessage, row.id)
        assert pending.status == "pending" and pending.last_error.startswith("publish failed")
        assert runtime.relay.backoff() >= 1
        # when Redis comes back (and the backoff has passed)
        own_redis.start()
        with carnet_db.session(unscoped=True) as s:
            s.execute(sa.update(OutboxMessage.__table__).values(claimed_until=None))
        runtime.start_worker()
        wait_for_jobs(runtime)
        # then the job ran, once
        assert [c[1] for c in example.calls_of("mark")] == [row.message_id]
        assert clinic_name(carnet_db, clinic.id) == "Alpha!"
    finally:
        runtime.close()


def test_the_relay_thread_publishes_when_redis_returns_without_help(
        plugin_host, carnet_db, own_redis, example, make_clinic):
    clinic = make_clinic("alpha", plugins=[])
    runtime = setup_jobs(plugin_host.settings, plugin_host, carnet_db, redis_url=own_redis.url,
                         config=test_jobs_config({}))
    try:
        runtime.start(scheduler=False)  # worker + relay threads, Redis still down
        with carnet_db.session(clinic_id=clinic.id) as db:
            enqueue(db, "example.mark", clinic.id)
        time.sleep(1.0)
        assert example.calls_of("mark") == []
        own_redis.start()
        deadline = time.monotonic() + 30
        # the worker marks the job done just after the job's own commit: wait for both
        while (clinic_name(carnet_db, clinic.id) != "Alpha!" or outbox_counts(carnet_db)["done"] != 1) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert clinic_name(carnet_db, clinic.id) == "Alpha!"
        assert outbox_counts(carnet_db)["done"] == 1
    finally:
        runtime.close()


def test_a_message_delivered_twice_by_redis_produces_one_effect(redis_jobs, example, make_clinic):
    example.mark_delay = 0.3
    clinic = make_clinic("alpha", plugins=[])
    with redis_jobs.db.session(clinic_id=clinic.id) as db:
        row = enqueue(db, "example.mark", clinic.id)
    # given the same message twice in Redis (a relay that died before marking it published)
    claimed = redis_jobs.relay.claim()
    redis_jobs.broker.enqueue(redis_jobs.relay.message_for(claimed[0]))
    redis_jobs.relay.publish(claimed)
    # when two worker threads take both copies
    redis_jobs.start_worker(threads=2)
    wait_for_jobs(redis_jobs)
    deadline = time.monotonic() + 10
    while len(example.calls_of("mark")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    # then both were delivered and the effect happened once
    assert [c[1] for c in example.calls_of("mark")] == [row.message_id, row.message_id]
    assert clinic_name(redis_jobs.db, clinic.id) == "Alpha!"
    with redis_jobs.db.session(unscoped=True) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(JobEffect)).scalar_one() == 1


def test_jobs_that_exhaust_their_retries_on_redis_are_kept_in_the_database(redis_jobs, example):
    redis_jobs.start_worker()
    with redis_jobs.db.session(unscoped=True) as db:
        row = enqueue(db, "example.boom")
    counts = wait_for_jobs(redis_jobs, timeout=30)
    assert counts["failed"] == 1
    assert example.calls_of("boom") == [0, 1, 2]
    with redis_jobs.db.session(unscoped=True) as s:
        failed = s.execute(sa.select(FailedJob)).scalars().one()
    assert (failed.message_id, failed.retries) == (row.message_id, 2)


def test_production_start_refuses_a_redis_that_may_evict(plugin_host, carnet_db, tmp_path):
    server = OwnRedis(tmp_path, policy="allkeys-lru")
    server.start()
    try:
        runtime = setup_jobs(plugin_host.settings, plugin_host, carnet_db, redis_url=server.url,
                             config=test_jobs_config({}))
        with pytest.raises(JobsError, match="maxmemory-policy 'allkeys-lru'.*noeviction"):
            runtime.check_broker()
        # and the relay publishes nothing to it
        with carnet_db.session(unscoped=True) as db:
            enqueue(db, "example.nightly")
        assert runtime.relay.run_once() == 0
        assert outbox_counts(carnet_db)["pending"] == 1
        runtime.close()
    finally:
        server.stop()


def test_the_shared_test_redis_accepts_the_policy_check(redis_jobs):
    assert redis_jobs.check_broker() is True


def test_namespaces_keep_tests_apart(redis_jobs, carnet_db):
    # the runtime writes only under its own namespace, which the fixture deletes afterwards
    with carnet_db.session(unscoped=True) as db:
        enqueue(db, "example.nightly")
    redis_jobs.relay.run_once()
    ns = redis_jobs.config.namespace
    keys = list(redis_jobs.broker.client.scan_iter(match=f"{ns}:*"))
    assert keys and all(k.decode().startswith(f"{ns}:") for k in keys)
    other = unique_namespace()
    delete_namespace(redis_jobs.broker.client, other)  # deleting another namespace touches nothing
    assert list(redis_jobs.broker.client.scan_iter(match=f"{ns}:*"))
