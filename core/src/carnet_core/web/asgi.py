"""ASGI entry for servers other than `carnet serve`: `uvicorn --factory carnet_core.web.asgi:build`."""

from __future__ import annotations

from litestar import Litestar

from carnet_core.settings import load_settings
from carnet_core.web.app import create_app


def build() -> Litestar:
    """Read settings from the environment once and build the application."""
    return create_app(load_settings())
