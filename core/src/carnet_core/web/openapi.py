"""The OpenAPI document at /schema/openapi.json: how to authenticate, and every error an API call
can answer (Schemathesis checks in CI that no operation answers a status it does not document).

Every operation under /api/ documents 400, 401, 403, 404 and 503, which any of them may answer:
a body or parameter that does not decode, no or a revoked token, a permission or token scope that
does not allow it, an id this clinic cannot see (or a module it has not enabled), and a database
busy for longer than the lock timeout (nothing changed, `Retry-After`). A handler or controller adds
what it answers on top with `opt={"error_statuses": (409, 422)}`.

A handler that creates something declares where its answer leads with OpenAPI links, so that a
client (and Schemathesis' stateful phase) can follow create -> read -> update:
`opt={"links": {"GetAppointment": ("GET", "/api/v1/scheduling/appointments/{appointment_id}",
{"appointment_id": "$response.body#/id"})}}` on the handler's success answer.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from carnet_core.version import __version__

_PARAM_TYPE = re.compile(r"\{(\w+):[\w]+\}")
BEARER = "bearer"
SESSION = "session"


class FieldErrorOut(msgspec.Struct, omit_defaults=True):
    field: str | None
    message: str | None
    code: str | None = None


class ErrorOut(msgspec.Struct, omit_defaults=True):
    """The body of every error answer of the API."""

    status_code: int
    detail: str
    errors: list[FieldErrorOut] | None = None


ERRORS: dict[int, str] = {
    400: "The request does not decode or fails the documented constraints (ids up to 2147483647, JSON "
         "nested 32 levels at most, free text without control or bidi characters); `errors` names the fields. "
         "Nothing was changed.",
    401: "No valid credentials: send `Authorization: Bearer carnet_…` (or a session cookie).",
    403: "The member's role or the token's scopes do not allow this, or a session request without its "
         "X-CSRF-Token header.",
    404: "Nothing with this id in the clinic (or the module is not enabled for it).",
    409: "The time is taken, or a record failed its integrity check; nothing was changed.",
    410: "The patient's data was erased.",
    422: "The input is well-formed but breaks a rule (dates, durations, a slot outside the hours…); "
         "`errors` names the field. Nothing was changed.",
    503: "The database was busy; nothing was changed, try again after `Retry-After` seconds.",
}
ALWAYS = (400, 401, 403, 404, 503)


def openapi_config(session_cookie: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Carnet API", version=__version__, path="/schema", render_plugins=[CarnetJsonRenderPlugin()],
        components=Components(security_schemes={
            BEARER: SecurityScheme(
                type="http", scheme="bearer", bearer_format="carnet_…",
                description="An API token (`carnet token create`), acting as its member in one clinic, "
                            "limited to its scopes.",
            ),
            SESSION: SecurityScheme(
                type="apiKey", security_scheme_in="cookie", name=session_cookie,
                description="The session cookie of a logged-in member (password and second factor); "
                            "requests that change anything also send the page's X-CSRF-Token header.",
            ),
        }),
        security=[{BEARER: []}, {SESSION: []}],
    )


Link = tuple[str, str, dict[str, str]]  # target method, target path, parameters (runtime expressions)


class CarnetJsonRenderPlugin(JsonRenderPlugin):
    """The JSON document, with the links the handlers declare added once (Litestar's response
    specifications carry no links)."""

    def render(self, request: Any, openapi_schema: dict[str, Any]) -> bytes:
        links: list[tuple[str, str, str, dict[str, Link]]] = request.app.state["carnet"].extras.get(
            "openapi_links", [])
        if links and not openapi_schema.get("x-carnet-links"):
            add_links(openapi_schema, links)
            openapi_schema["x-carnet-links"] = True
        return super().render(request, openapi_schema)


def add_links(document: dict[str, Any], links: list[tuple[str, str, str, dict[str, Link]]]) -> None:
    paths = document.get("paths", {})
    for path, method, status, declared in links:
        operation = paths.get(path, {}).get(method.lower())
        if operation is None or status not in operation.get("responses", {}):
            continue
        out = operation["responses"][status].setdefault("links", {})
        for name, (target_method, target_path, parameters) in declared.items():
            target = paths.get(target_path, {}).get(target_method.lower())
            if target is not None and "operationId" in target:
                out[name] = {"operationId": target["operationId"], "parameters": dict(parameters)}


def document_api_errors(app: Litestar, extras: dict[str, Any]) -> None:
    """Add the error answers to every API operation (before the document is first generated) and
    collect the links the handlers declare (put in by CarnetJsonRenderPlugin)."""
    links = extras.setdefault("openapi_links", [])
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for handler in getattr(route, "route_handlers", []):
            if not hasattr(handler, "http_methods"):
                continue
            responses: dict[int, Any] = dict(handler.responses or {})
            for status in (*ALWAYS, *handler.opt.get("error_statuses", ())):
                responses.setdefault(status, ResponseSpec(data_container=ErrorOut, description=ERRORS[status]))
            handler.responses = responses
            if handler.opt.get("links"):
                method = next(iter(sorted(handler.http_methods)))
                status = str(handler.status_code or (201 if method == "POST" else 200))
                links.append((_PARAM_TYPE.sub(r"{\1}", route.path), method, status, handler.opt["links"]))
