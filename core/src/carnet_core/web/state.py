"""What the app factory builds once and every request reads: the process's shared services."""

from __future__ import annotations

from collections.abc import Callable
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
