"""Process entry points: Dramatiq workers plus the outbox relay, and the periodic scheduler.

Each process reads settings once, builds its plugin host and database, then the broker (before any
actor is declared). SIGTERM or SIGINT stops gracefully: workers finish their current jobs (up to
the shutdown timeout) and unacknowledged messages go back to Redis.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import click

from carnet_core.db.session import Database
from carnet_core.jobs.config import JobsError, jobs_config
from carnet_core.plugins import PluginError, build_plugin_host
from carnet_core.settings import Settings, _redact_url

log = logging.getLogger("carnet.workers")

SHUTDOWN_TIMEOUT_MS = 30_000


def _configure_logging(settings: Settings) -> None:
    """Carnet's logging (JSON, UTC, scrubbed), unless this process already has it (`carnet worker`
    configured it at start); Dramatiq's loggers are taken back either way."""
    from carnet_core.logs import carnet_handler, configure_logging, own_loggers

    if carnet_handler() is None:
        configure_logging(settings)
    own_loggers()


def _stop_event() -> threading.Event:
    """Set by the first SIGTERM or SIGINT (a graceful stop); a second one ends the process at once.
    SIGUSR1 prints every thread's stack on stderr, to see what a slow stop waits for."""
    stop = threading.Event()

    def handle(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("received %s again; exiting without waiting for running jobs", name)
            logging.shutdown()
            os._exit(1)
        log.info("received %s; stopping", name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    return stop


def run_worker(
    settings: Settings,
    processes: int = 1,
    threads: int | None = None,
    queues: set[str] | None = None,
    relay: bool = True,
) -> None:
    """Consume jobs from Redis (`processes` × `threads`) and, unless `relay` is False, publish the
    outbox. With several processes this one supervises them and runs the relay."""
    if not settings.redis_url:
        raise click.ClickException(
            "CARNET_REDIS_URL is not set: in the embedded set-up `carnet serve` runs jobs itself. "
            "Set CARNET_REDIS_URL to run separate worker processes"
        )
    _configure_logging(settings)
    if processes == 1:
        _run_single(settings, threads, queues, relay)
    else:
        _supervise(settings, processes, threads, queues, relay)


def _build(settings: Settings) -> tuple[Any, Database, Any]:
    try:
        host = build_plugin_host(settings)
        config = jobs_config(host.settings.env)
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    from carnet_core.process import open_database

    # keyring: jobs open sealed fields (e.g. a patient's e-mail); notifier: audit_event observers
    return host, open_database(host.settings, host), config


def _run_single(
    settings: Settings, threads: int | None, queues: set[str] | None, relay: bool
) -> None:
    from carnet_core.jobs.runtime import setup_jobs

    host, db, config = _build(settings)
    stop = _stop_event()
    runtime = setup_jobs(host.settings, host, db, config=config)
    try:
        runtime.check_broker(strict=False)
    except JobsError as exc:
        raise click.ClickException(str(exc)) from None
    unknown = (queues or set()) - set(runtime.queues)
    if unknown:
        raise click.ClickException(
            f"no actor uses queue(s) {', '.join(sorted(unknown))}; "
            f"queues: {', '.join(runtime.queues) or 'none'}"
        )
    from carnet_core.process import freeze_startup_heap

    freeze_startup_heap()  # plugins, actors and models built for the process's lifetime
    runtime.start_worker(threads, queues)
    if relay:
        runtime.relay.start()
    click.echo(
        f"carnet worker {os.getpid()}: {threads or config.worker_threads} threads on "
        f"{', '.join(sorted(queues or runtime.queues)) or 'no queue'}; "
        f"relay {'on' if relay else 'off'}; "
        f"Redis {_redact_url(runtime.redis_url or '')}",
    )
    try:
        stop.wait()
    finally:
        runtime.stop(timeout_ms=SHUTDOWN_TIMEOUT_MS)
        runtime.broker.close()
        db.dispose()
        click.echo(f"carnet worker {os.getpid()}: stopped")


def _child_command(threads: int | None, queues: set[str] | None) -> list[str]:
    cmd = [sys.executable, "-m", "carnet_workers", "worker", "--processes", "1", "--no-relay"]
    if threads:
        cmd += ["--threads", str(threads)]
    if queues:
        cmd += ["--queues", ",".join(sorted(queues))]
    return cmd


def _supervise(
    settings: Settings, processes: int, threads: int | None, queues: set[str] | None, relay: bool
) -> None:
    """Start `processes` single-process workers, restart any that dies, run the relay here."""
    from carnet_core.jobs.runtime import setup_jobs

    host, db, config = _build(settings)
    stop = _stop_event()
    runtime = setup_jobs(host.settings, host, db, config=config)
    try:
        runtime.check_broker(strict=False)
    except JobsError as exc:
        raise click.ClickException(str(exc)) from None
    if relay:
        runtime.relay.start()
    cmd = _child_command(threads, queues)
    children: list[subprocess.Popen[bytes]] = [subprocess.Popen(cmd) for _ in range(processes)]  # noqa: S603
    click.echo(
        f"carnet worker supervisor {os.getpid()}: {processes} processes; "
        f"relay {'on' if relay else 'off'}"
    )
    try:
        while not stop.wait(1.0):
            for i, child in enumerate(children):
                code = child.poll()
                if code is not None:
                    log.warning("worker process %d exited with %s; restarting it", child.pid, code)
                    time.sleep(1.0)
                    children[i] = subprocess.Popen(cmd)  # noqa: S603
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT_MS / 1000 + 5
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        runtime.stop(timeout_ms=SHUTDOWN_TIMEOUT_MS)
        runtime.broker.close()
        db.dispose()


def run_scheduler(settings: Settings) -> None:
    """Fire plugins' periodic schedules into the outbox while this process leads."""
    from carnet_core.jobs.scheduler import Scheduler

    _configure_logging(settings)
    host, db, config = _build(settings)
    stop = _stop_event()
    try:
        scheduler = Scheduler(db, host, config)
    except JobsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"carnet scheduler {scheduler.name}: {len(scheduler.schedules)} schedule(s); "
        "one scheduler leads at a time"
    )
    try:
        scheduler.run_forever(stop)
    finally:
        db.dispose()
        click.echo(f"carnet scheduler {scheduler.name}: stopped")
