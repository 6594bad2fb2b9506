"""A conversation started by the patient (when the practice allows it): the public form under
/p/{clinic}/telecare/new (same answer whether or not the details match a patient in care), then
the personal link /p/{clinic}/telecare/s/{token}: the one-time code (the same steps as a
notification's link), the first message. And the owner's setting that allows it. Thin handlers;
rules in services/starting.py."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from carnet_core.plugin_api import (
    PUBLIC,
    FormErrors,
    InvalidInput,
    NotFound,
    client_address,
    clinic_hooks,
    errors_of,
    flag,
    host_of,
    keep_page,
    links,
    page,
    plugin_settings,
    principal_of,
    refusal_page,
)

from carnet_telecare import permissions as perm
from carnet_telecare.controllers.common import DB, FormData, UploadForm, field, upload_of
from carnet_telecare.models import BODY_LIMIT, SUBJECT_LIMIT
from carnet_telecare.services import messaging, starting

OPT = {"permission": PUBLIC}
PAGE = "telecare/public_start.html"


def _settings(request: Request[Any, Any, Any]) -> Any:
    return plugin_settings(request, "telecare")


def _page(request: Request[Any, Any, Any], step: str, status: int = 200, **more: Any) -> Template:
    clinic = request.scope["state"]["public_clinic"]
    context = {"step": step, "clinic_name": clinic.name, "action": f"/p/{clinic.slug}/telecare/new",
               "v": {}, "errors": FormErrors(), "subject_limit": SUBJECT_LIMIT, "body_limit": BODY_LIMIT,
               "max_mb": _settings(request).attachment_max_bytes // (1024 * 1024), **more}
    if status == 422:  # a refused form: nothing of it is kept
        return page(request, PAGE, context, status_code=status)
    return keep_page(request, PAGE, context, status)


def _off(request: Request[Any, Any, Any]) -> Template:
    return _page(request, "off", 404)


@get("/new", name="telecare.public.new", opt=OPT, sync_to_thread=True)
def new_page(request: Request[Any, Any, Any], db: DB) -> Template:
    return _page(request, "form") if starting.allowed(db) else _off(request)


@post("/new", name="telecare.public.ask", opt=OPT, sync_to_thread=True, status_code=200)
def ask(request: Request[Any, Any, Any], db: DB, data: FormData) -> Template:
    values = {"last_name": field(data, "last_name", starting.NAME_LIMIT),
              "email": field(data, "email", starting.EMAIL_LIMIT)}
    try:
        starting.ask(db, host_of(request), _settings(request), values, client_address(request))
    except starting.Off:
        return _off(request)
    except InvalidInput as exc:
        return _page(request, "form", 422, v=values, errors=errors_of(request, exc))
    except starting.Throttled:
        return _page(request, "form", 429, v=values, throttled=True)
    return _page(request, "asked")


def _link_page(request: Request[Any, Any, Any], token: str, step: str, status: int = 200, **more: Any) -> Template:
    clinic = request.scope["state"]["public_clinic"]
    return _page(request, step, status, action=f"/p/{clinic.slug}/telecare/s/{token}", **more)


def _open(request: Request[Any, Any, Any], db: Any, token: str) -> Any:
    starting.require_allowed(db)
    link = links.open_link(db, token, starting.START, client_address(request))
    starting.access_for_start(db, link)
    return link


def _guarded(request: Request[Any, Any, Any], action: Any) -> Any:
    try:
        return action()
    except starting.Off:
        return _off(request)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except NotFound:
        return refusal_page(request, links.LinkRefused(links.UNKNOWN))


@get("/s/{token:str}", name="telecare.public.start", opt=OPT, sync_to_thread=True)
def start_page(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    def show() -> Template:
        link = _open(request, db, token)
        if messaging.verified(link, _settings(request).code_minutes):
            return _link_page(request, token, "write")
        links.audit_access(db, link, action="open", resource_type="telecare_access")
        return _link_page(request, token, "ask")
    return _guarded(request, show)


@post("/s/{token:str}/code", name="telecare.public.start_code", opt=OPT, sync_to_thread=True, status_code=200)
def start_code(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    def send() -> Template:
        messaging.request_code(db, _open(request, db, token))
        return _link_page(request, token, "code")
    return _guarded(request, send)


@post("/s/{token:str}/verify", name="telecare.public.start_verify", opt=OPT, sync_to_thread=True, status_code=200)
def start_verify(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: FormData) -> Template:
    def check() -> Template:
        link = _open(request, db, token)
        try:
            right = messaging.verify(db, link, field(data, "code", 10), client_address(request))
        except links.LinkRefused as refused:
            if refused.reason == links.CODE_LOCKED:
                return _link_page(request, token, "ask", 429, locked=True)
            raise
        return _link_page(request, token, "write") if right else _link_page(request, token, "code", 400, wrong=True)
    return _guarded(request, check)


@post("/s/{token:str}/write", name="telecare.public.start_write", opt=OPT, sync_to_thread=True, status_code=200)
def start_write(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: UploadForm) -> Template:
    values = {"kind": field(data, "kind", 16), "subject": field(data, "subject", SUBJECT_LIMIT),
              "body": field(data, "body", BODY_LIMIT)}

    def write() -> Template:
        link = _open(request, db, token)
        if not messaging.verified(link, _settings(request).code_minutes):
            return _link_page(request, token, "ask", 403, expired=True)
        try:
            upload = upload_of(data, _settings(request).attachment_max_bytes)
            starting.start(db, link, host_of(request), _settings(request), kind=values["kind"],
                           subject=values["subject"], body=values["body"], upload=upload,
                           hooks=clinic_hooks(request))
        except InvalidInput as exc:
            return _link_page(request, token, "write", 422, v=values, errors=errors_of(request, exc))
        return _link_page(request, token, "sent")
    return _guarded(request, write)


# --- the owner's setting -------------------------------------------------------------------------


@get("/settings", name="telecare.settings", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def settings_page(request: Request[Any, Any, Any], db: DB) -> Template:
    clinic = db.info["clinic"]
    return page(request, "telecare/settings.html", {"setting": starting.current(db),
                                                    "public_path": f"/p/{clinic.slug}/telecare/new"})


@post("/settings", name="telecare.save_settings", opt={"permission": perm.MANAGE}, sync_to_thread=True,
      status_code=303)
def save_settings(request: Request[Any, Any, Any], db: DB, data: FormData) -> Redirect:
    starting.update(db, principal_of(request), patients_may_start=flag(data, "patients_may_start"))
    return Redirect("/telecare/settings", status_code=303)


PUBLIC_START_HANDLERS = [new_page, ask, start_page, start_code, start_verify, start_write]
START_HANDLERS = [settings_page, save_settings]
