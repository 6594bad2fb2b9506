"""Télésoin session pages: the practitioner plans a session from the patient's messaging page,
opens its page (waiting room state, admit, end, events, report pre-filled from them); the patient
joins through their link (/p/{clinic}/telecare/j/{token}: refused outside the session's window or
without consent, with the reason), confirms an adult is present for a minor, and waits to be
admitted. Thin handlers; rules in services/sessions.py."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from carnet_core.plugin_api import (
    PUBLIC,
    FormErrors,
    Id,
    InvalidInput,
    NotFound,
    client_address,
    clinic_hooks,
    clock,
    day,
    errors_of,
    flag,
    form_page,
    host_of,
    integer,
    is_htmx,
    keep_page,
    links,
    page,
    plugin_settings,
    principal_of,
    refusal_page,
    settings_of,
)

from carnet_telecare import permissions as perm
from carnet_telecare.controllers.common import DB, FormData, field, labels
from carnet_telecare.controllers.pages import _patient_context
from carnet_telecare.services import acts, sessions, signalling

OPT = {"permission": PUBLIC}


@post("/patients/{patient_id:int}/sessions", name="telecare.plan", opt={"permission": perm.CLINICAL},
      sync_to_thread=True, status_code=303)
def plan(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id], data: FormData) -> Redirect | Template:
    context = _patient_context(request, db, patient_id)
    errors = FormErrors()
    when, at = day(request, data, "day", errors), clock(request, data, "time", errors)
    minutes = integer(request, data, "minutes", errors, low=10, high=120)
    values = {k: field(data, k, 40) for k in ("day", "time", "minutes", "not_initial", "act")}
    if errors:
        return form_page(request, "telecare/patient.html", {**context, "s": values}, errors)
    try:
        session = sessions.plan(db, principal_of(request), host_of(request), plugin_settings(request, "telecare"),
                                patient_id, day=when, at=at, minutes=minutes,  # type: ignore[arg-type]
                                not_initial=flag(data, "not_initial"), act=values["act"])
    except NotFound:
        raise NotFoundException() from None
    except InvalidInput as exc:
        return form_page(request, "telecare/patient.html", {**context, "s": values}, errors_of(request, exc))
    return Redirect(f"/telecare/sessions/{session.id}", status_code=303)


def _session_page(request: Request[Any, Any, Any], db: Any, session_id: int, status: int = 200,
                  errors: Any = None, partial: str | None = None) -> Template:
    """The session's page (`partial` alone when htmx asks)."""
    try:
        session, events, report, name = sessions.view(db, principal_of(request), session_id)
    except NotFound:
        raise NotFoundException() from None
    context = {"session": session, "events": events, "report": report, "patient_name": name,
               "principal": principal_of(request), "perm": perm, "errors": errors or FormErrors(),
               "recording": sessions.recording_on(events),
               "recording_consented": session.status in sessions.ROOM_OPEN
               and sessions.recording_consented(host_of(request), db, session),
               "session_acts": acts.acts_of(sessions.profession_of(db, session.practitioner_id)),
               "proposals": sessions.act_proposals(clinic_hooks(request), db, session), **labels()}
    if status >= 400:
        return form_page(request, "telecare/session.html", context, errors, status_code=status, partial=partial)
    return page(request, "telecare/session.html", context, partial=partial)


@get("/sessions/{session_id:int}", name="telecare.session", opt={"permission": perm.CLINICAL}, sync_to_thread=True)
def session_page(request: Request[Any, Any, Any], db: DB, session_id: FromPath[Id]) -> Template:
    return _session_page(request, db, session_id)


def _act(request: Request[Any, Any, Any], db: Any, session_id: int, action: Any) -> Redirect | Template:
    try:
        action()
    except NotFound:
        raise NotFoundException() from None
    except InvalidInput as exc:
        return _session_page(request, db, session_id, 422, errors_of(request, exc))
    return Redirect(f"/telecare/sessions/{session_id}", status_code=303)


@post("/sessions/{session_id:int}/admit", name="telecare.admit", opt={"permission": perm.CLINICAL},
      sync_to_thread=True, status_code=303)
def admit(request: Request[Any, Any, Any], db: DB, session_id: FromPath[Id], data: FormData) -> Redirect | Template:
    return _act(request, db, session_id,
                lambda: sessions.admit(db, principal_of(request), host_of(request), session_id,
                                       settings=plugin_settings(request, "telecare"),
                                       not_initial=flag(data, "not_initial"), act=field(data, "act", 40),
                                       hooks=clinic_hooks(request)))


@post("/sessions/{session_id:int}/end", name="telecare.end", opt={"permission": perm.CLINICAL},
      sync_to_thread=True, status_code=303)
def end(request: Request[Any, Any, Any], db: DB, session_id: FromPath[Id]) -> Redirect | Template:
    return _act(request, db, session_id,
                lambda: sessions.end(db, principal_of(request), session_id, hooks=clinic_hooks(request)))


@post("/sessions/{session_id:int}/report", name="telecare.report", opt={"permission": perm.CLINICAL},
      sync_to_thread=True, status_code=303)
def report(request: Request[Any, Any, Any], db: DB, session_id: FromPath[Id], data: FormData) -> Redirect | Template:
    text = field(data, "report", sessions.REPORT_LIMIT)
    return _act(request, db, session_id, lambda: sessions.write_report(db, principal_of(request), session_id, text))


PANEL = "telecare/_recording.html"


@post("/sessions/{session_id:int}/recording", name="telecare.recording", opt={"permission": perm.CLINICAL},
      sync_to_thread=True, status_code=200)
def recording(request: Request[Any, Any, Any], db: DB, session_id: FromPath[Id],
              data: FormData) -> Redirect | Template:
    """Start ("recording=on") or stop the recording the practitioner's browser makes on their device:
    asks the patient's consent now, refuses in French and writes nothing otherwise. htmx gets the
    recording panel (room.js then starts or stops the browser's recorder); once committed, both
    video sockets are told (the patient's page shows it)."""
    on = field(data, "recording", 3) == "on"
    try:
        session, now = sessions.set_recording(db, principal_of(request), host_of(request), session_id, on)
    except NotFound:
        raise NotFoundException() from None
    except InvalidInput as exc:  # the panel with the reason, the video stays up (htmx)
        return _session_page(request, db, session_id, 422, errors_of(request, exc), partial=PANEL)
    if not is_htmx(request):
        response: Redirect | Template = Redirect(f"/telecare/sessions/{session_id}", status_code=303)
    else:
        response = _session_page(request, db, session_id, partial=PANEL)
    response.background = BackgroundTask(signalling.hub_of(request.app).recording, (session.clinic_id, session_id), now)
    return response


# --- the patient's side ---------------------------------------------------------------------------


def _join_base(request: Request[Any, Any, Any], token: str) -> str:
    return f"/p/{request.scope['state']['public_clinic'].slug}/telecare/j/{token}"


def _join_page(request: Request[Any, Any, Any], token: str, status: int = 200, **context: Any) -> Template:
    base = _join_base(request, token)
    return keep_page(request, "telecare/public_session.html",
                     {"action": base, "signal": f"{base}/signal", "clinic_name":
                      request.scope["state"]["public_clinic"].name, "errors": {}, **labels(), **context}, status)


@get("/j/{token:str}", name="telecare.public.session", opt=OPT, sync_to_thread=True)
def join_page(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    try:
        link = links.open_link(db, token, sessions.JOIN, client_address(request))
        try:
            session = sessions.open_for_patient(db, link, host_of(request))
        except InvalidInput as exc:
            return _join_page(request, token, 403, refused=errors_of(request, exc))
        links.audit_access(db, link, action="open", resource_type="telecare_session")
        return _join_page(request, token, session=session, adult=sessions.needs_adult(db, session))
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except NotFound:
        return refusal_page(request, links.LinkRefused(links.UNKNOWN))


@post("/j/{token:str}", name="telecare.public.join", opt=OPT, sync_to_thread=True, status_code=200)
def join(request: Request[Any, Any, Any], db: DB, token: FromPath[str], data: FormData) -> Template:
    try:
        link = links.open_link(db, token, sessions.JOIN, client_address(request))
        try:
            session, seat = sessions.join(db, link, host_of(request), flag(data, "adult_present"),
                                          request.cookies.get(signalling.SEAT_COOKIE))
        except InvalidInput as exc:
            errors = errors_of(request, exc)
            session = sessions.for_link(db, link)
            return _join_page(request, token, 422 if "adult_present" in errors else 403, session=session,
                              adult=sessions.needs_adult(db, session), errors=errors,
                              refused=None if "adult_present" in errors else errors)
        response = _join_page(request, token, session=session, joined=True)
        if seat is not None:  # for this browser's video socket only (path-scoped, not readable by scripts)
            response.set_cookie(signalling.SEAT_COOKIE, seat, path=_join_base(request, token), httponly=True,
                                secure=settings_of(request).secure_cookies, samesite="strict",
                                max_age=int((session.ends_at - session.starts_at).total_seconds()) + 3600)
        return response
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except NotFound:
        return refusal_page(request, links.LinkRefused(links.UNKNOWN))


SESSION_HANDLERS = [plan, session_page, admit, end, report, recording]
PUBLIC_SESSION_HANDLERS = [join_page, join]
