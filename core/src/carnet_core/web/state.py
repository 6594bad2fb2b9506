"""What the app factory builds once and every request reads: the process's shared services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from carnet_core.contrib import Permission
from carnet_core.db.session import Database
from carnet_core.plugins import PluginHost
from carnet_core.settings import Settings


@dataclass
class CarnetState:
    settings: Settings
    host: PluginHost
    db: Database
    templates: Any = None  # jinja2.Environment
    permissions: dict[str, Permission] = field(default_factory=dict)
    # Authenticators turn a connection into a Principal or None; the first that answers wins.
    authenticators: list[Callable[..., Any]] = field(default_factory=list)
    jobs: Any = None  # carnet_core.jobs runtime
    extras: dict[str, Any] = field(default_factory=dict)

    def role_permissions(self, roles: frozenset[str]) -> frozenset[str]:
        return frozenset(name for name, perm in self.permissions.items() if set(perm.roles) & roles)


def carnet_state(app_or_request: Any) -> CarnetState:
    """The CarnetState of a Litestar app, request or connection."""
    app = getattr(app_or_request, "app", app_or_request)
    return app.state["carnet"]


def settings_of(app_or_request: Any) -> Settings:
    """The process's settings (plugin settings under `.plugins["<name>"]`)."""
    return carnet_state(app_or_request).settings


def host_of(app_or_request: Any) -> PluginHost:
    """The process's plugin host."""
    return carnet_state(app_or_request).host


def plugin_settings(app_or_request: Any, plugin: str) -> Any:
    """A plugin's settings model (from `register_settings` and CARNET_<PLUGIN>_*), or None."""
    return carnet_state(app_or_request).settings.plugins.get(plugin)


def clinic_hooks(request: Any) -> Any:
    """Hook caller limited to the plugins the request's clinic enabled: the signed-in member's clinic
    on staff pages, the clinic in the address on public pages (/p/<slug>/...)."""
    scope_state = request.scope.get("state", {})
    if "public_clinic" in scope_state:
        enabled = scope_state.get("public_plugins", frozenset())
    else:
        principal = scope_state.get("principal")
        enabled = principal.enabled_plugins if principal is not None else frozenset()
    return carnet_state(request).host.for_clinic(enabled)


@contextmanager
def connection_db(connection: Any) -> Iterator[Any]:
    """A unit of work for a connection that has no `db` dependency (a WebSocket handler): bound to
    the connection's clinic (the member's, or the one in a public address), with who acts, from
    where and under which request id for the audit trail; commits when the block ends, rolls back
    on any exception. Blocking: open it in a worker thread (`anyio.to_thread.run_sync`)."""
    scope_state = connection.scope.get("state", {})
    with carnet_state(connection).db.session(clinic_id=scope_state.get("clinic_id")) as db:
        db.info["principal"] = scope_state.get("principal")
        db.info["request_id"] = scope_state.get("request_id")
        db.info["address"] = connection.client.host if connection.client else None
        yield db
