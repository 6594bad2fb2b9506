"""Staff pages (French first, no JavaScript needed): the inbox (waiting conversations first, with
their unanswered counts and ages), a patient's conversations with the form to start one, a
conversation with the answer form, attachments as downloads. Thin: parse, call a service, render;
a refused form comes back as the same page (422, nothing written)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from carnet_core.plugin_api import (
    FormErrors,
    Id,
    InvalidInput,
    NotFound,
    PatientErased,
    PatientNotFound,
    errors_of,
    form_page,
    host_of,
    page,
    patient_access,
    plugin_settings,
    principal_of,
)

from carnet_telecare import permissions as perm
from carnet_telecare.controllers.common import DB, UploadForm, download, field, labels, upload_of
from carnet_telecare.models import BODY_LIMIT, SUBJECT_LIMIT
from carnet_telecare.services import messaging


def _settings(request: Request[Any, Any, Any]) -> Any:
    return plugin_settings(request, "telecare")


def _common(request: Request[Any, Any, Any], **context: Any) -> dict[str, Any]:
    return {"principal": principal_of(request), "perm": perm, "errors": FormErrors(), "v": {}, **labels(),
            "subject_limit": SUBJECT_LIMIT, "body_limit": BODY_LIMIT,
            "max_mb": _settings(request).attachment_max_bytes // (1024 * 1024), **context}


@get("/", name="telecare.inbox", opt={"permission": perm.VIEW}, sync_to_thread=True)
def inbox(request: Request[Any, Any, Any], db: DB) -> Template:
    rows = messaging.inbox(db, principal_of(request))
    return page(request, "telecare/inbox.html", _common(request, rows=rows, waiting=messaging.waiting_since_text))


def _patient_context(request: Request[Any, Any, Any], db: Any, patient_id: int, **more: Any) -> dict[str, Any]:
    principal = principal_of(request)
    patients = patient_access(db, principal)
    try:
        patients.get(patient_id)
    except (PatientNotFound, PatientErased):
        raise NotFoundException() from None
    name = patients.names({patient_id}).get(patient_id, "")
    contact = patients.contact(patient_id) if principal.can(perm.WRITE) else None
    reach = messaging.notice_channel(host_of(request), db, contact, patient_id) if contact is not None else None
    conversations = messaging.conversations_of(db, principal, patient_id)
    from carnet_telecare.services.acts import acts_of
    from carnet_telecare.services.sessions import profession_of, sessions_of

    planned = sessions_of(db, patient_id) if principal.can(perm.CLINICAL) else []
    return _common(request, patient_id=patient_id, patient_name=name, conversations=conversations,
                   subjects={c.id: messaging.subject_of(db, c) for c in conversations}, sessions=planned, s={},
                   unreachable=principal.can(perm.WRITE) and reach is None,
                   call_phone=(contact.phone if contact is not None else "") or "",
                   session_acts=acts_of(profession_of(db, principal.user_id)), **more)


@get("/patients/{patient_id:int}", name="telecare.patient", opt={"permission": perm.VIEW}, sync_to_thread=True)
def patient_page(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id]) -> Template:
    return page(request, "telecare/patient.html", _patient_context(request, db, patient_id))


@post("/patients/{patient_id:int}/conversations", name="telecare.start", opt={"permission": perm.WRITE},
      sync_to_thread=True, status_code=303)
def start(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id], data: UploadForm) -> Redirect | Template:
    context = _patient_context(request, db, patient_id)
    values = {"kind": field(data, "kind", 16), "subject": field(data, "subject", SUBJECT_LIMIT),
              "body": field(data, "body", BODY_LIMIT)}
    try:
        upload = upload_of(data, _settings(request).attachment_max_bytes)
        conversation = messaging.start(db, principal_of(request), host_of(request), _settings(request), patient_id,
                                       kind=values["kind"], subject=values["subject"], body=values["body"],
                                       upload=upload)
    except NotFound:
        raise NotFoundException() from None
    except InvalidInput as exc:
        return form_page(request, "telecare/patient.html", {**context, "v": values}, errors_of(request, exc))
    return Redirect(f"/telecare/conversations/{conversation.id}", status_code=303)


def _conversation_context(request: Request[Any, Any, Any], db: Any, conversation_id: int,
                          **more: Any) -> dict[str, Any]:
    try:
        conversation, views, name = messaging.read(db, principal_of(request), conversation_id)
    except NotFound:
        raise NotFoundException() from None
    from carnet_telecare.services.templates import choices

    return _common(request, conversation=conversation, views=views, patient_name=name,
                   subject=messaging.subject_of(db, conversation),
                   form_action=f"/telecare/conversations/{conversation.id}/messages",
                   reply_templates=choices(db, principal_of(request)), **more)


@get("/conversations/{conversation_id:int}", name="telecare.conversation", opt={"permission": perm.VIEW},
     sync_to_thread=True)
def conversation_page(request: Request[Any, Any, Any], db: DB, conversation_id: FromPath[Id]) -> Template:
    return page(request, "telecare/conversation.html", _conversation_context(request, db, conversation_id))


@post("/conversations/{conversation_id:int}/messages", name="telecare.answer", opt={"permission": perm.WRITE},
      sync_to_thread=True, status_code=303)
def answer(request: Request[Any, Any, Any], db: DB, conversation_id: FromPath[Id],
           data: UploadForm) -> Redirect | Template:
    values = {"body": field(data, "body", BODY_LIMIT)}
    try:
        messaging.get_conversation(db, principal_of(request), conversation_id)
        upload = upload_of(data, _settings(request).attachment_max_bytes)
        messaging.answer(db, principal_of(request), host_of(request), _settings(request), conversation_id,
                         values["body"], upload)
    except NotFound:
        raise NotFoundException() from None
    except InvalidInput as exc:
        return form_page(request, "telecare/conversation.html",
                         _conversation_context(request, db, conversation_id, v=values), errors_of(request, exc))
    return Redirect(f"/telecare/conversations/{conversation_id}", status_code=303)


@post("/conversations/{conversation_id:int}/close", name="telecare.close", opt={"permission": perm.WRITE},
      sync_to_thread=True, status_code=303)
def close(request: Request[Any, Any, Any], db: DB, conversation_id: FromPath[Id]) -> Redirect:
    try:
        messaging.close(db, principal_of(request), conversation_id)
    except NotFound:
        raise NotFoundException() from None
    return Redirect(f"/telecare/conversations/{conversation_id}", status_code=303)


@get("/conversations/{conversation_id:int}/files/{attachment_id:int}", name="telecare.file",
     opt={"permission": perm.VIEW}, sync_to_thread=True)
def attachment(request: Request[Any, Any, Any], db: DB, conversation_id: FromPath[Id],
               attachment_id: FromPath[Id]) -> Response[bytes]:
    try:
        item, name, content = messaging.attachment_for_staff(db, principal_of(request), conversation_id,
                                                             attachment_id)
    except NotFound:
        raise NotFoundException() from None
    return download(item.media_type, name, content)


PAGE_HANDLERS = [inbox, patient_page, start, conversation_page, answer, close, attachment]
