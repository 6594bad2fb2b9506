"""Test helpers for the jobs runtime: fast retry settings, waiting for jobs, Redis namespaces."""

from __future__ import annotations

import time
import uuid
from typing import Any

from carnet_core.jobs.config import JobsConfig, jobs_config
from carnet_core.jobs.outbox import outbox_counts

# Retries within milliseconds so a test sees "retries exhausted" quickly.
FAST = {
    "min_backoff_ms": 10,
    "max_backoff_ms": 50,
    "relay_interval": 0.05,
    "scheduler_interval": 0.05,
    "scheduler_lease": 2.0,
    "worker_threads": 4,
    "worker_timeout_ms": 50,
    "heartbeat_timeout_ms": 60_000,
}


def test_jobs_config(env: dict[str, str], **overrides: Any) -> JobsConfig:
    """FAST settings, then CARNET_JOBS_* from `env`, then `overrides`."""
    base = jobs_config(env)
    explicit = {k[len("CARNET_JOBS_") :].lower() for k in env if k.startswith("CARNET_JOBS_")}
    values = {k: v for k, v in FAST.items() if k not in explicit}
    values.update(overrides)
    return JobsConfig(**{**base.model_dump(), **values})


test_jobs_config.__test__ = False  # type: ignore[attr-defined]


def unique_namespace() -> str:
    return f"carnet-test-{uuid.uuid4().hex[:10]}"


def wait_for_jobs(runtime: Any, timeout: float = 15.0) -> dict[str, int]:
    """Publish the outbox and wait until no due job is pending or in flight; returns the counts."""
    deadline = time.monotonic() + timeout
    while True:
        runtime.relay.run_once()
        counts = outbox_counts(runtime.db)
        if counts["pending"] == 0 and counts["published"] == 0:
            if runtime.worker is not None:
                runtime.worker.join()
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs still running after {timeout}s: {counts}")
        time.sleep(0.02)


def delete_namespace(client: Any, namespace: str) -> None:
    """Remove every Redis key of a test namespace (never FLUSHDB: the database is shared)."""
    keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
    if keys:
        client.delete(*keys)


def redis_dump(client: Any, namespace: str) -> bytes:
    """Every byte Redis holds in a test's namespace (strings, lists, hashes, sets, sorted sets and
    the keys): what a canary test searches for patient data."""
    blobs: list[bytes] = []
    for key in client.scan_iter(match=f"{namespace}:*", count=500):
        kind = client.type(key)
        if kind == b"string":
            blobs.append(client.get(key) or b"")
        elif kind == b"list":
            blobs.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                blobs.extend([field, value])
        elif kind == b"set":
            blobs.extend(client.smembers(key))
        elif kind == b"zset":
            blobs.extend(member for member, _ in client.zrange(key, 0, -1, withscores=True))
        blobs.append(key)
    return b"\n".join(blobs)
