"""Embedded mode: the web process runs the worker, relay and scheduler in threads, started and
stopped with the Litestar app's lifecycle."""

from __future__ import annotations

from typing import Any

from carnet_core.web.state import CarnetState


def wire_jobs(state: CarnetState) -> None:
    """With CARNET_IN_PROCESS_WORKER (default when CARNET_REDIS_URL is unset), build the jobs
    runtime now, before any actor, and start it when the app starts."""
    if not state.settings.in_process_worker:
        return
    from carnet_core.jobs.runtime import setup_jobs

    runtime = setup_jobs(state.settings, state.host, state.db)
    state.jobs = runtime

    def attach(app: Any) -> None:
        def start() -> None:
            if runtime.mode == "redis":
                runtime.check_broker(strict=False)
            runtime.start()

        def stop() -> None:
            runtime.stop(timeout_ms=10_000)

        app.on_startup.append(start)
        app.on_shutdown.append(stop)

    state.extras.setdefault("on_app_created", []).append(attach)
