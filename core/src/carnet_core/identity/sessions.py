"""Session cookies and the authenticators that turn a request into a Principal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.response import Response

from carnet_core.clinics.models import Clinic
from carnet_core.clinics.services import enabled_plugins
from carnet_core.identity import services
from carnet_core.settings import Settings
from carnet_core.web.principal import Principal
from carnet_core.web.state import CarnetState


def cookie_name(settings: Settings) -> str:
    # __Host- requires Secure, which a browser refuses on plain-HTTP localhost development.
    return "__Host-carnet_session" if settings.secure_cookies else "carnet_session"


def set_session_cookie(response: Response[Any], settings: Settings, raw: str) -> None:
    """A browser-session cookie (no Max-Age): the server enforces idle and absolute expiry."""
    response.set_cookie(
        cookie_name(settings),
        raw,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response[Any], settings: Settings) -> None:
    response.set_cookie(
        cookie_name(settings),
        "",
        max_age=0,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def device_cookie_name(settings: Settings) -> str:
    return "__Host-carnet_device" if settings.secure_cookies else "carnet_device"


def set_device_cookie(response: Response[Any], settings: Settings, value: str, max_age: timedelta) -> None:
    """The known-device cookie (identity.services.remember_device): signed, HttpOnly, kept across
    browser restarts for `max_age` (an Expires date); the server checks its signature and its age
    on every use, whatever the browser keeps."""
    response.set_cookie(
        device_cookie_name(settings),
        value,
        expires=int(max_age.total_seconds()),
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def lifetimes(settings: Settings) -> tuple[timedelta, timedelta]:
    return timedelta(minutes=settings.session_idle_minutes), timedelta(hours=settings.session_absolute_hours)


def session_authenticator(connection: ASGIConnection[Any, Any, Any, Any], state: CarnetState) -> Principal | None:
    """The `__Host-carnet_session` cookie of a fully logged-in session (password + second factor)."""
    raw = connection.cookies.get(cookie_name(state.settings))
    if not raw:
        return None
    idle, absolute = lifetimes(state.settings)
    with state.db.session(unscoped=True) as db:
        # the session, its user, and the user's membership of the session's clinic: one query
        loaded = services.load_session_and_membership(db, raw, idle=idle, absolute=absolute)
        if loaded is None:
            return None
        row, user, found, enabled = loaded.row, loaded.user, loaded.membership, loaded.enabled_plugins
        if found is None:
            # Removed from the session's clinic: fall back to another clinic of the user, if any.
            row.clinic_id = services.default_clinic(db, user.id)
            db.add(row)
            found = services.membership_and_clinic(db, user.id, row.clinic_id) if row.clinic_id else None
        member, clinic = found if found is not None else (None, None)
        roles = member.role_set if member else frozenset()
        # The clinic's enabled plugins, read with the session (or, having fallen back to another
        # clinic, in this same transaction), of those this process loaded.
        if clinic is None:
            enabled = frozenset()
        elif loaded.membership is None:
            enabled = frozenset(enabled_plugins(db, clinic.id, state.host.names))
        else:
            enabled = enabled & frozenset(state.host.names)
        return Principal(
            kind="user",
            user_id=user.id,
            email=user.email,
            display_name=user.display_name or None,
            clinic_id=clinic.id if clinic else None,
            clinic=clinic,
            roles=roles,
            permissions=state.role_permissions(roles),
            session_id=str(row.id),
            extra={"csrf_token": row.csrf_token},
            enabled_plugins=enabled,
        )


def token_authenticator(connection: ASGIConnection[Any, Any, Any, Any], state: CarnetState) -> Principal | None:
    """`Authorization: Bearer carnet_…` API tokens (no cookie, hence no CSRF)."""
    header = connection.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    address = connection.client.host if connection.client else None
    with state.db.session(unscoped=True) as db:
        found = services.authenticate_token(db, raw.strip(), address)
        if found is None:
            return None
        token, user, member = found
        # Every use of a token is traced in the clinic's tamper-evident audit trail, in the same
        # transaction as last_used_at: if the record cannot be written, the token is refused.
        from carnet_core import audit
        from carnet_core.audit.services import Actor

        audit.record(
            db,
            action="use",
            resource_type="api_token",
            resource_id=token.id,
            actor=Actor("token", str(token.id), user.id),  # the token, on behalf of its user
            clinic_id=token.clinic_id,
            details={"method": connection.scope.get("method"), "route": connection.scope.get("path", "")[:200]},
        )
        clinic = db.get(Clinic, token.clinic_id)
        roles = member.role_set
        scopes = frozenset(token.scopes.split(",")) if token.scopes else None
        return Principal(
            kind="token",
            user_id=user.id,
            email=user.email,
            display_name=user.display_name or None,
            clinic_id=token.clinic_id,
            clinic=clinic,
            roles=roles,
            permissions=state.role_permissions(roles),
            scopes=scopes,
            extra={"token_id": token.id},
        )
