"""Registers identity's authenticators, CSRF protection and routes with the web app."""

from __future__ import annotations

from typing import Any

from carnet_core.identity.controllers import HANDLERS
from carnet_core.identity.csrf import CsrfMiddleware, csrf_guard
from carnet_core.identity.keys import IdentityKeys
from carnet_core.identity.policy import IdentityPolicy
from carnet_core.identity.sessions import session_authenticator, token_authenticator
from carnet_core.identity.staff_controllers import StaffController
from carnet_core.web.state import CarnetState


def wire(state: CarnetState) -> list[Any]:
    # Fails at start, naming `carnet init`, when the master key is missing.
    state.extras["identity_keys"] = IdentityKeys.from_settings(state.settings)
    state.extras["identity_policy"] = IdentityPolicy.from_settings(state.settings)
    # A bearer token wins over a cookie: API clients send no cookie, browsers send no token.
    state.authenticators.extend([token_authenticator, session_authenticator])
    state.extras.setdefault("middleware", []).append(CsrfMiddleware)
    state.extras.setdefault("guards", []).append(csrf_guard)
    return [*HANDLERS, StaffController]
