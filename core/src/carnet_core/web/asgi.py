"""ASGI entry for servers other than `carnet serve`: `uvicorn --factory carnet_core.web.asgi:build`."""

from __future__ import annotations

from litestar import Litestar

from carnet_core.settings import load_settings
from carnet_core.web.app import create_app


def build() -> Litestar:
    """Read settings from the environment once, own the process's logging (the server configured
    its own loggers before calling this factory), and build the application."""
    from carnet_core import statefiles
    from carnet_core.logs import configure_logging
    from carnet_core.process import freeze_startup_heap

    settings = load_settings()
    configure_logging(settings)
    statefiles.private_umask()
    statefiles.tighten(settings, files=False)
    app = create_app(settings)
    freeze_startup_heap()  # built for the process's lifetime: out of the collector's reach
    return app
