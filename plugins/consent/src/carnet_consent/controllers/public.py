"""Pages for signers without an account, under /p/{clinic_slug}/consent, reached only through the
signed links of their e-mails: read the form, answer each clause, get a one-time code, type one's
name, "Je signe"; and the withdrawal page. URLs carry a link token, never patient data; a bad,
expired, used or throttled link gets core's clear page (404/410/429). Refusals and wrong codes
keep the request's transaction so that they count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from carnet_core.plugin_api import (
    PUBLIC,
    CarnetSession,
    InvalidInput,
    client_address,
    clinic_hooks,
    errors_of,
    host_of,
    keep_page,
    links,
    page,
    principal_of,
    refusal_page,
)

from carnet_consent.controllers.common import DB, FormData, labels, purpose_label
from carnet_consent.labels import RIGHTS_KIND_HELP
from carnet_consent.models import RIGHTS_KINDS
from carnet_consent.rendering import to_html
from carnet_consent.services import accesses, decisions, forms, paper, rights, rights_online, signing

OPT = {"permission": PUBLIC}


def _base(request: Request[Any, Any, Any]) -> str:
    return f"/p/{request.scope['state']['public_clinic'].slug}/consent"


def _sign_context(request: Request[Any, Any, Any], view: signing.SignerView, token: str, **more: Any) -> dict[str, Any]:
    """What the signing page shows; `channel` ("email", "sms") says where the code goes."""
    return {"channel": "email",
        "version": view.version, "html": to_html(view.version.body), "clauses": forms.clauses_of(view.version.clauses),
        "action": f"{_base(request)}/s/{token}", "values": {}, "errors": {}, "clinic_name":
        request.scope["state"]["public_clinic"].name, **labels(), **more,
    }


def _done(request: Request[Any, Any, Any], kind: str, status: int = 200) -> Template:
    return keep_page(request, "consent/public_message.html", {"kind": kind}, status)


def _open_sign(request: Request[Any, Any, Any], db: CarnetSession, token: str) -> tuple[Any, signing.SignerView]:
    link = links.open_link(db, token, signing.SIGN_PURPOSES, client_address(request))
    return link, signing.view_for(db, link)


@get("/s/{token:str}", name="consent.public.sign", opt=OPT, sync_to_thread=True)
def sign_page(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    try:
        link, view = _open_sign(request, db, token)
        signing.check_open(view)
        links.audit_access(db, link, resource_type="consent_signer")
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except signing.AlreadySigned:
        return _done(request, "closed", 410)
    return keep_page(request, "consent/public_sign.html",
                     _sign_context(request, view, token, step="read", channel=signing.channel_of(link)))


@post("/s/{token:str}/code", name="consent.public.code", opt=OPT, sync_to_thread=True, status_code=200)
def ask_code(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: FormData) -> Template:
    """The answers and name are checked, then a code is sent to the signer's address."""
    try:
        link, view = _open_sign(request, db, token)
        signing.check_open(view)
        values = {k: str(v)[:200] for k, v in data.items() if k != "_csrf_token"}
        if str(data.get("version_id") or "") != str(view.version.id):
            return keep_page(request, "consent/public_sign.html",
                             _sign_context(request, view, token, step="read", changed=True), 409)
        try:
            answers, _name = signing.clean_submission(view.version, data)
        except InvalidInput as exc:
            return keep_page(request, "consent/public_sign.html", _sign_context(
                request, view, token, step="read", values=values, errors=errors_of(request, exc)), 422)
        signing.request_code(db, link, view)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except signing.AlreadySigned:
        return _done(request, "closed", 410)
    return keep_page(request, "consent/public_sign.html", _sign_context(
        request, view, token, step="code", values=values, answers=answers, channel=signing.channel_of(link)))


@post("/s/{token:str}/sign", name="consent.public.do_sign", opt=OPT, sync_to_thread=True, status_code=200)
def do_sign(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: FormData) -> Template:
    values = {k: str(v)[:200] for k, v in data.items() if k not in ("_csrf_token", "code")}
    try:
        link, view = _open_sign(request, db, token)
        try:
            version_id = int(str(data.get("version_id") or "0"))
        except ValueError:
            version_id = 0
        signing.sign(db, link, version_id=version_id, answers_form=data, full_name=str(data.get("full_name") or ""),
                     code=str(data.get("code") or ""), address=client_address(request),
                     user_agent=request.headers.get("user-agent"), hooks=clinic_hooks(request))
    except links.LinkRefused as refused:
        if refused.reason == links.CODE_LOCKED:
            return keep_page(request, "consent/public_message.html", {"kind": "locked"}, 429)
        return refusal_page(request, refused)
    except signing.AlreadySigned:
        return _done(request, "closed", 410)
    except signing.VersionChanged:
        return keep_page(request, "consent/public_sign.html",
                         _sign_context(request, view, token, step="read", changed=True), 409)
    except signing.WrongCode:
        keys = [c.key for c in forms.clauses_of(view.version.clauses)]
        answers = {k: data.get(f"clause_{k}") == "accept" for k in keys}
        return keep_page(request, "consent/public_sign.html", _sign_context(
            request, view, token, step="code", values=values, answers=answers, wrong=True,
            channel=signing.channel_of(link)), 400)
    except InvalidInput as exc:
        return page(request, "consent/public_sign.html", _sign_context(
            request, view, token, step="read", values=values, errors=errors_of(request, exc)), status_code=422)
    return _done(request, "signed")


def _withdraw_context(request: Request[Any, Any, Any], db: CarnetSession, link: Any, token: str,
                      **more: Any) -> dict[str, Any]:
    view = signing.view_for(db, link)
    given = signing.withdrawable(db, view.signer.patient_id)
    return {"given": [(c, purpose_label(c.purpose)) for c in given], "action": f"{_base(request)}/w/{token}",
            "rights_page": f"{_base(request)}/rights", **labels(), **more}


@get("/w/{token:str}", name="consent.public.withdraw", opt=OPT, sync_to_thread=True)
def withdraw_page(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    try:
        link = links.open_link(db, token, signing.WITHDRAW, client_address(request))
        links.audit_access(db, link, resource_type="consent_decision")
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    return keep_page(request, "consent/public_withdraw.html", _withdraw_context(request, db, link, token))


@post("/w/{token:str}", name="consent.public.do_withdraw", opt=OPT, sync_to_thread=True, status_code=200)
def do_withdraw(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: FormData) -> Template:
    try:
        link = links.open_link(db, token, signing.WITHDRAW, client_address(request))
        view = signing.view_for(db, link)
        purpose = str(data.get("purpose") or "")[:40]
        try:
            decisions.withdraw(db, view.signer.patient_id, purpose, source="withdrawal_link",
                               actor=f"patient_link:{link.id}", hooks=clinic_hooks(request))
        except InvalidInput as exc:
            return keep_page(request, "consent/public_withdraw.html", _withdraw_context(
                request, db, link, token, errors=errors_of(request, exc)), 422)
        links.use(db, link, action="withdraw", resource_type="consent_decision", details={"purpose": purpose})
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    return keep_page(request, "consent/public_withdraw.html",
                     _withdraw_context(request, db, link, token, withdrawn=purpose_label(purpose)))


# --- the steps of a link with a one-time code ------------------------------------------------------


def _linked(request: Request[Any, Any, Any], db: CarnetSession, token: str, purpose: str, act: Callable[[Any], Any],
            then: Callable[[Any], Any], *, checks_code: bool = False,
            invalid: Callable[[InvalidInput], Template] | None = None) -> Any:
    """One step of a patient link (`purpose`) with a one-time code (its page, asking for a code,
    checking it): open the link, `act(link)`, and `then(result)` the page. A refused link gets
    core's page; on a step that `checks_code`, a code locked after wrong tries gets the "locked"
    page (429); "who looked at my file" switched off its page (403); a wrong field `invalid(exc)`."""
    try:
        link = links.open_link(db, token, purpose, client_address(request))
        result = act(link)
    except links.LinkRefused as refused:
        if checks_code and refused.reason == links.CODE_LOCKED:
            return keep_page(request, "consent/public_message.html", {"kind": "locked"}, 429)
        return refusal_page(request, refused)
    except accesses.AccessesOff:
        return keep_page(request, "consent/public_message.html", {"kind": "accesses_off"}, 403)
    except InvalidInput as exc:
        if invalid is None:
            raise
        return invalid(exc)
    return then(result)


# --- "who looked at my file" ----------------------------------------------------------------------


def _accesses_page(request: Request[Any, Any, Any], token: str, step: str, status: int = 200,
                   **more: Any) -> Template:
    return keep_page(request, "consent/public_accesses.html",
                     {"action": f"{_base(request)}/a/{token}", "step": step, **more}, status)


def _accesses_open(db: CarnetSession, link: Any) -> Any:
    accesses.check_enabled(db)
    return link


@get("/a/{token:str}", name="consent.public.accesses", opt=OPT, sync_to_thread=True)
def accesses_page(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    return _linked(request, db, token, accesses.ACCESSES, lambda link: _accesses_open(db, link),
                   lambda link: _accesses_page(request, token, "ask", sent=link.codes_sent > 0))


@post("/a/{token:str}/code", name="consent.public.accesses_code", opt=OPT, sync_to_thread=True, status_code=200)
def accesses_code(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    return _linked(request, db, token, accesses.ACCESSES, lambda link: accesses.request_code(db, link),
                   lambda _: _accesses_page(request, token, "code"))


@post("/a/{token:str}", name="consent.public.accesses_view", opt=OPT, sync_to_thread=True, status_code=200)
def accesses_view(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: FormData) -> Template:
    def shown(rows: list[Any] | None) -> Template:
        if rows is None:
            return _accesses_page(request, token, "code", 400, wrong=True)
        return keep_page(request, "consent/public_accesses.html",
                         {"step": "rows", "rows": rows, "rights_page": f"{_base(request)}/rights"})

    return _linked(request, db, token, accesses.ACCESSES, lambda link: accesses.view(
        db, link, str(data.get("code") or ""), client_address(request), host_of(request)), shown, checks_code=True)


# --- the answer to an access or portability request (core's export, once, with a code) -------------


def _rights_page(request: Request[Any, Any, Any], token: str, step: str, status: int = 200, **more: Any) -> Template:
    return keep_page(request, "consent/public_rights.html",
                     {"action": f"{_base(request)}/r/{token}", "step": step, **more}, status)


@get("/r/{token:str}", name="consent.public.rights", opt=OPT, sync_to_thread=True)
def rights_page(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    return _linked(request, db, token, rights.DELIVERY, lambda link: link,
                   lambda link: _rights_page(request, token, "ask", sent=link.codes_sent > 0))


@post("/r/{token:str}/code", name="consent.public.rights_code", opt=OPT, sync_to_thread=True, status_code=200)
def rights_code(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    return _linked(request, db, token, rights.DELIVERY, lambda link: rights.request_code(db, link),
                   lambda _: _rights_page(request, token, "code"))


@post("/r/{token:str}", name="consent.public.rights_download", opt=OPT, sync_to_thread=True, status_code=200)
def rights_download(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: FormData) -> Any:
    """The export as a JSON attachment once the code is right; the link is then used up."""
    def delivered(content: bytes | None) -> Any:
        if content is None:
            return _rights_page(request, token, "code", 400, wrong=True)
        return Response(content, media_type="application/json", headers={
            "Content-Disposition": 'attachment; filename="mes-donnees.json"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    return _linked(request, db, token, rights.DELIVERY, lambda link: rights.download(
        db, link, str(data.get("code") or ""), client_address(request)), delivered, checks_code=True)


# --- kiosk: signing on the cabinet's tablet ------------------------------------------------------------


def _kiosk_refused(request: Request[Any, Any, Any]) -> Template | None:
    """A device signed in as staff never shows the kiosk: the patient would hold that session."""
    if principal_of(request).is_authenticated:
        return keep_page(request, "consent/public_message.html", {"kind": "staff_device"}, 403)
    return None


def _kiosk_context(request: Request[Any, Any, Any], view: signing.SignerView, token: str,
                   **more: Any) -> dict[str, Any]:
    return _sign_context(request, view, token, step="kiosk", action=f"{_base(request)}/k/{token}", kiosk=True,
                         **more)


@get("/k/{token:str}", name="consent.public.kiosk", opt=OPT, sync_to_thread=True)
def kiosk_page(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    refused = _kiosk_refused(request)
    if refused is not None:
        return refused
    try:
        link = links.open_link(db, token, paper.KIOSK, client_address(request))
        view = signing.view_for(db, link)
        signing.check_open(view)
        links.audit_access(db, link, resource_type="consent_signer")
    except links.LinkRefused as refused_link:
        return refusal_page(request, refused_link)
    except signing.AlreadySigned:
        return _done(request, "closed", 410)
    return keep_page(request, "consent/public_sign.html", _kiosk_context(request, view, token))


@post("/k/{token:str}", name="consent.public.kiosk_sign", opt=OPT, sync_to_thread=True, status_code=200)
def kiosk_sign(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: FormData) -> Template:
    refused = _kiosk_refused(request)
    if refused is not None:
        return refused
    values = {k: str(v)[:200] for k, v in data.items() if k != "_csrf_token"}
    try:
        link = links.open_link(db, token, paper.KIOSK, client_address(request))
        view = signing.view_for(db, link)
        raw = str(data.get("version_id") or "")
        paper.sign_on_tablet(db, link, version_id=int(raw) if raw.isdigit() and len(raw) < 10 else 0,
                             answers_form=data, full_name=str(data.get("full_name") or ""),
                             address=client_address(request), user_agent=request.headers.get("user-agent"),
                             hooks=clinic_hooks(request))
    except links.LinkRefused as refused_link:
        return refusal_page(request, refused_link)
    except signing.AlreadySigned:
        return _done(request, "closed", 410)
    except signing.VersionChanged:
        return keep_page(request, "consent/public_sign.html", _kiosk_context(request, view, token, changed=True), 409)
    except InvalidInput as exc:
        return page(request, "consent/public_sign.html", _kiosk_context(
            request, view, token, values=values, errors=errors_of(request, exc)), status_code=422)
    return _done(request, "kiosk_signed")


# --- a request about one's data, from the clinic's public page (no account) ------------------------


def _ask_page(request: Request[Any, Any, Any], step: str, status: int = 200, **more: Any) -> Template:
    context = {"action": f"{_base(request)}/rights", "step": step, "v": {}, "errors": {}, "kinds": RIGHTS_KINDS,
               "kind_help": RIGHTS_KIND_HELP, "clinic_name": request.scope["state"]["public_clinic"].name,
               **labels(), **more}
    return keep_page(request, "consent/public_rights_ask.html", context, status)


def _values(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {k: str(data.get(k) or "")[:rights.TEXT_LIMIT + 1] for k in names}


@get("/rights", name="consent.public.rights_ask", opt=OPT, sync_to_thread=True)
def ask_page(request: Request[Any, Any, Any]) -> Template:
    return _ask_page(request, "identify")


@post("/rights", name="consent.public.rights_ask_send", opt=OPT, sync_to_thread=True, status_code=200)
def ask_send(request: Request[Any, Any, Any], db: DB, data: FormData) -> Template:
    """The same answer whether or not the details match a file (no one learns who is a patient)."""
    values = _values(data, ("last_name", "email"))
    try:
        rights_online.ask(db, values, client_address(request))
    except InvalidInput as exc:
        return _ask_page(request, "identify", 422, v=values, errors=errors_of(request, exc))
    except rights_online.Throttled:
        return _ask_page(request, "throttled", 429)
    return _ask_page(request, "sent")


@get("/rights/{token:str}", name="consent.public.rights_ask_link", opt=OPT, sync_to_thread=True)
def ask_link(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    return _linked(request, db, token, rights_online.ASK,
                   lambda link: links.audit_access(db, link, resource_type="consent_rights_request"),
                   lambda _: _ask_page(request, "ask", action=f"{_base(request)}/rights/{token}"))


@post("/rights/{token:str}/code", name="consent.public.rights_ask_code", opt=OPT, sync_to_thread=True,
      status_code=200)
def ask_code_send(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    return _linked(request, db, token, rights_online.ASK, lambda link: rights_online.request_code(db, link),
                   lambda _: _ask_page(request, "form", action=f"{_base(request)}/rights/{token}"))


@post("/rights/{token:str}", name="consent.public.rights_ask_file", opt=OPT, sync_to_thread=True, status_code=200)
def ask_file(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: FormData) -> Template:
    """The request lands in the register once the code is right; a wrong field costs no try."""
    action = f"{_base(request)}/rights/{token}"
    values = _values(data, ("kind", "details", "old_data"))

    def filed(row: Any) -> Template:
        if row is None:
            return _ask_page(request, "form", 400, action=action, v=values, wrong=True)
        return _ask_page(request, "done", due=row.due_at)

    return _linked(request, db, token, rights_online.ASK, lambda link: rights_online.submit(
        db, link, values, str(data.get("code") or ""), client_address(request)), filed, checks_code=True,
        invalid=lambda exc: _ask_page(request, "form", 422, action=action, v=values, errors=errors_of(request, exc)))


PUBLIC_HANDLERS = [sign_page, ask_code, do_sign, withdraw_page, do_withdraw,
                   accesses_page, accesses_code, accesses_view, rights_page, rights_code, rights_download,
                   ask_page, ask_send, ask_link, ask_code_send, ask_file, kiosk_page, kiosk_sign]
