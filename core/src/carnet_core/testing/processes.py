"""Processes a test starts (`carnet serve`, `carnet worker`, a Redis of its own) never outlive it.

A worker or server left running after a failed test keeps consuming the shared Redis database and
reading the shared PostgreSQL test database: later tests then fail for reasons of its making. So a
test starts them through `running_process`, which stops them whatever happens, and asks them to stop
through `stop_process`, which kills what does not stop in time and says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _signal(proc: subprocess.Popen[Any], signum: int, group: bool) -> None:
    try:
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
    except ProcessLookupError:
        pass


def stop_process(
    proc: subprocess.Popen[Any],
    timeout: float = 60.0,
    signum: int = signal.SIGTERM,
    *,
    group: bool = False,
    log: Path | None = None,
) -> int:
    """Send `signum` and wait up to `timeout` seconds; returns the exit code. A process still running
    then is sent SIGUSR1 first (Carnet's processes print every thread's stack on it), then killed,
    and the test fails naming it, with the end of `log` when given."""
    if proc.poll() is not None:
        return proc.returncode
    _signal(proc, signum, group)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    _signal(proc, signal.SIGUSR1, group)
    try:
        proc.wait(2)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL, group)
        proc.wait(10)
    tail = log.read_text(errors="replace")[-6000:] if log is not None and log.exists() else ""
    raise AssertionError(
        f"{' '.join(map(str, proc.args))} did not stop within {timeout:.0f}s of "
        f"{signal.Signals(signum).name}; killed\n{tail}"
    )


@contextmanager
def running_process(
    args: Sequence[str], *, stop_timeout: float = 60.0, log: Path | None = None, **popen: Any
) -> Iterator[subprocess.Popen[Any]]:
    """`subprocess.Popen(args, **popen)` in a session of its own, killed with all its children
    when the block ends if it still runs (the block may stop it itself, e.g. with `stop_process`)."""
    proc = subprocess.Popen(list(args), start_new_session=True, **popen)  # noqa: S603
    try:
        yield proc
    finally:
        if proc.poll() is None:
            _signal(proc, signal.SIGTERM, True)
            try:
                proc.wait(stop_timeout)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL, True)
                proc.wait(10)
        # children it started (a supervisor's workers) go with it
        _signal(proc, signal.SIGKILL, True)


def free_port() -> int:
    """A TCP port free on the loopback now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_process_env(settings: Any, **extra: str) -> dict[str, str]:
    """The environment of a web process on the test's settings: its home (keys), its database,
    no in-process worker, test mode (plain-HTTP cookies, a light password hash); `extra` adds
    CARNET_ variables (e.g. CARNET_LOG_FORMAT="json")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env.update({
        "CARNET_HOME": str(settings.home), "CARNET_DATABASE_URL": settings.database_url,
        "CARNET_IN_PROCESS_WORKER": "0", "CARNET_TESTING": "1", "CARNET_PASSWORD_HASH_MEMORY_KIB": "1024",
        **extra,
    })
    return env


@contextmanager
def serving(settings: Any, *, command: Any = None, env: dict[str, str] | None = None, startup: float = 60.0,
            **popen: Any) -> Iterator[tuple[subprocess.Popen[Any], str]]:
    """A real web process (`carnet serve` by default; `command(port)` gives another argument list)
    answering /healthz on a free loopback port: yields the process and its base URL, and stops it
    (killed if it must be) when the block ends."""
    import sys
    import time

    import httpx

    port = free_port()
    args = command(port) if command else [os.path.join(os.path.dirname(sys.executable), "carnet"), "serve",
                                          "--port", str(port)]
    with running_process(args, env=env or web_process_env(settings), **popen) as proc:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + startup
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"{' '.join(args)} exited with {proc.returncode}")
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{' '.join(args)} did not start") from None
                time.sleep(0.1)
        yield proc, base
        stop_process(proc, timeout=30)
