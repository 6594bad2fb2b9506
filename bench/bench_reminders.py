"""10,000 due reminders through the outbox, Redis and two worker processes to the mail folder,
against a no-op Dramatiq actor's throughput on the same Redis and the same two workers.

Set-up (not timed): a clinic with scheduling enabled, 1,000 patients with e-mail addresses in the
sealed registry, one e-mail rule (1 day before) and 10,000 appointments booked through
`appointments.book`, which plans each reminder and writes its outbox row in the booking's
transaction; then every reminder is made due now. Timed: from starting the relay until every
reminder is `sent`. The same two worker processes (threads as `carnet worker`) then run 10,000
no-op jobs published from the same outbox. Checked: zero lost (10,000 sent, 10,000 files) and
zero duplicated (10,000 recorded effects, one audit "send" per reminder, one file per reminder).

    .venv/bin/python bench/bench_reminders.py [--count 10000] [--threads 8]
        [--database-url postgresql://…] [--redis-url redis://127.0.0.1:6379/6]

Measured (2 cores, PostgreSQL 15, Redis 7, 2 processes x 8 threads): 10,000 reminders in 243 s
(41/s) against 10,000 no-op jobs in 68 s (147/s), ratio 0.28; 0 lost, 0 duplicated. Per reminder,
about 4 ms is the fsync that makes the mail file durable before "sent" is recorded, the rest is
its ~11 statements (reload, sealed e-mail, link, effect key, status, audit record under the
clinic's chain lock).

PostgreSQL is the production shape (CARNET_TEST_DATABASE_URL is used when set; its tables are
emptied first); without it a SQLite file in a temporary folder is used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def noop(n: int) -> None:
    """The baseline job: the cheapest job the same runtime can run."""
    return None


def _plugin() -> Any:
    from carnet_core import hookimpl
    from carnet_core.contrib import ActorSpec

    class BenchPlugin:
        CARNET_CORE_REQUIRES = ">=0.1,<1"

        @hookimpl
        def register_actors(self) -> list[Any]:
            return [ActorSpec("noop", noop, max_retries=0)]

    return BenchPlugin()


def _settings(home: Path, database_url: str, redis_url: str, namespace: str) -> Any:
    from carnet_core.settings import load_settings

    env = {
        "CARNET_HOME": str(home), "CARNET_DATABASE_URL": database_url, "CARNET_REDIS_URL": redis_url,
        "CARNET_JOBS_NAMESPACE": namespace, "CARNET_JOBS_RELAY_INTERVAL": "0.05", "CARNET_JOBS_RELAY_BATCH": "500",
        "CARNET_IN_PROCESS_WORKER": "0",
    }
    return load_settings(env)


def worker_main(args: argparse.Namespace) -> int:
    """One worker process, as `carnet worker --processes 1 --no-relay` builds it, plus the no-op actor."""
    from carnet_core.db.session import Database
    from carnet_core.encryption import install_keyring
    from carnet_core.jobs.runtime import setup_jobs
    from carnet_core.plugins import build_plugin_host

    settings = _settings(Path(args.home), args.database_url, args.redis_url, args.namespace)
    host = build_plugin_host(settings, extra=[("bench", _plugin())])
    db = Database(host.settings.database_url)
    install_keyring(db, host.settings)
    runtime = setup_jobs(host.settings, host, db)
    runtime.start_worker(args.threads)
    stop = False

    def handle(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, handle)
    while not stop:
        time.sleep(0.2)
    runtime.stop(timeout_ms=10_000)
    runtime.broker.close()
    return 0


def setup(settings: Any, count: int) -> tuple[Any, Any, Any]:
    from carnet_core.clinics.services import create_clinic
    from carnet_core.db.migrate import upgrade
    from carnet_core.db.session import Database
    from carnet_core.encryption import install_keyring
    from carnet_core.encryption.keyprovider import create_master_key_file
    from carnet_core.identity.services import create_or_get_user, set_membership
    from carnet_core.patients.services import create_patient
    from carnet_core.plugins import build_plugin_host
    from carnet_core.testing.plugin import reset_postgres
    from carnet_core.web.principal import Principal
    from carnet_scheduling.patient_models import ReminderRule
    from carnet_scheduling.services import appointments as appts
    from carnet_scheduling.services import setup as sched_setup

    for folder in (settings.home, settings.mail_dir, settings.sms_dir, settings.keys_dir):
        folder.mkdir(parents=True, exist_ok=True)
    create_master_key_file(settings.keys_dir / "master.key")
    host = build_plugin_host(settings, extra=[("bench", _plugin())])
    db = Database(settings.database_url)
    upgrade(db, host)
    if db.dialect == "postgresql":
        reset_postgres(db.engine)
    install_keyring(db, settings)
    with db.session(unscoped=True) as s:
        clinic = create_clinic(s, "bench", "Cabinet Bench", ["scheduling", "bench"])
    with db.session(clinic_id=clinic.id) as s:
        s.info["principal"] = "system:bench"
        user = create_or_get_user(s, "claire@bench.test", "Claire Martin")
        set_membership(s, clinic.id, user.id, ("owner", "practitioner"))
        place = sched_setup.create_place(s, "Cabinet", "cabinet", "1 rue des Tilleuls")
        kind = sched_setup.create_appointment_type(s, "Séance", 30)
        s.add(ReminderRule(channel="email", minutes_before=24 * 60))
    principal = Principal(kind="user", user_id=user.id, clinic_id=clinic.id, roles=frozenset({"practitioner"}),
                          permissions=frozenset())
    patients = []
    started = time.perf_counter()
    for i in range(min(1000, count)):
        with db.session(clinic_id=clinic.id) as s:
            s.info["principal"] = f"user:{user.id}"
            patients.append(create_patient(s, principal, {"last_name": f"Nom{i}", "first_name": "Léa",
                                                            "email": f"patient{i}@example.org"}).id)
    hooks = host.for_clinic({"scheduling"})
    first_day = datetime.now(UTC).replace(hour=7, minute=0, second=0, microsecond=0) + timedelta(days=3)
    for start_i in range(0, count, 500):
        with db.session(clinic_id=clinic.id) as s:
            s.info["principal"] = f"user:{user.id}"
            for i in range(start_i, min(count, start_i + 500)):
                day, slot = divmod(i, 16)
                starts = first_day + timedelta(days=day, minutes=30 * slot)
                appts.book(s, practitioner_id=user.id, patient_id=patients[i % len(patients)],
                           appointment_type_id=kind.id, starts_at=starts, place_id=place.id, hooks=hooks)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE core_outbox SET not_before = NULL")
    print(f"set-up: {len(patients)} patients, {count} appointments and reminders in "
          f"{time.perf_counter() - started:.1f}s")
    return host, db, clinic


def _count(db: Any, sql: str) -> int:
    import sqlalchemy as sa

    with db.engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar() or 0)


def _drain(relay: Any, done: Any, total: int, timeout: float) -> float:
    started = time.perf_counter()
    relay.start()
    deadline = started + timeout
    while done() < total:
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out: {done()} of {total} done")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    relay.stop()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    parser.add_argument("--database-url", default=os.environ.get("CARNET_TEST_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("CARNET_TEST_REDIS_URL") or "redis://127.0.0.1:6379/6")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args)

    import redis

    from carnet_core.jobs import enqueue
    from carnet_core.jobs.config import jobs_config
    from carnet_core.jobs.outbox import Relay
    from carnet_core.jobs.runtime import setup_jobs
    from carnet_core.jobs.testing import delete_namespace

    home = Path(tempfile.mkdtemp(prefix="carnet-bench-reminders-"))
    database_url = args.database_url or f"sqlite:///{home / 'carnet.db'}"
    namespace = f"carnet-bench-{uuid.uuid4().hex[:8]}"
    settings = _settings(home, database_url, args.redis_url, namespace)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        host, db, clinic = setup(settings, args.count)
        runtime = setup_jobs(host.settings, host, db, config=jobs_config(host.settings.env))
        relay = Relay(db, runtime.broker, runtime.config)
        cmd = [sys.executable, __file__, "--worker", "--home", str(home), "--database-url", database_url,
               "--redis-url", args.redis_url, "--namespace", namespace, "--threads", str(args.threads)]
        log = open(home / "workers.log", "ab")  # noqa: SIM115
        workers = [subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT) for _ in range(2)]  # noqa: S603
        time.sleep(3.0)  # workers connected (not timed)

        sent = lambda: _count(db, "SELECT count(*) FROM scheduling_reminder WHERE status = 'sent'")  # noqa: E731
        reminders_s = _drain(relay, sent, args.count, timeout=1800)

        with db.session(clinic_id=clinic.id) as s:
            for i in range(args.count):
                enqueue(s, "bench.noop", i)
        done = lambda: _count(db, "SELECT count(*) FROM core_outbox WHERE actor = 'bench.noop' AND status = 'done'")  # noqa: E731
        noop_s = _drain(relay, done, args.count, timeout=1800)

        files = len(list(settings.mail_dir.glob("*.eml")))
        effects = _count(db, "SELECT count(DISTINCT key) FROM core_job_effect WHERE key LIKE 'scheduling.reminder:%'")
        effect_rows = _count(db, "SELECT count(*) FROM core_job_effect WHERE key LIKE 'scheduling.reminder:%'")
        audited = _count(db, "SELECT count(*) FROM core_audit WHERE action = 'send' "
                             "AND resource_type = 'appointment_reminder'")
        audited_distinct = _count(db, "SELECT count(DISTINCT resource_id) FROM core_audit WHERE action = 'send' "
                                      "AND resource_type = 'appointment_reminder'")
        not_sent = _count(db, "SELECT count(*) FROM scheduling_reminder WHERE status <> 'sent'")
        backend = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
        print(f"database: {backend}; Redis: {args.redis_url.rsplit('@', 1)[-1]}; 2 worker processes x "
              f"{args.threads} threads")
        print(f"reminders: {args.count} in {reminders_s:.2f}s = {args.count / reminders_s:.0f}/s "
              "(outbox -> Redis -> workers -> reload, link, render, mail file, record)")
        print(f"no-op baseline: {args.count} in {noop_s:.2f}s = {args.count / noop_s:.0f}/s")
        print(f"ratio (reminders / no-op throughput): {noop_s / reminders_s:.2f}")
        print(f"lost: {not_sent} not sent, {args.count - files} missing mail files; duplicated: "
              f"{files - args.count} extra files, {effect_rows - effects} repeated effects, "
              f"{audited - audited_distinct} repeated audit sends (files={files}, effects={effects}, "
              f"audit sends={audited})")
        ok = not_sent == 0 and files == effects == audited == audited_distinct == args.count
        return 0 if ok else 1
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        with contextlib.suppress(Exception):  # cleanup only
            delete_namespace(redis.Redis.from_url(args.redis_url), namespace)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
