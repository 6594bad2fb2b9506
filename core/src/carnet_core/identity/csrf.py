"""CSRF protection for every unsafe method, htmx included.

Logged-in requests carry the token stored with their server-side session; anonymous forms
(login, password reset, public patient forms) use a signed double-submit token: a random cookie
and, in the form or the X-CSRF-Token header, its keyed hash. Bearer-token API calls carry no
cookie and are exempt. The token for the page being rendered is put in `scope["_csrf_token"]`.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from carnet_core.contrib import PUBLIC
from carnet_core.identity.keys import IdentityKeys
from carnet_core.settings import Settings
from carnet_core.web.principal import ANONYMOUS

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_FIELD = "_csrf_token"
HEADER = "x-csrf-token"
_COOKIE_VALUE_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def csrf_cookie_name(settings: Settings) -> str:
    return "__Host-carnet_csrf" if settings.secure_cookies else "carnet_csrf"


def anonymous_token(keys: IdentityKeys, cookie_value: str) -> str:
    return keys.mac("csrf", cookie_value)


class CsrfMiddleware:
    """Works out the expected token for the request and sets the anonymous cookie when missing."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith("/static/"):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state["carnet"]
        principal = scope.get("state", {}).get("principal", ANONYMOUS)
        new_cookie = None
        if principal.kind == "user":
            token = principal.extra.get("csrf_token", "")
        else:
            settings: Settings = state.settings
            keys: IdentityKeys = state.extras["identity_keys"]
            value = _cookie(scope, csrf_cookie_name(settings))
            if value is None or not _COOKIE_VALUE_RE.match(value):
                value = new_cookie = secrets.token_urlsafe(32)
            token = anonymous_token(keys, value)
        scope["_csrf_token"] = token
        if new_cookie is None:
            await self.app(scope, receive, send)
            return
        secure = state.settings.secure_cookies
        attributes = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        cookie = f"{csrf_cookie_name(state.settings)}={new_cookie}{attributes}"

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message).add("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _cookie(scope: dict[str, Any], name: str) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


async def csrf_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Refuse an unsafe request whose token is missing or wrong (403), before any handler runs."""
    if connection.scope.get("method", "GET") in SAFE_METHODS:
        return
    principal = connection.scope.get("state", {}).get("principal", ANONYMOUS)
    if principal.kind == "token":
        return
    if principal.kind != "user" and handler.opt.get("permission") != PUBLIC:
        return  # the permission guard answers 401 to an anonymous request on a protected route
    expected = connection.scope.get("_csrf_token") or ""
    if expected and _matches(connection.headers.get(HEADER), expected):
        return
    content_type = connection.headers.get("content-type", "")
    if expected and content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await connection.form()  # type: ignore[attr-defined]  # a Request for HTTP routes
        if _matches(form.get(FORM_FIELD), expected):
            return
    raise PermissionDeniedException("CSRF token missing or invalid; reload the page and try again")


def _matches(given: object, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())
