"""Telecare's JSON API (in the OpenAPI document): the inbox and a conversation, under the same
rules as the pages (a secretary sees administrative conversations only; reading is audited and
marks the patient's messages read)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from pydantic import BaseModel, Field

from carnet_core.plugin_api import Id, NotFound, principal_of, readable

from carnet_telecare import permissions as perm
from carnet_telecare.controllers.common import DB
from carnet_telecare.services import messaging


class ConversationOut(BaseModel):
    id: int
    patient_id: int
    kind: str = Field(description="clinical or administrative")
    status: str = Field(description="open or closed")
    last_message_at: str
    awaiting_since: str | None = Field(description="oldest patient message not answered yet (UTC)")
    unanswered: int


class AttachmentOut(BaseModel):
    id: int
    filename: str | None
    media_type: str
    size: int
    scan: str


class MessageOut(BaseModel):
    id: int
    author: str = Field(description="staff or patient")
    created_at: str
    read_at: str | None = Field(description="when the other side first opened it")
    body: str | None = Field(description="None when the stored value is damaged")
    attachments: list[AttachmentOut]


class ThreadOut(BaseModel):
    conversation: ConversationOut
    subject: str | None
    messages: list[MessageOut]


def _conv(c: Any, unanswered: int = 0) -> ConversationOut:
    return ConversationOut(id=c.id, patient_id=c.patient_id, kind=c.kind, status=c.status,
                           last_message_at=c.last_message_at.isoformat(),
                           awaiting_since=c.awaiting_since.isoformat() if c.awaiting_since else None,
                           unanswered=unanswered)


@get("/conversations", opt={"permission": perm.VIEW}, sync_to_thread=True, tags=["telecare"])
def api_inbox(request: Request[Any, Any, Any], db: DB) -> list[ConversationOut]:
    """Open conversations this member may open, waiting ones first (no content)."""
    return [_conv(r.conversation, r.unanswered) for r in messaging.inbox(db, principal_of(request))]


@get("/conversations/{conversation_id:int}", opt={"permission": perm.VIEW}, sync_to_thread=True,
     tags=["telecare"])
def api_conversation(request: Request[Any, Any, Any], db: DB, conversation_id: FromPath[Id]) -> ThreadOut:
    """A conversation and its messages (audited; the patient's messages are marked read)."""
    try:
        conversation, views, _name = messaging.read(db, principal_of(request), conversation_id)
    except NotFound:
        raise NotFoundException() from None
    messages = [MessageOut(
        id=v.message.id, author=v.message.author, created_at=v.message.created_at.isoformat(),
        read_at=v.message.read_at.isoformat() if v.message.read_at else None, body=readable(v.body),
        attachments=[AttachmentOut(id=a.id, filename=readable(n), media_type=a.media_type, size=a.size, scan=a.scan)
                     for a, n in v.files]) for v in views]
    return ThreadOut(conversation=_conv(conversation), subject=readable(messaging.subject_of(db, conversation)),
                     messages=messages)


API_HANDLERS = [api_inbox, api_conversation]
