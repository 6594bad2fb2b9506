"""Who is making a request, as the guards and services see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from carnet_core.contrib import AUTHENTICATED, PUBLIC, Roles


@dataclass
class Principal:
    """The authenticated party. `kind` is "anonymous", "user", "token" or "patient_link"."""

    kind: str = "anonymous"
    user_id: int | None = None
    email: str | None = None
    display_name: str | None = None
    clinic_id: int | None = None
    clinic: Any = None
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    scopes: frozenset[str] | None = None  # API tokens: the scopes granted, None = every scope
    enabled_plugins: frozenset[str] = frozenset()
    session_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.roles, Roles):  # `"praticien" in principal.roles` raises UnknownRole
            self.roles = Roles(self.roles)

    def _authenticated(self) -> bool:
        return self.kind in ("user", "token") and self.user_id is not None

    # A property made by a call, not a decorator: mutmut (`make mutation`) skips decorated functions.
    is_authenticated = property(_authenticated)

    def can(self, permission: str) -> bool:
        if permission == PUBLIC:
            return True
        if not self.is_authenticated:
            return False
        if permission == AUTHENTICATED:
            return True
        if self.scopes is not None and permission not in self.scopes:
            return False
        return permission in self.permissions


ANONYMOUS = Principal()
