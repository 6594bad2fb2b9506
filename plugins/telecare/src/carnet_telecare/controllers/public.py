"""The patient's pages, under /p/{clinic_slug}/telecare, reached only through the link of a
notification: ask for a code (sent to the same address), type it, then read the conversation,
answer it (with an attachment) and download its files for the next minutes. URLs carry the link's
token and an attachment's number within that conversation, never patient data; a bad, expired,
revoked or throttled link gets core's clear page, and an attachment of another conversation is a
404. Refusals keep the request's transaction so that they count."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from carnet_core.plugin_api import (
    PUBLIC,
    Id,
    InvalidInput,
    NotFound,
    client_address,
    clinic_hooks,
    errors_of,
    host_of,
    keep_page,
    links,
    page,
    plugin_settings,
    refusal_page,
)

from carnet_telecare.controllers.common import DB, FormData, UploadForm, download, field, labels, upload_of
from carnet_telecare.models import BODY_LIMIT
from carnet_telecare.services import messaging

OPT = {"permission": PUBLIC}


def _base(request: Request[Any, Any, Any], token: str) -> str:
    return f"/p/{request.scope['state']['public_clinic'].slug}/telecare/m/{token}"


def _settings(request: Request[Any, Any, Any]) -> Any:
    return plugin_settings(request, "telecare")


def _open(request: Request[Any, Any, Any], db: Any, token: str) -> Any:
    return links.open_link(db, token, messaging.CONVERSATION, client_address(request))


def _ask(request: Request[Any, Any, Any], token: str, step: str = "ask", status: int = 200, **more: Any) -> Template:
    return keep_page(request, "telecare/public_conversation.html",
                     {"action": _base(request, token), "step": step, **more}, status)


def _show(request: Request[Any, Any, Any], db: Any, link: Any, token: str, status: int = 200,
          **more: Any) -> Template:
    conversation, views = messaging.patient_read(db, link, _settings(request))
    context = {"action": _base(request, token), "step": "read", "conversation": conversation, "views": views,
               "clinic_name": request.scope["state"]["public_clinic"].name, "body_limit": BODY_LIMIT,
               "max_mb": _settings(request).attachment_max_bytes // (1024 * 1024), "v": {}, "errors": {},
               **labels(), **more}
    if status >= 400:
        return page(request, "telecare/public_conversation.html", context, status_code=status)
    return keep_page(request, "telecare/public_conversation.html", context, status)


@get("/m/{token:str}", name="telecare.public.conversation", opt=OPT, sync_to_thread=True)
def conversation_page(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    try:
        link = _open(request, db, token)
        messaging.conversation_for_link(db, link)
        if not messaging.verified(link, _settings(request).code_minutes):
            links.audit_access(db, link, action="open", resource_type="telecare_conversation")
            return _ask(request, token)
        return _show(request, db, link, token)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except NotFound:
        return refusal_page(request, links.LinkRefused(links.UNKNOWN))


@post("/m/{token:str}/code", name="telecare.public.code", opt=OPT, sync_to_thread=True, status_code=200)
def ask_code(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    try:
        link = _open(request, db, token)
        messaging.request_code(db, link)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except NotFound:
        return refusal_page(request, links.LinkRefused(links.UNKNOWN))
    return _ask(request, token, "code")


@post("/m/{token:str}/verify", name="telecare.public.verify", opt=OPT, sync_to_thread=True, status_code=200)
def verify(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: FormData) -> Template:
    try:
        link = _open(request, db, token)
        if not messaging.verify(db, link, field(data, "code", 10), client_address(request)):
            return _ask(request, token, "code", 400, wrong=True)
        return _show(request, db, link, token)
    except links.LinkRefused as refused:
        if refused.reason == links.CODE_LOCKED:
            return _ask(request, token, "ask", 429, locked=True)
        return refusal_page(request, refused)
    except NotFound:
        return refusal_page(request, links.LinkRefused(links.UNKNOWN))


@post("/m/{token:str}/answer", name="telecare.public.answer", opt=OPT, sync_to_thread=True, status_code=303)
def answer(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: UploadForm) -> Redirect | Template:
    values = {"body": field(data, "body", BODY_LIMIT)}
    try:
        link = _open(request, db, token)
        if not messaging.verified(link, _settings(request).code_minutes):
            return _ask(request, token, "ask", 403, expired=True)
        try:
            upload = upload_of(data, _settings(request).attachment_max_bytes)
            messaging.patient_answer(db, link, host_of(request), _settings(request), values["body"], upload,
                                     hooks=clinic_hooks(request))
        except InvalidInput as exc:
            return _show(request, db, link, token, 422, v=values, errors=errors_of(request, exc))
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except NotFound:
        return refusal_page(request, links.LinkRefused(links.UNKNOWN))
    return Redirect(f"{_base(request, token)}?sent=1", status_code=303)


@get("/m/{token:str}/files/{attachment_id:int}", name="telecare.public.file", opt=OPT, sync_to_thread=True)
def attachment(request: Request[Any, Any, Any], db: DB, token: FromPath[str],
               attachment_id: FromPath[Id]) -> Response[bytes] | Template:
    try:
        link = _open(request, db, token)
        if not messaging.verified(link, _settings(request).code_minutes):
            return _ask(request, token, "ask", 403, expired=True)
        item, name, content = messaging.attachment_for_link(db, link, _settings(request), attachment_id)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except NotFound:
        return keep_page(request, "core/link_refused.html", {"reason": links.UNKNOWN}, 404)
    return download(item.media_type, name, content)


PUBLIC_HANDLERS = [conversation_page, ask_code, verify, answer, attachment]
