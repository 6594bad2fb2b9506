"""Public (patient) routes: /p/{clinic_slug}/<plugin>/…, 404 unless the clinic enabled the plugin."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler


def public_plugin_guard(plugin: str) -> Any:
    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if handler.opt.get("permission") is None:
            raise NotFoundException()
        state = connection.scope.get("state", {})
        if state.get("public_clinic") is None or plugin not in state.get("public_plugins", frozenset()):
            raise NotFoundException()

    guard.__name__ = f"public_{plugin}"
    return guard
