"""Sync or async database access? Serve the same query both ways and compare throughput.

Two Litestar apps read the same 20 rows (a week of appointments-like rows) from the same
database: one with a synchronous SQLAlchemy session in Litestar's thread pool (what Carnet
uses), one with an AsyncSession. Each runs under uvicorn in its own process and is loaded by
concurrent HTTP clients on loopback. Prints requests/s and the ratio sync/async.

    .venv/bin/python bench/bench_db_mode.py [--requests 3000] [--concurrency 16] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

APP = textwrap.dedent('''
    import os, sqlalchemy as sa
    from litestar import Litestar, get
    MODE, URL = os.environ["BENCH_MODE"], os.environ["BENCH_URL"]
    QUERY = sa.text("SELECT id, starts_at, label FROM bench_row WHERE owner = :o ORDER BY starts_at LIMIT 20")
    if MODE == "sync":
        from sqlalchemy.orm import Session
        engine = sa.create_engine(URL, pool_size=20, max_overflow=0)
        @get("/", sync_to_thread=True)
        def index() -> list:
            with Session(engine) as s:
                return [tuple(r) for r in s.execute(QUERY, {"o": 3})]
    else:
        from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
        engine = create_async_engine(URL, pool_size=20, max_overflow=0)
        @get("/")
        async def index() -> list:
            async with AsyncSession(engine) as s:
                return [tuple(r) for r in await s.execute(QUERY, {"o": 3})]
    app = Litestar([index])
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_row")
        conn.exec_driver_sql("CREATE TABLE bench_row (id INTEGER PRIMARY KEY, owner INTEGER, starts_at TIMESTAMP, label VARCHAR(80))")
        conn.execute(sa.text("INSERT INTO bench_row VALUES (:i, :o, :t, :l)"), [
            {"i": i, "o": i % 10, "t": f"2026-01-01 {i % 24:02d}:00:00", "l": f"row {i}"} for i in range(20000)
        ])
        conn.exec_driver_sql("CREATE INDEX ix_bench_row_owner ON bench_row(owner, starts_at)")
    engine.dispose()


async def load(port: int, requests: int, concurrency: int) -> float:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(50):
            await client.get("/")
        remaining = requests
        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                r = await client.get("/")
                r.raise_for_status()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - start)


def run(mode: str, url: str, requests: int, concurrency: int, appdir: Path) -> float:
    port = free_port()
    env = dict(os.environ, BENCH_MODE=mode, BENCH_URL=url, PYTHONPATH=str(appdir), LITESTAR_WARN_IMPLICIT_SYNC_TO_THREAD="0")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench_app:app", "--port", str(port), "--log-level", "warning"], env=env)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        return asyncio.run(load(port, requests, concurrency))
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pg", default=os.environ.get("CARNET_TEST_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        appdir = Path(tmp)
        (appdir / "bench_app.py").write_text(APP)
        targets = [("sqlite", f"sqlite:///{appdir / 'bench.db'}", f"sqlite+aiosqlite:///{appdir / 'bench.db'}")]
        if args.pg:
            pg = args.pg.replace("postgresql://", "postgresql+psycopg://", 1)
            targets.append(("postgresql", pg, pg))
        for name, sync_url, async_url in targets:
            prepare(sync_url)
            sync_rps = run("sync", sync_url, args.requests, args.concurrency, appdir)
            async_rps = run("async", async_url, args.requests, args.concurrency, appdir)
            print(f"{name:<11} sync {sync_rps:8.0f} req/s   async {async_rps:8.0f} req/s   ratio sync/async {sync_rps / async_rps:.2f}")


if __name__ == "__main__":
    main()
