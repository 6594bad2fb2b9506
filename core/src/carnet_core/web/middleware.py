"""ASGI middleware: request id and access lines, principal resolution, security headers."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import anyio
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from sqlalchemy.exc import OperationalError

from carnet_core.clinics.services import enabled_plugins, get_clinic_by_slug
from carnet_core.logs import request_id_var
from carnet_core.web.principal import ANONYMOUS, Principal
from carnet_core.web.state import CarnetState

access_log = logging.getLogger("carnet.access")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9-]{8,64}$")
_PUBLIC_RE = re.compile(r"^/p/([a-z0-9-]{1,63})/")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def security_headers(path: str, secure: bool) -> list[tuple[str, str]]:
    headers = [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("permissions-policy", "camera=(self), microphone=(self), geolocation=()"),
    ]
    if secure:
        headers.append(("strict-transport-security", "max-age=63072000; includeSubDomains"))
    if not path.startswith("/static/"):
        headers.append(("cache-control", "no-store"))
    return headers


def is_busy(exc: BaseException) -> bool:
    """Another transaction held a lock longer than we wait: SQLite's 'database is locked' (after
    busy_timeout), PostgreSQL's lock_not_available (after lock_timeout, SQLSTATE 55P03)."""
    if not isinstance(exc, OperationalError):
        return False
    return "database is locked" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "55P03"


def _with_retry_when_busy(call: Any, attempts: int = 5) -> Any:
    """Authenticators write (session touch, token use + its audit record) in their own short
    transaction: retry it a few times when SQLite is momentarily busy."""
    for attempt in range(attempts):
        try:
            return call()
        except OperationalError as exc:
            if not is_busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    return None


def resolve_principal(state: CarnetState, scope: dict[str, Any]) -> tuple[Principal, int | None]:
    """Run the authenticators; load the clinic and its enabled plugins. Blocking: call in a thread."""
    connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
    principal = ANONYMOUS
    for authenticate in state.authenticators:
        found = _with_retry_when_busy(lambda a=authenticate: a(connection, state))
        if found is not None:
            principal = found
            break
    public_clinic_id = None
    allowed = state.host.names
    if principal.clinic_id is not None and not principal.enabled_plugins:
        with state.db.session(clinic_id=principal.clinic_id) as db:
            principal.enabled_plugins = frozenset(enabled_plugins(db, principal.clinic_id, allowed))
    match = _PUBLIC_RE.match(scope.get("path", ""))
    if match:
        with state.db.session(unscoped=True) as db:
            clinic = get_clinic_by_slug(db, match.group(1))
            if clinic is not None:
                public_clinic_id = clinic.id
                scope.setdefault("state", {})["public_clinic"] = clinic
        if public_clinic_id is not None:
            with state.db.session(clinic_id=public_clinic_id) as db:
                scope["state"]["public_plugins"] = frozenset(
                    enabled_plugins(db, public_clinic_id, allowed)
                )
    return principal, public_clinic_id


def new_request_id(scope: dict[str, Any]) -> str:
    """The caller's X-Request-ID when it is a plain token, else a fresh one."""
    incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
    return incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex


def route_template(scope: dict[str, Any]) -> str:
    """The matched route's template (`/scheduling/appointments/{id}`), never the path itself: paths
    carry ids and patient links' secret tokens. An unrouted request has none."""
    return scope.get("path_template") or "(unrouted)"


class AccessLog:
    """Outermost layer of the application (around routing, so 404s and 405s count too): gives each
    HTTP request its id and writes one access line when it ends: method, route template, handler
    name, status, duration and request id; info below 400, warning for 4xx, error for 5xx, with
    the refusal's kind (`error`) when an exception handler noted one. Never the path, the query
    or a body."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id(scope)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status: dict[str, int] = {}

        async def send_and_note(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            code = status.get("code", 500)
            level = logging.INFO if code < 400 else logging.WARNING if code < 500 else logging.ERROR
            handler = scope.get("route_handler")
            access_log.log(
                level, "request", extra={
                    "method": scope.get("method"), "route": route_template(scope),
                    "handler": getattr(handler, "name", None), "status": code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "error": scope["state"].get("log_error"),
                },
            )
            request_id_var.reset(token)


class CarnetMiddleware:
    """Sets `state.principal` and `state.clinic_id` for routed requests and WebSocket connections
    (the same authenticators: a browser's WebSocket handshake carries its cookies; the request id
    of HTTP requests comes from AccessLog, outside routing)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state: CarnetState = scope["app"].state["carnet"]
        st = scope.setdefault("state", {})
        token = None
        if "request_id" not in st:  # an app served without its AccessLog layer
            st["request_id"] = new_request_id(scope)
            token = request_id_var.set(st["request_id"])
        path = scope.get("path", "")
        if path.startswith("/static/"):
            principal, public_clinic_id = ANONYMOUS, None
        else:
            principal, public_clinic_id = await anyio.to_thread.run_sync(resolve_principal, state, scope)
        st["principal"] = principal
        st["clinic_id"] = principal.clinic_id if principal.clinic_id is not None else public_clinic_id
        try:
            await self.app(scope, receive, send)
        finally:
            if token is not None:
                request_id_var.reset(token)


async def add_security_headers(message: dict[str, Any], scope: dict[str, Any]) -> None:
    """App-level before_send hook: every HTTP answer gets the headers, 404s and errors included."""
    if message["type"] != "http.response.start":
        return
    state: CarnetState = scope["app"].state["carnet"]
    headers = MutableScopeHeaders.from_message(message)
    for name, value in security_headers(scope.get("path", ""), state.settings.secure_cookies):
        if name not in headers:
            headers[name] = value
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        headers["x-request-id"] = request_id
