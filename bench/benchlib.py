"""Set-up shared by the benchmarks: settings for a bench home, the application role (row-level
security applies to it), logging a staff member in through the pages, and timing helpers that
interleave variants so a slow spell of a shared machine weighs on all of them alike."""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

# Set by --database / --role: where (a) and (b) run, and the application role on PostgreSQL.
DATABASE: dict[str, str | None] = {"url": None, "role": None}


def settings_for(home: Path, database_url: str | None = None):
    from carnet_core.settings import load_settings

    env = {"CARNET_HOME": str(home), "CARNET_IN_PROCESS_WORKER": "0"}
    if os.environ.get("CARNET_ALLOWED_PLUGINS"):  # e.g. "scheduling": the same app whatever else is installed
        env["CARNET_ALLOWED_PLUGINS"] = os.environ["CARNET_ALLOWED_PLUGINS"]
    database_url = database_url or DATABASE["url"]
    if database_url:
        env["CARNET_DATABASE_URL"] = database_url
    if DATABASE["role"] and database_url and database_url.startswith("postgres"):
        env["CARNET_DATABASE_ROLE"] = DATABASE["role"]
    return load_settings(env)


def new_home(settings: Any) -> Any:
    """A fresh home for `settings`: its master key, its database migrated for every installed
    plugin, the keyring installed. Returns the database."""
    from carnet_core.db.migrate import upgrade
    from carnet_core.db.session import Database
    from carnet_core.encryption import install_keyring
    from carnet_core.encryption.keyprovider import create_master_key_file
    from carnet_core.plugins import build_plugin_host

    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    create_master_key_file(settings.keys_dir / "master.key")
    db = Database(settings.database_url)
    upgrade(db, build_plugin_host(settings))
    install_keyring(db, settings)
    return db


def open_db(settings: Any) -> Any:
    from carnet_core.db.session import Database

    role = getattr(settings, "database_role", None)
    return Database(settings.database_url, role=role) if role else Database(settings.database_url)


def ensure_role(database_url: str, role: str) -> None:
    """The application role: no SUPERUSER, no BYPASSRLS, rights on the tables (as the URL's user)."""
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        if not conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).scalar():
            conn.exec_driver_sql(f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS')
        conn.exec_driver_sql(f'GRANT "{role}" TO current_user')
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        conn.exec_driver_sql(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        conn.exec_driver_sql(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    engine.dispose()


def login(client, info: dict[str, Any]) -> None:
    import re

    import pyotp

    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text).group(1)
    sec = info["secretary"]
    r = client.post("/login", data={"email": sec["email"], "password": sec["password"], "_csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.status_code
    for _attempt in range(3):  # a code is accepted once: after a recent run, wait for the next step
        code = pyotp.TOTP(sec["totp"]).at(time.time() + 30)
        r = client.post("/login/totp", data={"code": code, "_csrf_token": token}, follow_redirects=False)
        if r.status_code == 303:
            break
        time.sleep(31 - time.time() % 30)
    assert r.status_code == 303, r.status_code
    account = client.get("/account").text
    client.headers["X-CSRF-Token"] = re.search(r'name="csrf-token" content="([^"]+)"', account).group(1)


def throughput(fn, n: int) -> float:
    for _ in range(min(20, n)):  # warm-up: caches, compiled statements
        fn()
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - started)


def interleaved(variants: dict[str, Any], n: int, rounds: int = 10) -> dict[str, float]:
    """Requests per second of each variant, measured in `rounds` alternating rounds of n/rounds."""
    for fn in variants.values():  # warm-up: caches, compiled statements
        for _ in range(min(20, n)):
            fn()
    spent = dict.fromkeys(variants, 0.0)
    per_round = max(1, n // rounds)
    ROUNDS.clear()
    CPU.clear()
    for _ in range(rounds):
        for name, fn in variants.items():
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(per_round):
                fn()
            took = time.perf_counter() - started
            spent[name] += took
            ROUNDS.setdefault(name, []).append(took)
            CPU[name] = CPU.get(name, 0.0) + time.process_time() - cpu
    return {name: per_round * rounds / seconds for name, seconds in spent.items()}


# Seconds each variant took in each round of the last `interleaved` run, and this process's CPU
# seconds per variant (all of the work with SQLite, whose engine runs in the process: on a shared
# machine, time spent waiting for a core does not count).
ROUNDS: dict[str, list[float]] = {}
CPU: dict[str, float] = {}


def cpu_ratio(name: str, base: str = "base") -> str:
    return f"CPU-time ratio {CPU[base] / CPU[name]:.2f}"


def round_ratios(name: str, base: str = "base") -> str:
    """Median and range of `name`'s throughput ratio to `base` round by round: on a loaded machine
    a slow spell that falls on one variant's rounds moves the total ratio, not the median."""
    ratios = sorted(b / v for b, v in zip(ROUNDS[base], ROUNDS[name], strict=True))
    return f"median of rounds {ratios[len(ratios) // 2]:.2f} [{ratios[0]:.2f}-{ratios[-1]:.2f}]"


# --- instruction counts under callgrind ------------------------------------------------------------
#
#     valgrind --tool=callgrind --dump-before=getpgrp --callgrind-out-file=/tmp/cg/out.%p \
#         .venv/bin/python bench/bench_agenda.py --callgrind /tmp/cg/out.%p …
#
# CPU instructions do not depend on what else the machine runs: on a shared machine they tell two
# revisions apart where timings cannot. callgrind writes its counters to a numbered file, and
# starts them again from zero, each time getpgrp is called (nothing else here calls it): once
# before a variant's measured requests, once after them.


class Counted:
    """`with Counted(out) as c: ...` then `c.instructions`: what callgrind counted in the block
    (`out` as given to --callgrind-out-file, %p for the process id)."""

    def __init__(self, out: str):
        self.base = out.replace("%p", str(os.getpid()))
        self.instructions = 0

    def __enter__(self) -> Counted:
        os.getpgrp()  # what ran before, written apart: the counters start from zero
        self.before = set(glob.glob(self.base + ".*"))
        return self

    def __exit__(self, *exc: object) -> None:
        os.getpgrp()  # the block's instructions, written to the next numbered file
        (written,) = set(glob.glob(self.base + ".*")) - self.before
        with open(written) as dump:
            summary = next(line for line in dump if line.startswith("summary:"))
        self.instructions = int(summary.split()[1])


def instructions(variants: dict[str, Any], n: int, out: str) -> dict[str, float]:
    """Instructions per call of each variant (run n times after a warm-up), as callgrind counted
    them; `out` is the --callgrind-out-file given to valgrind, with %p for the process id."""
    for fn in variants.values():  # warm-up: caches, compiled statements (10: a request is ~50x slower)
        for _ in range(10):
            fn()
    counts = {}
    for name, fn in variants.items():
        with Counted(out) as counted:
            for _ in range(n):
                fn()
        counts[name] = counted.instructions / n
    return counts
