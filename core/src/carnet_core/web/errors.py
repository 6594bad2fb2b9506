"""Error answers: JSON for the API, a readable page for people; never a stack trace.

The convention (see `carnet_core.errors`): field errors answer 422 on the API with
`{"status_code", "detail", "errors": [{"field", "code", "message"}]}`; a body the schema refuses
answers 400 with the same shape; an HTML form re-renders itself (`carnet_core.web.forms`)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Redirect
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from carnet_core.errors import InvalidInput
from carnet_core.i18n import N_
from carnet_core.web.render import page, translate

log = logging.getLogger("carnet.web")


class InvalidFields(HTTPException):
    """422: the values are well-formed but refused. `extra` lists `{"field", "code", "message"}`."""

    status_code = 422


def field_errors(request: Request[Any, Any, Any], exc: InvalidInput) -> dict[str, dict[str, str]]:
    """Each bad field's stable code and its message in the request's language."""
    return {
        name: {"code": error.code, "message": translate(request, error.message, **error.params)}
        for name, error in exc.errors.items()
    }


def invalid_fields(request: Request[Any, Any, Any], exc: InvalidInput, detail: str | None = None) -> InvalidFields:
    """The API's answer to refused input: 422 with each field's code and translated message
    (`detail`, an N_() msgid, summarises; "Invalid input." by default)."""
    return InvalidFields(
        detail=translate(request, detail or N_("Invalid input.")),
        extra=[{"field": name, **error} for name, error in field_errors(request, exc).items()],
    )


def invalid_input_handler(request: Request[Any, Any, Any], exc: InvalidInput) -> Response[Any]:
    """A service's `InvalidInput` that no handler caught: 422, JSON for the API, a page otherwise."""
    return http_exception_handler(request, invalid_fields(request, exc))


def _is_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _json_error(status: int, detail: str, extra: Any = None) -> Response[Any]:
    body: dict[str, Any] = {"status_code": status, "detail": detail}
    if extra:
        body["errors"] = extra
    return Response(body, status_code=status, media_type="application/json")


def _note_for_log(request: Request[Any, Any, Any], exc: Exception) -> None:
    """The refusal's kind for the access line (AccessLog): the exception's class, never its text."""
    request.scope.setdefault("state", {})["log_error"] = type(exc).__name__


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    _note_for_log(request, exc)
    if isinstance(exc, NotAuthorizedException) and not _is_api(request):
        target = "/login?next=" + request.url.path if request.method == "GET" else "/login"
        if request.headers.get("hx-request") == "true":
            return Response("", status_code=204, headers={"HX-Redirect": target})
        return Redirect(target, status_code=303)
    extra = getattr(exc, "extra", None)
    if isinstance(exc, ValidationException) and not any(isinstance(e, dict) and "field" in e for e in extra or []):
        extra = [
            {"field": e.get("key"), "code": e.get("code") or _code_of(e), "message": e.get("message")}
            for e in (exc.extra or []) if isinstance(e, dict)
        ] or extra
    if _is_api(request):
        return _json_error(status, str(exc.detail), extra)
    _ensure_principal(request)
    try:
        detail = exc.detail
        if isinstance(exc, InvalidFields) and extra:
            detail = " ".join(str(e.get("message")) for e in extra if isinstance(e, dict))
        return page(request, "core/error.html", {"status": status, "detail": detail}, status_code=status)
    except Exception:  # the error page itself must never fail
        log.exception("error page failed")
        return Response(f"{status}", status_code=status, media_type="text/plain")


def _code_of(error: dict[str, Any]) -> str:
    """A stable code for a body that failed the schema (msgspec's messages are English text)."""
    message = str(error.get("message") or "")
    from carnet_core.inputs import TEXT_PROBLEMS

    for problem in TEXT_PROBLEMS:  # the free-text validator's answers keep their own codes
        if message == problem.message:
            return problem.code
    if "unknown field" in message:
        return "unknown_field"
    if "missing required field" in message:
        return "required"
    return "invalid"


def _ensure_principal(request: Request[Any, Any, Any]) -> None:
    """An unrouted URL never passed the middleware: resolve who asks so the page shell (navigation,
    account) is right on a 404 too."""
    state = request.scope.setdefault("state", {})
    if "principal" in state:
        return
    from carnet_core.web.middleware import resolve_principal
    from carnet_core.web.state import carnet_state

    try:
        state["principal"], _ = resolve_principal(carnet_state(request), request.scope)
    except Exception:  # an error page must render even when the session store is unreachable
        log.warning("could not resolve the principal for an error page")


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    from carnet_core.web.middleware import is_busy

    _note_for_log(request, exc)
    if is_busy(exc):
        # Nothing was committed (the transaction rolled back): say so, and when to try again.
        log.warning("database busy on %s", request.method)
        if _is_api(request):
            response = _json_error(503, "the database is busy; nothing was changed, try again")
        else:
            response = page(request, "core/error.html", {"status": 503, "detail": None}, status_code=503)
        response.headers["Retry-After"] = "1"
        return response
    handler = request.scope.get("route_handler")
    log.error(
        "unhandled error %s on %s %s", type(exc).__name__, request.method, handler and handler.name,
        exc_info=exc,
    )
    if _is_api(request):
        return _json_error(HTTP_500_INTERNAL_SERVER_ERROR, "internal error")
    try:
        return page(request, "core/error.html", {"status": 500, "detail": None}, status_code=500)
    except Exception:
        return Response("500", status_code=500, media_type="text/plain")
