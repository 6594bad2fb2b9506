"""10,000 due reminders through the outbox, Redis and two worker processes to the mail folder,
against the same no-op Dramatiq actor run through the outbox, and fed by Dramatiq's own `send`.

Set-up (not timed): `--clinics` clinics (1 by default) with scheduling enabled, 1,000 patients
with e-mail addresses in the sealed registry spread over them, one e-mail rule (1 day before) and
`--count` appointments booked through `appointments.book` (spread evenly), which plans each
reminder and writes its outbox row in the booking's transaction; then every reminder is made due
now. Timed, on the same two worker processes (threads as `carnet worker`):

- reminders: from starting the relay until every reminder is `sent`;
- no-op through the outbox: as many no-op jobs, enqueued in one transaction, from starting the
  relay until every outbox row is `done`;
- no-op fed by send: as many no-op messages sent with Dramatiq's `actor.send` from this process
  (no outbox row, no relay), until the workers ran them all.

Printed: the reminder ratio (reminders / no-op through the outbox) and the relay ratio (no-op
through the outbox / no-op fed by send). Checked for every measurement: zero lost and zero
duplicated. Reminders: `count` sent, mail files, recorded effects, one audit "send" each. No-op
jobs: the workers append each run's message id to a file (`_Tally`), compared with the ids sent.
The direct baseline still runs Carnet's middleware (its outcome UPDATE matches no outbox row).

    .venv/bin/python bench/bench_reminders.py [--count 10000] [--clinics 1] [--threads 8]
        [--database-url postgresql://…] [--redis-url redis://127.0.0.1:6379/6]
        [--profile worker.txt]   # py-spy (pip install py-spy) on one worker during the reminders

Measured 2026-12-05, 3,000 of each (2 cores shared by six engineers, load average 15 to 33;
PostgreSQL 15, Redis 7, 2 processes x 8 threads); 0 lost and 0 duplicated in every measurement:

    --clinics 1, before b597d46 and b1afcba:  reminders 19/s, no-op outbox 58/s, send 166/s
        reminder ratio 0.32, relay ratio 0.35
    --clinics 1, after them:                  reminders 20/s, no-op outbox 81/s, send 218/s
        reminder ratio 0.24, relay ratio 0.37
    --clinics 100 (booked clinic by clinic):  reminders 19/s, no-op outbox 89/s, send 146/s
        reminder ratio 0.21, relay ratio 0.61
    --clinics 100, interleaved, after 1836eeb: reminders 30/s, no-op outbox 140/s, send 248/s
        reminder ratio 0.21, relay ratio 0.56

Where a reminder's time goes (py-spy on one worker, --clinics 1, share of its 8 job threads'
samples): before, 76% waiting for the clinic's audit chain head (the UPDATE of core_audit_head
that locks it until the commit), taken twice per reminder (the read of the sealed address, the
"send") and held from there to the commit; 13% other statements (about 11: reload, rule and
switches, contact, facts, link, effect key, status), 3% commits, 1% opening the sealed address, 1%
writing and fsyncing the mail file. After b1afcba (both records appended at commit): 63% waiting
for the head, now only for the commit's batch and the commit; 20% statements, 9% commits, 2%
mail file, 2% sealed address. One clinic's reminders are serialised by two durable commits each
under its chain head: that, not the threads, sets their rate. Over 100 clinics, interleaved, the
wait for a head falls to 4% and reminders go 1.5x faster; their time is then 50% statements, 22%
commits, 6% sealed address, 5% mail file, 4% rendering: about 13 round trips and 2 durable
commits a reminder against 2 bookkeeping statements for a no-op job, which keeps the ratio near
0.2 on this machine.

After the reminder's statements were merged and its second commit made not durable (rem15, 2026-12-05,
--clinics 100, 3,000 of each; load average 13 to 16 on the 2 shared cores, before = main at 22f35b5):

    SQLite:      before  reminders 19/s, no-op outbox 298/s: reminder ratio 0.07
                 after   reminders 27/s, no-op outbox 257/s: reminder ratio 0.10
    PostgreSQL:  before  reminders 27/s, no-op outbox 236/s: reminder ratio 0.11
                 after   reminders 46/s, no-op outbox 308/s: reminder ratio 0.15
    0 lost, 0 duplicated in every run. A reminder makes 20 round trips instead of 32 (the no-op
    job 2, the outbox's start and done marks) and one durable commit instead of two; in process
    (callgrind, SQLite, one reminder after another through the outbox middleware) it ran 28.3
    million instructions instead of 37.0 (the no-op job's middleware 2.7); 22.9 with a memo of the
    clinic scoping per statement object, dropped at the rebase onto perf8's own fast path for the
    scoping (not measured together). The figures above were measured with that memo.

What stands between the reminder ratio and 0.5: CPU, not waits. The machine is saturated (2.0 of 2
CPUs busy through both phases, our processes get 0.5 to 0.9 of them), and per job (CPU sampled
from /proc every second, PostgreSQL runs after the change): a reminder costs 15.3 to 15.8 ms of
CPU (workers 11.3 to 12.3, PostgreSQL 2.5 to 2.7, relay process 0.8 to 1.1, Redis 0.2), a no-op
job through the outbox 1.4 to 2.8 ms (workers 0.7 to 2.0, relay 0.1 to 0.5, PostgreSQL 0.2 to 0.6). A ratio of 0.5 needs a reminder at about twice the
no-op's cost, 3 to 5 ms; its 18 round trips beyond the no-op's alone cost PostgreSQL 2.5 ms and the
workers about as much again in SQLAlchemy. Each carries a property: two reads (the reminder with
its appointment, rule, switches, effect key, clinic, practitioner and place; the patient with
their keys), the link and the attempt count, the address read's audit record (chain head bump,
insert, head update) committed durably before anything leaves, then the effect key, the "sent"
status and the "send" record (three more for the chain), and each transaction's BEGIN, clinic
binding and COMMIT. The rest of the workers' time (py-spy, one reminder after another): building
the MIME message 11% (stdlib email), the mail file 7% plus its fsync, the link 8%, sessions and
commits 18%, rendering 5%, AES-GCM and the audit hashes under 2%. What could still go, none of it
to 0.5: the audit append in two round trips instead of three, BEGIN and the clinic binding in
one, the key and the status in one statement, the outbox's done mark in the job's transaction
(20 to 14 round trips), the message built without the email package's header registry.

The relay (py-spy on this process, no-op jobs through the outbox): 64% Redis enqueues (one round
trip a message, as `send`), 31% building OutboxMessage objects from the claimed rows (1836eeb
returns the rows themselves), 3% PostgreSQL.

Earlier measurement (before the direct baseline): 10,000 reminders in 243 s (41/s) against
10,000 no-op jobs in 68 s (147/s), ratio 0.28.

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


TALLY_LINE = 37  # a message id (36 characters) and a newline


class _Tally:
    """Worker side: appends the message id of every no-op job run to a file of this process (one
    O_APPEND write, atomic), so the bench counts runs, lost and duplicated jobs of a measurement
    whose jobs leave no row (Dramatiq's own send) the same way as those that do (the outbox)."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def middleware(self) -> Any:
        from dramatiq.middleware import Middleware

        fd = self.fd

        class Tally(Middleware):
            def after_process_message(self, broker: Any, message: Any, *, result: Any = None,
                                      exception: BaseException | None = None) -> None:
                if exception is None and message.actor_name == "bench.noop":
                    os.write(fd, f"{message.message_id}\n".encode())

        return Tally()


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
    runtime.broker.add_middleware(_Tally(Path(args.home) / f"tally-{os.getpid()}.txt").middleware())
    runtime.start_worker(args.threads)
    stop = False

    def handle(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, handle)
    if os.environ.get("CARNET_BENCH_TRACE"):  # bench_memory.py --trace: a snapshot on each SIGUSR2
        import tracemalloc

        folder = Path(os.environ["CARNET_BENCH_TRACE"])
        folder.mkdir(exist_ok=True)
        tracemalloc.start(10)
        taken = iter(range(1_000_000))

        def snapshot(signum: int, frame: Any) -> None:
            tracemalloc.take_snapshot().dump(str(folder / f"{next(taken)}.snap"))

        signal.signal(signal.SIGUSR2, snapshot)
    while not stop:
        time.sleep(0.2)
    runtime.stop(timeout_ms=10_000)
    runtime.broker.close()
    return 0


def setup(settings: Any, count: int, clinics: int) -> tuple[Any, Any]:
    """`clinics` clinics with scheduling enabled, 1,000 patients and `count` booked appointments
    (with their reminders) spread evenly over them; each clinic has its own owner and practitioner."""
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
    started = time.perf_counter()
    hooks = host.for_clinic({"scheduling"})
    first_day = datetime.now(UTC).replace(hour=7, minute=0, second=0, microsecond=0) + timedelta(days=3)
    patients_each = max(1, min(1000, count) // clinics)
    for c in range(clinics):
        with db.session(unscoped=True) as s:
            clinic = create_clinic(s, f"bench-{c}", f"Cabinet Bench {c}", ["scheduling", "bench"])
        with db.session(clinic_id=clinic.id) as s:
            s.info["principal"] = "system:bench"
            user = create_or_get_user(s, f"claire{c}@bench.test", "Claire Martin")
            set_membership(s, clinic.id, user.id, ("owner", "practitioner"))
            place = sched_setup.create_place(s, "Cabinet", "cabinet", "1 rue des Tilleuls")
            kind = sched_setup.create_appointment_type(s, "Séance", 30)
            s.add(ReminderRule(channel="email", minutes_before=24 * 60))
        principal = Principal(kind="user", user_id=user.id, clinic_id=clinic.id,
                              roles=frozenset({"practitioner"}), permissions=frozenset())
        patients = []
        for i in range(patients_each):
            with db.session(clinic_id=clinic.id) as s:
                s.info["principal"] = f"user:{user.id}"
                patients.append(create_patient(s, principal, {"last_name": f"Nom{i}", "first_name": "Léa",
                                                                "email": f"patient{i}@example.org"}).id)
        mine = range(c, count, clinics)  # this clinic's share of the appointments
        for start_i in range(0, len(mine), 500):
            with db.session(clinic_id=clinic.id) as s:
                s.info["principal"] = f"user:{user.id}"
                for n in range(start_i, min(len(mine), start_i + 500)):
                    day, slot = divmod(n, min(16, len(patients)))  # a patient at most once a day
                    starts = first_day + timedelta(days=day, minutes=30 * slot)
                    appts.book(s, practitioner_id=user.id, patient_id=patients[n % len(patients)],
                               appointment_type_id=kind.id, starts_at=starts, place_id=place.id, hooks=hooks)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE core_outbox SET not_before = NULL")
        if clinics > 1:  # the relay publishes in id order: interleave the clinics (1st of each, 2nd of each...)
            conn.exec_driver_sql(
                "WITH r AS (SELECT id, row_number() OVER (PARTITION BY clinic_id ORDER BY id) AS k, "
                "dense_rank() OVER (ORDER BY clinic_id) AS c FROM core_outbox) "
                "UPDATE core_outbox SET id = 10000000 + r.k * 1000 + r.c FROM r WHERE core_outbox.id = r.id")
    print(f"set-up: {clinics} clinic(s), {patients_each * clinics} patients, {count} appointments and reminders in "
          f"{time.perf_counter() - started:.1f}s")
    return host, db


def _count(db: Any, sql: str) -> int:
    import sqlalchemy as sa

    with db.engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar() or 0)


def _wait(done: Any, total: int, started: float, timeout: float) -> float:
    deadline = started + timeout
    while done() < total:
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out: {done()} of {total} done")
        time.sleep(0.05)
    return time.perf_counter() - started


def _drain(relay: Any, done: Any, total: int, timeout: float) -> float:
    started = time.perf_counter()
    relay.start()
    elapsed = _wait(done, total, started, timeout)
    relay.stop()
    return elapsed


class _Tallies:
    """The parent's view of the workers' tally files: no-op runs so far, and their message ids."""

    def __init__(self, home: Path):
        self.home = home
        self.seen: dict[Path, int] = {}  # bytes of each file that belong to earlier measurements

    def _files(self) -> list[Path]:
        return sorted(self.home.glob("tally-*.txt"))

    def runs(self) -> int:
        return sum(f.stat().st_size - self.seen.get(f, 0) for f in self._files()) // TALLY_LINE

    def ids(self) -> list[str]:
        return [line for f in self._files() for line in f.read_bytes()[self.seen.get(f, 0):].decode().splitlines()]

    def next_measurement(self) -> None:
        self.seen = {f: f.stat().st_size for f in self._files()}


def _tally_check(label: str, ids: list[str], expected: set[str]) -> bool:
    runs = len(ids)
    distinct = set(ids)
    lost = len(expected - distinct)
    print(f"  {label}: {runs} runs, lost {lost}, duplicated {runs - len(distinct)}, unknown "
          f"{len(distinct - expected)}")
    return lost == 0 and runs == len(distinct) == len(expected)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--clinics", type=int, default=1, help="clinics the reminders are spread over")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    parser.add_argument("--database-url", default=os.environ.get("CARNET_TEST_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("CARNET_TEST_REDIS_URL") or "redis://127.0.0.1:6379/6")
    parser.add_argument("--profile", metavar="SVG", help="py-spy record one worker during the reminders (needs py-spy; "
                        "a .txt name gives collapsed stacks)")
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
    profiler: subprocess.Popen[bytes] | None = None
    try:
        host, db = setup(settings, args.count, args.clinics)
        runtime = setup_jobs(host.settings, host, db, config=jobs_config(host.settings.env))
        relay = Relay(db, runtime.broker, runtime.config)
        cmd = [sys.executable, __file__, "--worker", "--home", str(home), "--database-url", database_url,
               "--redis-url", args.redis_url, "--namespace", namespace, "--threads", str(args.threads)]
        log = open(home / "workers.log", "ab")  # noqa: SIM115
        workers = [subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT) for _ in range(2)]  # noqa: S603
        time.sleep(3.0)  # workers connected (not timed)
        tallies = _Tallies(home)

        if args.profile:
            profiler = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "py-spy"), "record",  # noqa: S603
                                         "--idle", "--threads", "--format",
                                         "raw" if args.profile.endswith(".txt") else "flamegraph", "-o", args.profile, "--pid", str(workers[0].pid)],
                                        stdout=log, stderr=subprocess.STDOUT)
        sent = lambda: _count(db, "SELECT count(*) FROM scheduling_reminder WHERE status = 'sent'")  # noqa: E731
        reminders_s = _drain(relay, sent, args.count, timeout=3600)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)

        # the same no-op actor, first through the outbox and the relay, then fed by Dramatiq's own send
        with db.session(unscoped=True) as s:
            rows = [enqueue(s, "bench.noop", i) for i in range(args.count)]
            outbox_ids = {row.message_id for row in rows}
        done = lambda: _count(db, "SELECT count(*) FROM core_outbox WHERE actor = 'bench.noop' AND status = 'done'")  # noqa: E731
        noop_s = _drain(relay, done, args.count, timeout=3600)
        _wait(tallies.runs, args.count, time.perf_counter(), 60)  # the tally follows the 'done' mark
        outbox_runs = tallies.ids()
        tallies.next_measurement()

        actor = runtime.actors["bench.noop"]
        started = time.perf_counter()
        direct_ids = {actor.send(i).message_id for i in range(args.count)}
        direct_s = _wait(tallies.runs, args.count, started, timeout=3600)
        time.sleep(1.0)  # a duplicate would show now
        direct_runs = tallies.ids()

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
              f"{args.threads} threads; {args.clinics} clinic(s)")
        print(f"reminders: {args.count} in {reminders_s:.2f}s = {args.count / reminders_s:.0f}/s "
              "(outbox -> Redis -> workers -> reload, link, render, mail file, record)")
        print(f"no-op through the outbox: {args.count} in {noop_s:.2f}s = {args.count / noop_s:.0f}/s")
        print(f"no-op fed by Dramatiq's send: {args.count} in {direct_s:.2f}s = {args.count / direct_s:.0f}/s")
        print(f"reminder ratio (reminders / no-op through the outbox): {noop_s / reminders_s:.2f}")
        print(f"relay ratio (no-op through the outbox / no-op fed by send): {direct_s / noop_s:.2f}")
        print(f"reminders lost: {not_sent} not sent, {args.count - files} missing mail files; duplicated: "
              f"{files - args.count} extra files, {effect_rows - effects} repeated effects, "
              f"{audited - audited_distinct} repeated audit sends (files={files}, effects={effects}, "
              f"audit sends={audited})")
        ok = not_sent == 0 and files == effects == audited == audited_distinct == args.count
        ok = _tally_check("no-op through the outbox", outbox_runs, outbox_ids) and ok
        ok = _tally_check("no-op fed by send", direct_runs, direct_ids) and ok
        return 0 if ok else 1
    finally:
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
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
