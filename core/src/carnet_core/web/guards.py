"""Guards every mounted route passes: login, clinic, plugin enabled, declared permission."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from carnet_core.contrib import PUBLIC
from carnet_core.web.principal import ANONYMOUS, Principal


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    return connection.scope.get("state", {}).get("principal", ANONYMOUS)


def permission_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    permission = handler.opt.get("permission")
    if permission is None:  # start-up refuses such routes; this is the belt to those braces
        raise PermissionDeniedException("route declares no permission")
    if permission == PUBLIC:
        return
    principal = principal_of(connection)
    if not principal.is_authenticated:
        raise NotAuthorizedException("login required")
    if principal.clinic_id is None:
        raise PermissionDeniedException("no clinic selected")
    if not principal.can(permission):
        raise PermissionDeniedException("permission denied")


def plugin_enabled_guard(plugin: str) -> Any:
    """Plugin routes answer 404 to a clinic that has not enabled the plugin."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        if principal.is_authenticated and plugin not in principal.enabled_plugins:
            raise NotFoundException()

    guard.__name__ = f"plugin_enabled_{plugin}"
    return guard
