"""Answer templates: the frequent answers a member of the practice inserts into a reply instead of
typing them again. A template is a practitioner's own, or the clinic's (shared: kept by owners and
the secretariat, offered to everyone). Title and text are sealed with the clinic's key: a usual
answer names care ("the swallowing exercises") even when it names no patient. Who may see a
template may insert it; who wrote it (or, for a shared one, an owner or a secretary) may change or
delete it; anyone else gets NotFound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, or_, select

from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    FieldError,
    InvalidInput,
    NotFound,
    open_or_unreadable,
    readable,
    record,
    seal,
    utcnow,
)

from carnet_telecare.models import BODY_LIMIT, Template
from carnet_telecare.services.messaging import clean_text

TITLE_LIMIT = 80
PER_PERSON = 100  # templates one person (or the clinic) keeps: a list to choose from, not an archive
TOO_MANY = N_("%(limit)s templates at most: delete one you no longer use")


@dataclass
class TemplateView:
    template: Template
    title: Any  # str, or core's Unreadable marker
    body: Any
    editable: bool

    @property
    def shared(self) -> bool:
        return self.template.user_id is None


def may_share(principal: Any) -> bool:
    """The clinic's templates are kept by owners and the secretariat."""
    return bool({"owner", "secretary"} & set(principal.roles))


def _may_edit(principal: Any, template: Template) -> bool:
    if template.user_id is None:
        return may_share(principal)
    return template.user_id == principal.user_id


def _visible(principal: Any) -> Any:
    return select(Template).where(or_(col(Template.user_id).is_(None), Template.user_id == principal.user_id))


def listing(db: CarnetSession, principal: Any) -> list[TemplateView]:
    """The person's own templates, then the clinic's, each by title."""
    rows = list(db.exec(_visible(principal).order_by(col(Template.id))))
    views = [TemplateView(t, open_or_unreadable(db, t, "title"), open_or_unreadable(db, t, "body"),
                          _may_edit(principal, t)) for t in rows]
    views.sort(key=lambda v: (v.shared, str(readable(v.title) or "").casefold()))
    return views


def choices(db: CarnetSession, principal: Any) -> list[tuple[int, Any, bool]]:
    """(id, title, shared) of the templates this person may insert: only titles are opened."""
    rows = list(db.exec(_visible(principal).order_by(col(Template.id))))
    found = [(t.id or 0, open_or_unreadable(db, t, "title"), t.user_id is None) for t in rows]
    return sorted(found, key=lambda c: (c[2], str(readable(c[1]) or "").casefold()))


def _get(db: CarnetSession, principal: Any, template_id: int) -> Template:
    found = db.exec(_visible(principal).where(Template.id == template_id)).first()
    if found is None:
        raise NotFound("telecare template")
    return found


def get_for_edit(db: CarnetSession, principal: Any, template_id: int) -> TemplateView:
    found = _get(db, principal, template_id)
    if not _may_edit(principal, found):
        raise NotFound("telecare template")
    return TemplateView(found, open_or_unreadable(db, found, "title"), open_or_unreadable(db, found, "body"), True)


def _checked(title: str, body: str) -> tuple[str, str]:
    errors: dict[str, FieldError] = {}
    values = []
    for name, value, limit in (("title", title, TITLE_LIMIT), ("body", body, BODY_LIMIT)):
        try:
            values.append(clean_text(value, name, limit))
        except InvalidInput as exc:
            errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    return values[0], values[1]


def create(db: CarnetSession, principal: Any, *, title: str, body: str, shared: bool = False) -> Template:
    clean_title, clean_body = _checked(title, body)
    if shared and not may_share(principal):
        raise InvalidInput({"shared": FieldError("shared", N_("only owners and the secretariat keep the "
                                                              "practice's templates"))})
    owner = None if shared else principal.user_id
    count = len(db.exec(select(Template.id).where(Template.user_id == owner if owner is not None
                                                  else col(Template.user_id).is_(None))).all())
    if count >= PER_PERSON:
        raise InvalidInput({"title": FieldError("too_many", TOO_MANY, limit=PER_PERSON)})
    template = Template(user_id=owner)
    db.add(template)
    seal(db, template, "title", clean_title)
    seal(db, template, "body", clean_body)
    db.flush()
    record(db, action="create", resource_type="telecare_template", resource_id=template.id,
           details={"shared": shared})
    return template


def update(db: CarnetSession, principal: Any, template_id: int, *, title: str, body: str) -> Template:
    template = get_for_edit(db, principal, template_id).template
    clean_title, clean_body = _checked(title, body)
    seal(db, template, "title", clean_title)
    seal(db, template, "body", clean_body)
    template.updated_at = utcnow()
    db.add(template)
    db.flush()
    record(db, action="update", resource_type="telecare_template", resource_id=template.id)
    return template


def delete(db: CarnetSession, principal: Any, template_id: int) -> None:
    template = get_for_edit(db, principal, template_id).template
    db.delete(template)
    db.flush()
    record(db, action="delete", resource_type="telecare_template", resource_id=template_id)


def insert(db: CarnetSession, principal: Any, template_id: int, draft: str) -> str:
    """The reply being written with the template's text added after it (NotFound for a template
    this person does not see); nothing is written."""
    text = readable(open_or_unreadable(db, _get(db, principal, template_id), "body")) or ""
    draft = (draft or "").rstrip()
    return f"{draft}\n\n{text}" if draft else text
