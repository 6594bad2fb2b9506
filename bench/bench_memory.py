"""Resident memory of the web process over 10,000 requests and of a worker over 10,000 jobs: no
growth beyond warm-up.

(a) Web: the real `carnet serve` (in a subprocess, through the testing kit's `serving`) on a
SQLite home with the demo clinic. The demo owner logs in through the pages (password, then the
second factor); 4 clients then make 10,000 requests over a mix: the week view, its htmx partial,
the patient list, a patient page, the today list, and the JSON API (patients, appointment types)
with a bearer token. The server's resident memory (VmRSS in /proc) is read every 1,000
requests. Every answer must be 200.

(b) Worker: a worker process built as `carnet worker --processes 1 --no-relay` builds it (the one
of bench_reminders.py, with its no-op actor) on Redis, fed by a relay in this process through the
outbox: 10,000 jobs in 10 rounds of 1,000, each round 100 real e-mail reminders (reload, sealed
address, link, render, mail file, audit) and 900 no-op jobs. The worker's resident memory is read
after every round. Every job must end `done`.

Printed for each: the resident memory after the first 1,000 (warm-up: imports, templates,
compiled statements, connection pools, the allocator's arenas) and at the end, their ratio and
difference. The goal: at most 1.05x, or a few MB, over warm-up. With --trace, the worker also
writes tracemalloc snapshots after the first and last rounds and prints their largest
differences (where growth would come from).

    .venv/bin/python bench/bench_memory.py [--requests 10000] [--jobs 10000]
        [--redis-url redis://127.0.0.1:6379/6] [--database-url postgresql://…] [--trace]

Measured 2026-12-05 (2 cores shared by six engineers, load average 19-26; worker on SQLite and
Redis 7, 1 process x 8 threads):

- worker: 10,000 jobs (1,000 reminders sent, 9,000 no-op) in 155 s, all done; resident memory
  133.6 MiB after 1,000, 133.9 MiB after 10,000 (x1.002, +0.3 MiB), flat from 2,000 on.
- web: 10,000 requests by 4 clients in 716 s (14/s), all 200; resident memory 165.0 MiB after
  1,000, 167.0 MiB after 10,000 (x1.012, +2.0 MiB); samples 165.0, 165.6, 166.0, 166.1, 166.2,
  166.3, 166.7, 166.9, 166.9, 167.0 MiB: 0.0 to 0.6 MiB per 1,000, within the goal; the web
  process was not traced (bounded caches filling, such as SQLAlchemy's compiled statements, are
  the likely cause, not checked).

With --trace the worker's memory grew by 16.6 MiB from 1,000 to 2,000 jobs: that is
tracemalloc's own record of every allocation's stack (10 frames); the snapshots' differences
stay under 1 MiB of Python objects (SQLAlchemy's compiled-statement cache filling up, e-mail
header parsing), which is why the figures above are taken without it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from benchlib import login, new_home, settings_for  # noqa: E402

OWNER = "claire.martin@cabinet-tilleuls.fr"


def rss_kib(pid: int) -> int:
    """The resident set size of process `pid`, in KiB (VmRSS)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))


def _report(label: str, unit: str, samples: list[tuple[int, int]]) -> bool:
    print(f"{label}: resident memory every 1,000 {unit}: "
          + ", ".join(f"{n}: {kib / 1024:.1f}" for n, kib in samples) + " MiB")
    warm, last = samples[0][1], samples[-1][1]
    peak = max(kib for _, kib in samples)
    grew = (last - warm) / 1024
    print(f"{label}: warm-up (after {samples[0][0]:,}) {warm / 1024:.1f} MiB, final {last / 1024:.1f} MiB, "
          f"peak {peak / 1024:.1f} MiB; growth x{last / warm:.3f} ({grew:+.1f} MiB)")
    return last / warm <= 1.05 or grew <= 5


# --- (a) the web process -------------------------------------------------------------------------


def web(requests: int, clients: int) -> bool:
    import httpx

    from carnet_core.db.session import Database
    from carnet_core.demo import DEMO_PASSWORD, DEMO_SLUG, DEMO_STAFF, load_demo
    from carnet_core.identity.models import User
    from carnet_core.identity.services import create_token
    from carnet_core.plugins import build_plugin_host
    from carnet_core.testing.processes import serving

    home = Path(tempfile.mkdtemp(prefix="carnet-bench-memory-"))
    try:
        settings = settings_for(home, f"sqlite:///{home / 'carnet.db'}")
        new_home(settings)
        host = build_plugin_host(settings)
        db = Database(settings.database_url)
        from carnet_core.encryption import install_keyring

        install_keyring(db, settings)
        for _ in load_demo(settings, host, db):
            pass
        from sqlmodel import select

        from carnet_core.clinics.services import get_clinic_by_slug
        from carnet_core.patients.models import Patient

        with db.session(unscoped=True) as s:
            clinic = get_clinic_by_slug(s, DEMO_SLUG)
        with db.session(clinic_id=clinic.id) as s:
            owner = s.exec(select(User).where(User.email == OWNER)).one()
            token, _ = create_token(s, clinic.id, owner, name="bench memory")
            patient_ids = [p for p in s.exec(select(Patient.id).order_by(Patient.id))][:20]
        secret = next(sec for email, *_, sec in DEMO_STAFF if email == OWNER)
        info = {"secretary": {"email": OWNER, "password": DEMO_PASSWORD, "totp": secret}}
        with serving(settings, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as (proc, base):
            pid = proc.pid
            first = httpx.Client(base_url=base, timeout=120)
            login(first, info)  # one login (a code is accepted once); the clients share its session
            sessions = [first] + [httpx.Client(base_url=base, timeout=120, cookies=dict(first.cookies),
                                               headers=dict(first.headers)) for _ in range(clients - 1)]
            api = {"Authorization": f"Bearer {token}"}
            htmx = {"HX-Request": "true"}
            mix: list[tuple[str, dict[str, str]]] = [
                ("/scheduling/?view=week", {}), ("/scheduling/?view=week", htmx), ("/patients", {}),
                ("/scheduling/today", {}), ("/api/v1/patients", api), ("/api/v1/scheduling/appointment-types", api),
            ]
            mix += [(f"/patients/{p}", {}) for p in patient_ids[:4]]
            samples: list[tuple[int, int]] = []
            bad: list[tuple[str, int]] = []
            lock = threading.Lock()
            counter = iter(range(requests))

            def run(client: httpx.Client) -> None:
                for n in counter:
                    path, headers = mix[n % len(mix)]
                    code = client.get(path, headers=headers).status_code
                    with lock:
                        if code != 200:
                            bad.append((path, code))
                        if (n + 1) % 1000 == 0:
                            samples.append((n + 1, rss_kib(pid)))

            started = time.perf_counter()
            threads = [threading.Thread(target=run, args=(c,)) for c in sessions]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            for c in sessions:
                c.close()
        samples.sort()
        print(f"web: {requests:,} requests by {clients} clients in {elapsed:.0f}s ({requests / elapsed:.0f}/s); "
              f"not 200: {len(bad)} {bad[:5]}")
        return _report("web", "requests", samples) and not bad
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --- (b) a worker --------------------------------------------------------------------------------


def worker(jobs: int, redis_url: str, database_url: str | None, trace: bool) -> bool:
    import bench_reminders as br
    import redis
    import sqlalchemy as sa

    from carnet_core.jobs import enqueue
    from carnet_core.jobs.outbox import Relay
    from carnet_core.jobs.runtime import setup_jobs
    from carnet_core.jobs.testing import delete_namespace

    rounds = max(1, jobs // 1000)
    reminders_each = 100
    home = Path(tempfile.mkdtemp(prefix="carnet-bench-memory-worker-"))
    database_url = database_url or f"sqlite:///{home / 'carnet.db'}"
    namespace = f"carnet-bench-{uuid.uuid4().hex[:8]}"
    settings = br._settings(home, database_url, redis_url, namespace)
    proc: subprocess.Popen[bytes] | None = None
    try:
        host, db = br.setup(settings, rounds * reminders_each, 1)
        with db.engine.begin() as conn:  # every reminder waits for its round
            conn.execute(sa.text("UPDATE core_outbox SET not_before = :later"),
                         {"later": "2999-01-01 00:00:00+00:00"})
            reminder_rows = [r for (r,) in conn.execute(sa.text("SELECT id FROM core_outbox ORDER BY id"))]
        runtime = setup_jobs(host.settings, host, db)
        relay = Relay(db, runtime.broker, runtime.config)
        cmd = [sys.executable, br.__file__, "--worker", "--home", str(home), "--database-url", database_url,
               "--redis-url", redis_url, "--namespace", namespace, "--threads", "8"]
        env = dict(os.environ, CARNET_BENCH_TRACE=str(home / "trace") if trace else "")
        log = open(home / "worker.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        time.sleep(3.0)
        relay.start()

        def done() -> int:
            with db.engine.connect() as conn:
                return int(conn.execute(sa.text("SELECT count(*) FROM core_outbox WHERE status = 'done'")).scalar())

        samples: list[tuple[int, int]] = []
        started = time.perf_counter()
        for r in range(rounds):
            ids = reminder_rows[r * reminders_each:(r + 1) * reminders_each]
            with db.engine.begin() as conn:
                conn.execute(sa.text("UPDATE core_outbox SET not_before = NULL WHERE id IN :ids")
                             .bindparams(sa.bindparam("ids", expanding=True)), {"ids": ids})
            with db.session(unscoped=True) as s:
                for i in range(1000 - len(ids)):
                    enqueue(s, "bench.noop", i)
            target = (r + 1) * 1000
            deadline = time.perf_counter() + 900
            while done() < target:
                if time.perf_counter() > deadline:
                    raise SystemExit(f"timed out: {done()} of {target} jobs done")
                time.sleep(0.1)
            samples.append((target, rss_kib(proc.pid)))
            if trace:
                os.kill(proc.pid, signal.SIGUSR2)  # a tracemalloc snapshot (see bench_reminders.worker_main)
        elapsed = time.perf_counter() - started
        relay.stop()
        with db.engine.connect() as conn:
            states = dict(conn.execute(sa.text("SELECT status, count(*) FROM core_outbox GROUP BY status")).all())
            sent = conn.execute(sa.text("SELECT count(*) FROM scheduling_reminder WHERE status = 'sent'")).scalar()
        print(f"worker: {rounds * 1000:,} jobs ({sent} reminders sent, {rounds * (1000 - reminders_each):,} no-op) "
              f"in {elapsed:.0f}s; outbox states {states}")
        ok = _report("worker", "jobs", samples) and states == {"done": rounds * 1000}
        if trace:
            time.sleep(2.0)
            _trace_diff(home / "trace")
        return ok
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        with contextlib.suppress(Exception):  # cleanup only
            delete_namespace(redis.Redis.from_url(redis_url), namespace)
        shutil.rmtree(home, ignore_errors=True)


def _trace_diff(folder: Path) -> None:
    import tracemalloc

    snaps = sorted(folder.glob("*.snap"), key=lambda p: int(p.stem))
    if len(snaps) < 2:
        print(f"trace: {len(snaps)} snapshot(s), nothing to compare")
        return
    first, last = tracemalloc.Snapshot.load(str(snaps[0])), tracemalloc.Snapshot.load(str(snaps[-1]))
    print(f"trace: largest differences between snapshot {snaps[0].stem} and {snaps[-1].stem}:")
    for stat in last.compare_to(first, "lineno")[:12]:
        print(f"  {stat}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="the worker's database (default: SQLite)")
    parser.add_argument("--redis-url", default=os.environ.get("CARNET_TEST_REDIS_URL") or "redis://127.0.0.1:6379/6")
    parser.add_argument("--trace", action="store_true", help="tracemalloc snapshots in the worker")
    parser.add_argument("--only", choices=["web", "worker"])
    args = parser.parse_args()
    ok = True
    if args.only != "worker":
        ok = web(args.requests, args.clients) and ok
    if args.only != "web":
        ok = worker(args.jobs, args.redis_url, args.database_url, args.trace) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
