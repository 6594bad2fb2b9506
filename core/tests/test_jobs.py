"""Jobs on the in-process broker: outbox, idempotency, failures, schedules, app lifecycle."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from jobs_plugin import ExamplePlugin, clinic_name

from carnet_core.jobs import JobsError, enqueue, enqueue_with_options, once
from carnet_core.jobs.broker import declare_actors
from carnet_core.jobs.models import FailedJob, JobEffect, OutboxMessage
from carnet_core.jobs.outbox import Relay, outbox_counts
from carnet_core.jobs.scheduler import Scheduler, lease_holder
from carnet_core.jobs.testing import test_jobs_config, wait_for_jobs
from carnet_core.plugins import build_plugin_host


@pytest.fixture
def example(inline_plugins):
    return inline_plugins.add("example", ExamplePlugin())


@pytest.fixture
def plugin_host(carnet_settings, inline_plugins, example):
    return build_plugin_host(carnet_settings, extra=inline_plugins.items)


def outbox_rows(db):
    with db.session(unscoped=True) as s:
        return s.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()


def test_actors_are_declared_as_plugin_dot_name_on_the_plugin_queue(jobs):
    assert {"example.mark", "example.boom", "example.tick", "example.nightly"} <= set(jobs.actors)
    assert jobs.actors["example.mark"].queue_name == "example"
    assert jobs.actors["example.nightly"].queue_name == "example_slow"
    assert jobs.actors["example.boom"].options["max_retries"] == 2
    assert dramatiq.get_broker() is jobs.broker


def test_declaring_actors_without_a_broker_fails_clearly(plugin_host):
    with pytest.raises(JobsError, match="no broker is configured"):
        declare_actors(plugin_host, None)


def test_a_job_enqueued_in_a_committed_transaction_runs_with_its_message_id(
    jobs_worker, example, make_clinic
):
    clinic = make_clinic("alpha", plugins=[])
    # given a job enqueued in a clinic-bound unit of work
    with jobs_worker.db.session(clinic_id=clinic.id) as db:
        row = enqueue(db, "example.mark", clinic.id)
    # when the outbox is relayed and the worker runs
    counts = wait_for_jobs(jobs_worker)
    # then the job ran once, saw its outbox message id and clinic, and is marked done
    assert example.calls_of("mark") == [(clinic.id, row.message_id, clinic.id)]
    assert clinic_name(jobs_worker.db, clinic.id) == "Alpha!"
    assert counts["done"] == 1
    assert outbox_rows(jobs_worker.db)[0].runs == 1


def test_a_job_enqueued_in_a_rolled_back_transaction_is_never_run(
    jobs_worker, example, make_clinic
):
    clinic = make_clinic("alpha", plugins=[])
    # given a transaction that enqueues a job and then fails
    with pytest.raises(RuntimeError), jobs_worker.db.session(clinic_id=clinic.id) as db:
        enqueue(db, "example.mark", clinic.id)
        raise RuntimeError("the booking failed")
    # when the relay runs
    published = jobs_worker.relay.run_once()
    jobs_worker.worker.join()
    # then nothing was published nor run
    assert published == 0
    assert outbox_rows(jobs_worker.db) == []
    assert example.calls_of("mark") == []
    assert clinic_name(jobs_worker.db, clinic.id) == "Alpha"


def test_a_job_with_not_before_waits_for_its_time(jobs_worker, example, make_clinic):
    clinic = make_clinic("alpha", plugins=[])
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    with jobs_worker.db.session(clinic_id=clinic.id) as db:
        enqueue_with_options(db, "example.mark", args=[clinic.id], not_before=soon)
    assert jobs_worker.relay.run_once() == 0
    assert outbox_counts(jobs_worker.db)["scheduled"] == 1
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.05)
    wait_for_jobs(jobs_worker)
    assert len(example.calls_of("mark")) == 1


def test_a_message_delivered_twice_produces_one_effect(jobs, example, make_clinic):
    example.mark_delay = 0.3
    # both deliveries inside the actor before either claims its effect (without it, on SQLite the
    # second delivery's start waits for the first one's write lock, and then finds the job done)
    example.rendezvous = threading.Barrier(2)
    clinic = make_clinic("alpha", plugins=[])
    with jobs.db.session(clinic_id=clinic.id) as db:
        row = enqueue(db, "example.mark", clinic.id)
    # given the same message published twice (a relay that crashed before marking it published)
    claimed = jobs.relay.claim()
    message = jobs.relay.message_for(claimed[0])
    jobs.broker.enqueue(message)
    jobs.relay.publish(claimed)
    # when two worker threads take both copies at once
    jobs.start_worker(threads=2)
    wait_for_jobs(jobs)
    # then both deliveries ran but the effect happened once
    assert [c[1] for c in example.calls_of("mark")] == [row.message_id, row.message_id]
    assert clinic_name(jobs.db, clinic.id) == "Alpha!"
    with jobs.db.session(unscoped=True) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(JobEffect)).scalar_one() == 1


def test_a_redelivery_after_the_job_finished_is_skipped(jobs_worker, example, make_clinic):
    clinic = make_clinic("alpha", plugins=[])
    with jobs_worker.db.session(clinic_id=clinic.id) as db:
        row = enqueue(db, "example.mark", clinic.id)
    wait_for_jobs(jobs_worker)
    # when the broker delivers the finished message again
    jobs_worker.broker.enqueue(jobs_worker.relay.message_for(row))
    jobs_worker.broker.join("example")
    jobs_worker.worker.join()
    # then the actor is not called a second time
    assert len(example.calls_of("mark")) == 1
    assert clinic_name(jobs_worker.db, clinic.id) == "Alpha!"


def test_once_claims_a_key_only_once_across_transactions(carnet_db):
    with carnet_db.session(unscoped=True) as db:
        assert once(db, "example.k:1") is True
    with carnet_db.session(unscoped=True) as db:
        assert once(db, "example.k:1") is False
        assert once(db, "example.k:2") is True
    # an effect rolled back releases its key
    with pytest.raises(RuntimeError), carnet_db.session(unscoped=True) as db:
        assert once(db, "example.k:3") is True
        raise RuntimeError("effect failed")
    with carnet_db.session(unscoped=True) as db:
        assert once(db, "example.k:3") is True


def test_jobs_that_exhaust_their_retries_are_kept_and_listed(
    jobs_worker, example, carnet_settings, monkeypatch
):
    with jobs_worker.db.session(unscoped=True) as db:
        row = enqueue(db, "example.boom")
    counts = wait_for_jobs(jobs_worker)
    # then the job ran 1 + max_retries times and landed in the failed table
    assert example.calls_of("boom") == [0, 1, 2]
    assert counts["failed"] == 1
    with jobs_worker.db.session(unscoped=True) as s:
        failed = s.execute(sa.select(FailedJob)).scalars().all()
    assert [(f.message_id, f.actor, f.queue, f.retries) for f in failed] == [
        (row.message_id, "example.boom", "example", 2)
    ]
    assert failed[0].error == "RuntimeError: the SMS gateway refused the message"
    assert "Traceback" in failed[0].traceback
    # and `carnet jobs failed` shows it
    from carnet_core.cli import Runtime
    from carnet_core.jobs.cli import jobs as jobs_group

    rt = Runtime(settings=jobs_worker.settings, _host=jobs_worker.host, _db=jobs_worker.db)
    out = CliRunner().invoke(jobs_group, ["failed", "--json"], obj=rt)
    assert out.exit_code == 0, out.output
    listed = json.loads(out.stdout)
    assert [(i["actor"], i["retries"]) for i in listed] == [("example.boom", 2)]
    status = CliRunner().invoke(jobs_group, ["status", "--json"], obj=rt)
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["failed"] == 1 and data["broker"] == "in-process"
    # installed plugins (scheduling, …) add their own queues
    assert {"core", "example", "example_slow"} <= set(data["queues"])
    # and `carnet jobs retry` enqueues it again
    retried = CliRunner().invoke(jobs_group, ["retry", str(listed[0]["id"])], obj=rt)
    assert retried.exit_code == 0, retried.output
    assert outbox_counts(jobs_worker.db)["pending"] == 1


def test_cli_jobs_failed_lists_nothing_on_a_clean_database(jobs):
    from carnet_core.cli import Runtime
    from carnet_core.jobs.cli import jobs as jobs_group

    rt = Runtime(settings=jobs.settings, _host=jobs.host, _db=jobs.db)
    out = CliRunner().invoke(jobs_group, ["failed"], obj=rt)
    assert out.exit_code == 0 and "no failed job" in out.output


def test_a_job_past_its_max_age_expires_instead_of_running(jobs_worker, example, make_clinic):
    clinic = make_clinic("alpha", plugins=[])
    with jobs_worker.db.session(clinic_id=clinic.id) as db:
        enqueue_with_options(
            db,
            "example.mark",
            args=[clinic.id],
            max_age=timedelta(milliseconds=1),
            not_before=datetime.now(UTC) - timedelta(seconds=5),
        )
    counts = wait_for_jobs(jobs_worker)
    assert counts["expired"] == 1
    assert example.calls_of("mark") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"actor": "Mark"}, "must be '<plugin>.<name>'"),
        ({"args": [object()]}, "not JSON-serialisable"),
        ({"not_before": datetime(2030, 1, 1)}, "timezone-aware"),
    ],
)
def test_enqueue_refuses_bad_input_and_writes_nothing(carnet_db, kwargs, message):
    actor = kwargs.pop("actor", "example.mark")
    with pytest.raises(JobsError, match=message), carnet_db.session(unscoped=True) as db:
        enqueue_with_options(db, actor, **kwargs)
    assert outbox_rows(carnet_db) == []


def test_two_relays_never_publish_a_row_twice(jobs, carnet_db):
    # given 300 committed jobs
    with carnet_db.session(unscoped=True) as db:
        for _ in range(300):
            enqueue(db, "example.nightly")
    relays = [Relay(carnet_db, jobs.broker, test_jobs_config({}, relay_batch=7)) for _ in range(3)]
    # when three relays publish concurrently
    threads = [threading.Thread(target=r.run_once) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then every row was published exactly once
    queue = jobs.broker.queues["example_slow"]
    ids = []
    while not queue.empty():
        ids.append(dramatiq.Message.decode(queue.get_nowait()).message_id)
    assert len(ids) == 300 and len(set(ids)) == 300
    assert outbox_counts(carnet_db)["published"] == 300


def test_per_clinic_schedule_skips_a_clinic_that_disabled_the_plugin(
    jobs_worker, example, make_clinic
):
    on = make_clinic("on", plugins=["example"])
    off = make_clinic("off", plugins=["example"])
    none = make_clinic("none", plugins=[])
    from carnet_core.clinics.services import set_plugin_enabled

    with jobs_worker.db.session(clinic_id=off.id) as db:
        set_plugin_enabled(db, off.id, "example", False, ["example"])
    scheduler = Scheduler(jobs_worker.db, jobs_worker.host, jobs_worker.config)
    # when the scheduler fires
    enqueued = scheduler.tick()
    wait_for_jobs(jobs_worker)
    # then the per-clinic job ran for the enabled clinic only, and the global ones once
    # (the example's nightly job, core's audit checkpoint, backup check and retention)
    assert enqueued == 5
    assert example.calls_of("tick") == [on.id]
    assert example.calls_of("nightly") == [None]
    assert none.id not in example.calls_of("tick")
    # and nothing fires again before the next occurrence
    assert scheduler.tick() == 0


def test_a_schedule_fires_again_after_its_period(jobs, example, make_clinic):
    example.schedule_every = timedelta(milliseconds=300)
    make_clinic("on", plugins=["example"])
    scheduler = Scheduler(jobs.db, jobs.host, jobs.config)
    # the times are given: a tick may take longer than the period on a loaded machine
    start = datetime.now(UTC)
    assert scheduler.tick(start) == 5  # tick + nightly + core's audit checkpoint, backup check, retention
    assert scheduler.tick(start + timedelta(milliseconds=299)) == 0
    assert scheduler.tick(start + timedelta(milliseconds=350)) == 1  # tick again; nightly, hourly, daily not yet
    assert scheduler.tick(start + timedelta(milliseconds=500)) == 0


def test_two_schedulers_elect_one_leader_and_fire_each_occurrence_once(jobs, example, make_clinic):
    example.schedule_every = timedelta(milliseconds=200)
    make_clinic("on", plugins=["example"])
    # A lease far longer than the run: on a loaded machine a leader's thread may wait for a core
    # longer than half a second, and a leader paused past its lease is rightly replaced (both then
    # believe they lead until the paused one ticks again; the conditional claim below still fires
    # each occurrence once). Renewal and hand-over on expiry are proven, clock in hand, by the
    # next test.
    config = test_jobs_config({}, scheduler_interval=0.02, scheduler_lease=10.0)
    a = Scheduler(jobs.db, jobs.host, config, name="sched-a")
    b = Scheduler(jobs.db, jobs.host, config, name="sched-b")
    leaders = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            leaders.append((a.leader, b.leader))
            time.sleep(0.01)

    threads = [
        threading.Thread(target=a.run_forever, args=(stop,)),
        threading.Thread(target=b.run_forever, args=(stop,)),
        threading.Thread(target=watch),
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(1.1)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    # then never both led, exactly one led, and ticks were not duplicated
    assert not any(x and y for x, y in leaders)
    assert {a.leader, b.leader} == {False}  # both released on stop
    with jobs.db.session(unscoped=True) as s:
        rows = s.execute(sa.select(OutboxMessage.actor)).scalars().all()
    ticks = rows.count("example.tick")
    assert 1 <= ticks <= int(elapsed / 0.2) + 1
    assert rows.count("example.nightly") == 1


def test_scheduler_leadership_is_renewed_and_passes_on_when_the_leader_stops_renewing(jobs, monkeypatch):
    # The lease is read against the scheduler's clock: stepped by hand here, so how long each
    # step takes on a loaded machine changes nothing.
    clock = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    monkeypatch.setattr("carnet_core.jobs.scheduler.utcnow", lambda: clock[0])
    lease = timedelta(seconds=0.3)
    config = test_jobs_config({}, scheduler_interval=0.05, scheduler_lease=lease.total_seconds())
    a = Scheduler(jobs.db, jobs.host, config, name="sched-a")
    b = Scheduler(jobs.db, jobs.host, config, name="sched-b")
    assert a.elect() is True
    assert b.elect() is False
    assert lease_holder(jobs.db) == ("sched-a", clock[0] + lease)
    clock[0] += timedelta(seconds=0.2)
    assert a.elect() is True  # renewed: the lease now runs 0.3 s from here
    assert lease_holder(jobs.db) == ("sched-a", clock[0] + lease)
    clock[0] += timedelta(seconds=0.2)  # past the first term, within the renewed one
    assert b.elect() is False
    clock[0] += timedelta(seconds=0.15)  # a is paused past its lease
    assert b.elect() is True
    assert a.elect() is False
    assert lease_holder(jobs.db) == ("sched-b", clock[0] + lease)


def test_embedded_app_runs_jobs_in_process_and_stops_them_with_the_app(
    carnet_settings, plugin_host, carnet_db, example, make_clinic
):
    from litestar.testing import TestClient

    from carnet_core.web.app import create_app

    settings = plugin_host.settings.model_copy(
        update={
            "in_process_worker": True,
            "env": {
                **plugin_host.settings.env,
                "CARNET_JOBS_RELAY_INTERVAL": "0.05",
                "CARNET_JOBS_WORKER_TIMEOUT_MS": "50",
            },
        }
    )
    plugin_host.settings = settings
    clinic = make_clinic("alpha", plugins=["example"])
    app = create_app(settings, host=plugin_host, db=carnet_db)
    runtime = app.state["carnet"].jobs
    assert runtime is not None and runtime.mode == "in-process"
    with TestClient(app=app):
        assert runtime.worker is not None
        with carnet_db.session(clinic_id=clinic.id) as db:
            enqueue(db, "example.mark", clinic.id)
        deadline = time.monotonic() + 10
        while clinic_name(carnet_db, clinic.id) != "Alpha!" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert clinic_name(carnet_db, clinic.id) == "Alpha!"
        assert runtime.scheduler is not None
    # the app's shutdown stopped the threads
    assert runtime.worker is None
    assert runtime.relay._thread is None and runtime.scheduler._thread is None


def test_failed_job_records_mask_contact_details_and_keep_no_exception_text():
    from carnet_core.jobs.broker import _describe, _stack

    try:
        raise ValueError("could not mail jeanne.dupont@example.fr at +33 6 12 34 56 78\nsecond line")
    except ValueError as exc:
        error, stack = _describe(exc), _stack(exc)
    assert error == "ValueError: could not mail [email] at [phone]"
    assert "jeanne" not in stack and "12 34" not in stack
    assert stack.startswith("Traceback") and stack.endswith("ValueError") and "test_jobs.py" in stack


def _count_bookkeeping(db, monkeypatch):
    """Replace db.bookkeeping with one that lists each unit's statements; returns that list."""
    from contextlib import contextmanager

    units = []
    bookkeeping = db.bookkeeping

    @contextmanager
    def counted():
        with bookkeeping() as conn:
            statements = []
            units.append(statements)

            def seen(conn, cursor, statement, *args):
                statements.append(statement)

            sa.event.listen(conn, "before_cursor_execute", seen)
            try:
                yield conn
            finally:
                sa.event.remove(conn, "before_cursor_execute", seen)

    monkeypatch.setattr(db, "bookkeeping", counted)
    return units


def test_a_job_costs_four_bookkeeping_statements_and_only_its_data_waits_for_the_disk(
    jobs_worker, example, make_clinic, monkeypatch
):
    from carnet_core.db.session import CarnetSession

    db = jobs_worker.db
    clinic = make_clinic("alpha", plugins=[])
    jobs_worker.relay.run_once()  # the relay's first pass (and its re-drive) is behind it
    data = []  # the data transactions committed
    bookkeeping = db.bookkeeping
    units = _count_bookkeeping(db, monkeypatch)  # the statements of each bookkeeping unit

    def committed(session):
        if not session.in_nested_transaction():
            data.append(session)

    sa.event.listen(CarnetSession, "after_commit", committed)
    try:
        # given a job enqueued with its data
        with db.session(clinic_id=clinic.id) as s:
            enqueue(s, "example.mark", clinic.id)
        # when the relay's next pass publishes it and the worker runs it
        assert jobs_worker.relay.run_once() == 1
        jobs_worker.broker.join("example")
        jobs_worker.worker.join()
    finally:
        sa.event.remove(CarnetSession, "after_commit", committed)
    assert clinic_name(db, clinic.id) == "Alpha!"
    # then two transactions carry data (the enqueuing one, the job's own); the relay and the worker
    # add four bookkeeping units of one statement each (claim, published, started, done)
    assert len(data) == 2
    assert [len(statements) for statements in units] == [1, 1, 1, 1], units
    if db.dialect == "postgresql":
        # each in autocommit, not waited on the disk (losing one in a crash means one more,
        # idempotent delivery); the data waits for it
        with bookkeeping() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "off"
            assert conn.connection.driver_connection.autocommit is True
        with db.session(unscoped=True) as s:
            assert s.execute(sa.text("SHOW synchronous_commit")).scalar_one() == "on"


def test_a_jobs_session_made_not_durable_commits_without_waiting_for_the_disk_and_only_that_one(
    jobs_worker, make_clinic
):
    from carnet_core import audit
    from carnet_core.audit.integrity import verify_clinic
    from carnet_core.jobs import JobContext

    db = jobs_worker.db
    clinic = make_clinic("alpha", plugins=[])
    job = JobContext(message_id="m-1", actor="example.mark", retries=0, clinic_id=clinic.id, outbox_id=None,
                     settings=jobs_worker.settings, host=jobs_worker.host, db=db)
    waits = []
    # given a job's record of its effect made in a session that is not durable, then a durable one
    for durable in (False, True):
        with job.session(durable=durable) as s:
            assert once(s, f"example.effect:{durable}")
            audit.record(s, action="send", resource_type="example", resource_id=str(durable))
            if db.dialect == "postgresql":
                waits.append(s.execute(sa.text("SHOW synchronous_commit")).scalar_one())
    # then both committed, visible at once, chained as usual; on PostgreSQL only the first commit
    # did not wait for the disk (SQLite in WAL with synchronous=NORMAL waits at no commit)
    with db.session(unscoped=True) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(JobEffect).where(
            JobEffect.key.like("example.effect:%"))).scalar_one() == 2
    with db.session(clinic_id=clinic.id) as s:
        assert verify_clinic(s, clinic.id, jobs_worker.settings.keys_dir).ok
    if db.dialect == "postgresql":
        assert waits == ["off", "on"]
        with db.session(clinic_id=clinic.id) as s:  # the pool's connection kept no trace of it
            assert s.execute(sa.text("SHOW synchronous_commit")).scalar_one() == "on"


def test_the_relay_re_drives_stale_jobs_at_most_a_tenth_of_redrive_after_late(jobs, carnet_db):
    relay = Relay(carnet_db, jobs.broker, test_jobs_config({}, redrive_after=20.0))
    clock = [1000.0]
    relay.clock = lambda: clock[0]
    assert relay.redrive_every == pytest.approx(2.0)
    relay.run_once()
    # given a job published long ago that no worker ever finished
    with carnet_db.session(unscoped=True) as db:
        row = enqueue(db, "example.nightly")
    relay.run_once()
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.update(OutboxMessage).where(OutboxMessage.id == row.id)
                   .values(last_seen_at=datetime.now(UTC) - timedelta(seconds=60)))
    # when the relay passes again within redrive_every: no re-drive pass yet
    clock[0] += 1.9
    relay.run_once()
    assert outbox_rows(carnet_db)[0].publish_attempts == 1
    # and once redrive_every has passed: the job is re-driven and published again
    clock[0] += 0.2
    assert relay.run_once() == 1
    again = outbox_rows(carnet_db)[0]
    assert again.status == "published" and again.publish_attempts == 2
    assert again.last_error == "re-driven: no sign of life from a worker"


def test_a_commit_that_enqueues_wakes_the_relay_of_its_process(plugin_host, carnet_db, example, make_clinic):
    from carnet_core.jobs.runtime import setup_jobs

    clinic = make_clinic("alpha", plugins=[])
    # given a relay that polls the outbox only every 60 seconds
    runtime = setup_jobs(plugin_host.settings, plugin_host, carnet_db, redis_url="",
                         config=test_jobs_config(plugin_host.settings.env, relay_interval=60.0))
    try:
        runtime.start(scheduler=False)
        time.sleep(0.2)  # its first pass found nothing; it now waits
        # when a transaction enqueues a job and commits
        with carnet_db.session(clinic_id=clinic.id) as db:
            enqueue(db, "example.mark", clinic.id)
        # then the job runs within seconds, not at the next poll
        deadline = time.monotonic() + 10
        while clinic_name(carnet_db, clinic.id) != "Alpha!" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert clinic_name(carnet_db, clinic.id) == "Alpha!"
        assert carnet_db.relay_wakers == [runtime.relay.wake]
    finally:
        runtime.close()
    # and a stopped relay is no longer woken
    assert carnet_db.relay_wakers == []


def test_the_relay_marks_a_published_batch_in_one_statement(jobs, carnet_db, monkeypatch):
    relay = Relay(carnet_db, jobs.broker, test_jobs_config({}, relay_batch=100))
    relay.run_once()  # its first pass (and re-drive) behind it
    # given 25 committed jobs
    with carnet_db.session(unscoped=True) as db:
        for _ in range(25):
            enqueue(db, "example.nightly")
    units = _count_bookkeeping(carnet_db, monkeypatch)
    # when the relay publishes them in one pass
    assert relay.run_once() == 25
    # then it claimed them in one statement and marked them published in one more, not one a row
    assert [len(statements) for statements in units] == [1, 1], units
    rows = outbox_rows(carnet_db)
    assert {(r.status, r.publish_attempts, r.claimed_by) for r in rows} == {("published", 1, None)}
    assert jobs.broker.queues["example_slow"].qsize() == 25


def test_the_relay_claims_plain_rows_not_orm_objects(jobs, carnet_db):
    # given a committed job
    with carnet_db.session(unscoped=True) as db:
        row = enqueue(db, "example.nightly")
    # when a relay claims it: the database's row, not an ORM object (building 500 of those was a
    # third of the relay's time), with what publishing needs
    [claimed] = Relay(carnet_db, jobs.broker, test_jobs_config({})).claim()
    assert not isinstance(claimed, OutboxMessage)
    assert (claimed.id, claimed.message_id, claimed.actor, claimed.args) == (row.id, row.message_id,
                                                                             "example.nightly", "[]")
    assert claimed.claimed_by is not None


def test_the_relay_and_the_workers_bookkeeping_run_statements_built_once(jobs_worker, example, make_clinic):
    """Claim, published mark, start and finish marks: the same statement objects from one job to the
    next, their values as parameters (building each statement and its cache key for every job cost
    more than running it); the jobs still run once and are marked done."""
    clinic = make_clinic("alpha", plugins=[])
    executed: dict[str, list[int]] = {}

    def seen(conn, clauseelement, multiparams, params, execution_options):
        if isinstance(clauseelement, sa.Update) and clauseelement.table is OutboxMessage.__table__:
            text = str(clauseelement)
            kind = ("claim" if "claimed_by=" in text.split("WHERE")[0] and "RETURNING" in text else
                    "published" if "published_at" in text else "start" if "runs=" in text else
                    "finish" if "finished_at" in text else "other")
            executed.setdefault(kind, []).append(id(clauseelement))

    engines = [jobs_worker.db.engine]
    with jobs_worker.db.bookkeeping():  # (PostgreSQL: the bookkeeping pool's own engine, made now)
        pass
    if jobs_worker.db._bookkeeping_engine is not None:
        engines.append(jobs_worker.db._bookkeeping_engine)
    for engine in engines:
        sa.event.listen(engine, "before_execute", seen)
    try:
        for _ in range(2):
            with jobs_worker.db.session(clinic_id=clinic.id) as db:
                enqueue(db, "example.mark", clinic.id)
            assert wait_for_jobs(jobs_worker)["done"] >= 1
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_execute", seen)
    for kind in ("claim", "published", "start", "finish"):
        assert len(executed.get(kind, [])) >= 2 and len(set(executed[kind])) == 1, (kind, executed)
    assert len(example.calls_of("mark")) == 2


def test_at_a_broker_error_the_published_rows_are_marked_and_the_rest_stay_pending(jobs, carnet_db):
    relay = Relay(carnet_db, jobs.broker, test_jobs_config({}, relay_batch=100))
    relay.run_once()
    # given 10 committed jobs and a broker that fails on the fourth publish
    with carnet_db.session(unscoped=True) as db:
        for _ in range(10):
            enqueue(db, "example.nightly")
    enqueue_real, calls = jobs.broker.enqueue, []

    def flaky(message, **kw):
        calls.append(message.message_id)
        if len(calls) == 4:
            raise ConnectionError("broker down")
        return enqueue_real(message, **kw)

    jobs.broker.enqueue = flaky
    try:
        # when the relay passes
        assert relay.run_once() == 3
    finally:
        del jobs.broker.enqueue
    # then the three that reached the broker are published, the seven others pending, released
    rows = outbox_rows(carnet_db)
    assert [r.status for r in rows] == ["published"] * 3 + ["pending"] * 7
    assert all(r.last_error == "publish failed: ConnectionError" and r.claimed_until is not None for r in rows[3:])
    assert {r.message_id for r in rows[:3]} == set(calls[:3])
    assert jobs.broker.queues["example_slow"].qsize() == 3
