"""Answer templates: the page that lists, creates, changes and deletes them (each member their
own; owners and the secretariat also the practice's), and the insertion of one into a reply on the
conversation page (htmx swaps the answer form; without JavaScript the whole page comes back with
the text in the box). Thin: parse, call services/templates.py, render."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from carnet_core.plugin_api import (
    FormErrors,
    Id,
    InvalidInput,
    NotFound,
    errors_of,
    flag,
    form_page,
    id_in_range,
    is_htmx,
    page,
    principal_of,
    translate,
)

from carnet_telecare import permissions as perm
from carnet_telecare.controllers.common import DB, FormData, UploadForm, field
from carnet_telecare.models import BODY_LIMIT
from carnet_telecare.services import messaging, templates

PAGE = "telecare/templates.html"


def _context(request: Request[Any, Any, Any], db: Any, **more: Any) -> dict[str, Any]:
    principal = principal_of(request)
    return {"templates": templates.listing(db, principal), "may_share": templates.may_share(principal),
            "title_limit": templates.TITLE_LIMIT, "body_limit": BODY_LIMIT, "errors": FormErrors(), "v": {},
            "editing": None, **more}


def _values(data: dict[str, Any]) -> dict[str, Any]:
    return {"title": field(data, "title", templates.TITLE_LIMIT), "body": field(data, "body", BODY_LIMIT),
            "shared": flag(data, "shared")}


@get("/templates", name="telecare.templates", opt={"permission": perm.WRITE}, sync_to_thread=True)
def templates_page(request: Request[Any, Any, Any], db: DB) -> Template:
    return page(request, PAGE, _context(request, db))


@post("/templates", name="telecare.template_create", opt={"permission": perm.WRITE}, sync_to_thread=True,
      status_code=303)
def create(request: Request[Any, Any, Any], db: DB, data: FormData) -> Redirect | Template:
    values = _values(data)
    try:
        templates.create(db, principal_of(request), title=values["title"], body=values["body"],
                         shared=values["shared"])
    except InvalidInput as exc:
        return form_page(request, PAGE, _context(request, db, v=values), errors_of(request, exc))
    return Redirect("/telecare/templates", status_code=303)


def _editing(request: Request[Any, Any, Any], db: Any, template_id: int) -> Any:
    try:
        return templates.get_for_edit(db, principal_of(request), template_id)
    except NotFound:
        raise NotFoundException() from None


@get("/templates/{template_id:int}", name="telecare.template", opt={"permission": perm.WRITE}, sync_to_thread=True)
def edit_page(request: Request[Any, Any, Any], db: DB, template_id: FromPath[Id]) -> Template:
    view = _editing(request, db, template_id)
    return page(request, PAGE, _context(request, db, editing=view, v={"title": view.title, "body": view.body}))


@post("/templates/{template_id:int}", name="telecare.template_update", opt={"permission": perm.WRITE},
      sync_to_thread=True, status_code=303)
def update(request: Request[Any, Any, Any], db: DB, template_id: FromPath[Id], data: FormData) -> Redirect | Template:
    view = _editing(request, db, template_id)
    values = _values(data)
    try:
        templates.update(db, principal_of(request), template_id, title=values["title"], body=values["body"])
    except InvalidInput as exc:
        return form_page(request, PAGE, _context(request, db, editing=view, v=values), errors_of(request, exc))
    return Redirect("/telecare/templates", status_code=303)


@post("/templates/{template_id:int}/delete", name="telecare.template_delete", opt={"permission": perm.WRITE},
      sync_to_thread=True, status_code=303)
def delete(request: Request[Any, Any, Any], db: DB, template_id: FromPath[Id]) -> Redirect:
    try:
        templates.delete(db, principal_of(request), template_id)
    except NotFound:
        raise NotFoundException() from None
    return Redirect("/telecare/templates", status_code=303)


@post("/conversations/{conversation_id:int}/reply", name="telecare.insert_template",
      opt={"permission": perm.WRITE}, sync_to_thread=True, status_code=200)
def insert(request: Request[Any, Any, Any], db: DB, conversation_id: FromPath[Id], data: UploadForm) -> Template:
    """The answer form again, the chosen template's text added to what was typed (nothing written).
    htmx gets the form alone; without JavaScript the conversation page comes back."""
    from carnet_telecare.controllers.pages import _common, _conversation_context

    principal = principal_of(request)
    try:
        conversation = messaging.get_conversation(db, principal, conversation_id)
    except NotFound:
        raise NotFoundException() from None
    draft = field(data, "body", BODY_LIMIT)
    raw = field(data, "template", 12)
    errors = FormErrors()
    text = draft
    if raw.isdigit() and id_in_range(int(raw)):
        try:
            text = templates.insert(db, principal, int(raw), draft)[:BODY_LIMIT]
        except NotFound:
            raise NotFoundException() from None
    else:
        errors["template"] = translate(request, "choose a template in the list")
    values = {"body": text, "template": raw}
    if is_htmx(request):
        context = _common(request, conversation=conversation, v=values,
                          form_action=f"/telecare/conversations/{conversation_id}/messages",
                          reply_templates=templates.choices(db, principal))
    else:
        context = _conversation_context(request, db, conversation_id, v=values)
    if errors:
        return form_page(request, "telecare/conversation.html", context, errors,
                         partial="telecare/_answer_form.html")
    return page(request, "telecare/conversation.html", context, partial="telecare/_answer_form.html")


TEMPLATE_HANDLERS = [templates_page, create, edit_page, update, delete, insert]
