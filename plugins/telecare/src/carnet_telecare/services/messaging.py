"""Conversations between the practice and a patient (or their parents), both sides.

Staff start a conversation with a patient in care who consented to remote care, answer it and
close it; the patient answers through the link of the notification (no account: a signed,
expiring link and a one-time code sent to the same address), within per-hour and per-day limits,
never into a closed conversation. Subjects, bodies and attachments are sealed with the patient's
key; every opening is traced by core and every read and write recorded here. Notifications say
only that a message is waiting (jobs.py)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    FieldError,
    InvalidInput,
    NotFound,
    PatientErased,
    PatientForbidden,
    PatientNotFound,
    enqueue,
    links,
    open_or_unreadable,
    patient_access,
    purpose_allowed,
    readable,
    record,
    seal,
    sms_transport,
    text_problem,
    utcnow,
)

from carnet_telecare import permissions as perm
from carnet_telecare.models import (
    BODY_LIMIT,
    KINDS,
    SUBJECT_LIMIT,
    Access,
    Attachment,
    Conversation,
    Message,
)
from carnet_telecare.services import antivirus, attachments, rules

CONVERSATION = "telecare.conversation"  # link purpose: read and answer one conversation
LINK_USES = 500
NOTIFY_ACTOR = "telecare.notify"
CODE_ACTOR = "telecare.send_code"

CLOSED = N_("this conversation is closed: the practice will write to you if needed, or call the practice")
PER_HOUR = N_("you have sent %(count)s messages in the last hour: wait a little before writing again")
PER_DAY = N_("you have sent %(count)s messages today: the practice will answer; write again tomorrow if needed")


class NotVerified(Exception):
    """The link's code has not been checked recently: ask for a code first."""


@dataclass
class Upload:
    name: str
    data: bytes


@dataclass
class MessageView:
    message: Message
    body: Any  # str, or core's Unreadable marker
    files: list[tuple[Attachment, Any]] = field(default_factory=list)


@dataclass
class InboxRow:
    conversation: Conversation
    name: str
    unanswered: int
    waiting: timedelta | None


def notice_channel(host: Any, db: CarnetSession, contact: Any, patient_id: int) -> tuple[str, str] | None:
    """How Carnet can tell the patient (or the parent whose contact core holds) that something
    waits: ("email", address) when there is an address; else ("sms", number), only when an SMS
    can leave (an SMS provider module is installed: core's `sms_transport`, the rule behind every
    page's `sms_ready`) and the patient has not refused or withdrawn SMS (consent's
    "sms_reminders", asked now). None when neither: the jobs send nothing, and the patient's page
    tells staff to call."""
    if contact is None:
        return None
    if contact.email:
        return "email", contact.email
    if (contact.phone and sms_transport(host) is not None
            and purpose_allowed(host, db, patient_id, "sms_reminders")):
        return "sms", contact.phone
    return None


def _refuse(name: str, code: str, message: str, **params: Any) -> InvalidInput:
    return InvalidInput({name: FieldError(code, message, **params)})


def clean_text(value: str, name: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise _refuse(name, "required", N_("write something"))
    if len(text) > limit:
        raise _refuse(name, "too_long", N_("%(limit)s characters at most"), limit=limit)
    problem = text_problem(text)
    if problem is not None:
        raise _refuse(name, problem.code, problem.message)
    return text


def _clean(body: str, upload: Upload | None, limit: int, clamd: str = "") -> tuple[str, attachments.Checked | None]:
    errors: dict[str, FieldError] = {}
    text, checked = "", None
    try:
        text = clean_text(body, "body", BODY_LIMIT)
    except InvalidInput as exc:
        errors.update(exc.errors)
    if upload is not None and (upload.name or upload.data):
        try:
            checked = attachments.check(upload.name, upload.data, limit)
            checked = replace(checked, scan=antivirus.scan(clamd, checked.data))
        except InvalidInput as exc:
            errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    return text, checked


# --- staff side ---------------------------------------------------------------------------------


def _may_open(db: CarnetSession, principal: Any, conversation: Conversation) -> None:
    """NotFound unless the principal sees the patient and, for a clinical conversation, may read
    clinical content (a secretary never learns what a clinical conversation says)."""
    patients = patient_access(db, principal)
    try:
        patients.get(conversation.patient_id)
        if conversation.kind == "clinical":
            if not principal.can(perm.CLINICAL):
                raise NotFound("telecare conversation")
            patients.require_clinical(conversation.patient_id)
    except (PatientNotFound, PatientErased, PatientForbidden):
        raise NotFound("telecare conversation") from None


def get_conversation(db: CarnetSession, principal: Any, conversation_id: int) -> Conversation:
    found = db.exec(select(Conversation).where(Conversation.id == conversation_id)).first()
    if found is None:
        raise NotFound("telecare conversation")
    _may_open(db, principal, found)
    return found


def _store(db: CarnetSession, conversation: Conversation, author: str, text: str,
           checked: attachments.Checked | None, user_id: int | None = None, link_id: int | None = None) -> Message:
    message = Message(conversation_id=conversation.id, patient_id=conversation.patient_id, author=author,
                      author_user_id=user_id, link_id=link_id)
    db.add(message)
    seal(db, message, "body", text)
    db.flush()
    if checked is not None:
        item = Attachment(message_id=message.id, patient_id=conversation.patient_id, media_type=checked.media_type,
                          size=len(checked.data), scan=checked.scan)
        db.add(item)
        seal(db, item, "filename", checked.filename)
        seal(db, item, "content", base64.b64encode(checked.data).decode("ascii"))
        db.flush()
    conversation.last_message_at = message.created_at
    db.add(conversation)
    db.flush()
    return message


def start(db: CarnetSession, principal: Any, host: Any, settings: Any, patient_id: int, *, kind: str,
          subject: str, body: str, upload: Upload | None = None) -> Conversation:
    """Open a conversation with a patient in care who consented to remote care; notify them."""
    errors: dict[str, FieldError] = {}
    if kind not in KINDS:
        errors["kind"] = FieldError("choice", N_("choose clinical or administrative"))
    elif kind == "clinical" and not principal.can(perm.CLINICAL):
        errors["kind"] = FieldError("clinical", N_("only practitioners write clinical messages"))
    patients = patient_access(db, principal)
    try:
        patients.get(patient_id)
        if kind == "clinical" and "kind" not in errors:
            patients.require_clinical(patient_id)
    except (PatientNotFound, PatientErased, PatientForbidden):
        raise NotFound("patient") from None
    clean_subject = ""
    try:
        clean_subject = clean_text(subject, "subject", SUBJECT_LIMIT)
    except InvalidInput as exc:
        errors.update(exc.errors)
    try:
        text, checked = clean_message(body, upload, settings)
    except InvalidInput as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    rules.require_in_care(host, db, patient_id, settings.care_months)
    rules.require_consent(host, db, patient_id)
    user_id = getattr(principal, "user_id", None)
    conversation, message = open_conversation(db, patient_id, kind, clean_subject, text, checked, user_id,
                                              user_id if principal.can(perm.CLINICAL) else None)
    enqueue(db, NOTIFY_ACTOR, message.id)
    record(db, action="create", resource_type="telecare_conversation", resource_id=conversation.id,
           patient_id=patient_id, details={"kind": kind, "message": message.id, "attachment": checked is not None})
    return conversation


def open_conversation(db: CarnetSession, patient_id: int, kind: str, subject: str, text: str,
                      checked: attachments.Checked | None, user_id: int | None,
                      practitioner_id: int | None) -> tuple[Conversation, Message]:
    """Write a conversation and its first message (checked input only: `start` checks the rules)."""
    conversation = Conversation(patient_id=patient_id, kind=kind, created_by=user_id, practitioner_id=practitioner_id)
    db.add(conversation)
    seal(db, conversation, "subject", subject)
    db.flush()
    return conversation, _store(db, conversation, "staff", text, checked, user_id=user_id)


def store_patient_message(db: CarnetSession, conversation: Conversation, text: str,
                          checked: attachments.Checked | None, link_id: int | None) -> Message:
    message = _store(db, conversation, "patient", text, checked, link_id=link_id)
    if conversation.awaiting_since is None:
        conversation.awaiting_since = message.created_at
        db.add(conversation)
        db.flush()
    return message


def answer(db: CarnetSession, principal: Any, host: Any, settings: Any, conversation_id: int, body: str,
           upload: Upload | None = None) -> Message:
    """Staff answer: the patient is notified; the conversation no longer waits for the practice."""
    conversation = get_conversation(db, principal, conversation_id)
    if conversation.status != "open":
        raise _refuse("body", "closed", N_("this conversation is closed"))
    text, checked = clean_message(body, upload, settings)
    rules.require_consent(host, db, conversation.patient_id)
    message = _store(db, conversation, "staff", text, checked, user_id=getattr(principal, "user_id", None))
    conversation.awaiting_since = None
    db.add(conversation)
    db.flush()
    enqueue(db, NOTIFY_ACTOR, message.id)
    record(db, action="write", resource_type="telecare_message", resource_id=message.id,
           patient_id=conversation.patient_id, details={"conversation": conversation.id,
                                                        "attachment": checked is not None})
    return message


def close(db: CarnetSession, principal: Any, conversation_id: int) -> Conversation:
    """Close: the patient can no longer answer (their links stop working for it)."""
    conversation = get_conversation(db, principal, conversation_id)
    if conversation.status == "closed":
        return conversation
    conversation.status = "closed"
    conversation.closed_at = utcnow()
    conversation.awaiting_since = None
    db.add(conversation)
    links.revoke(db, ("telecare_conversation", conversation.id), purpose=CONVERSATION)  # type: ignore[arg-type]
    db.flush()
    record(db, action="close", resource_type="telecare_conversation", resource_id=conversation.id,
           patient_id=conversation.patient_id)
    return conversation


def _messages(db: CarnetSession, conversation: Conversation) -> list[MessageView]:
    rows = list(db.exec(select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)))
    files: dict[int, list[Attachment]] = {}
    if rows:
        for item in db.exec(select(Attachment).where(col(Attachment.message_id).in_([m.id for m in rows]))
                            .order_by(Attachment.id)):
            files.setdefault(item.message_id, []).append(item)
    return [MessageView(m, open_or_unreadable(db, m, "body"),
                        [(a, open_or_unreadable(db, a, "filename")) for a in files.get(m.id or 0, [])]) for m in rows]


def _mark_read(db: CarnetSession, conversation: Conversation, author: str) -> int:
    t = Message.__table__.c  # type: ignore[attr-defined]
    result = db.execute(sa.update(Message.__table__).where(
        t.conversation_id == conversation.id, t.clinic_id == conversation.clinic_id, t.author == author,
        t.read_at.is_(None)).values(read_at=utcnow()))
    return int(result.rowcount or 0)


def read(db: CarnetSession, principal: Any, conversation_id: int) -> tuple[Conversation, list[MessageView], str]:
    """A conversation opened by staff: its messages, the patient's marked read (receipts), audited."""
    conversation = get_conversation(db, principal, conversation_id)
    views = _messages(db, conversation)
    newly = _mark_read(db, conversation, "patient")
    name = patient_access(db, principal).names({conversation.patient_id}).get(conversation.patient_id, "")
    record(db, action="read", resource_type="telecare_conversation", resource_id=conversation.id,
           patient_id=conversation.patient_id, details={"messages": len(views), "newly_read": newly})
    return conversation, views, name


def subject_of(db: CarnetSession, conversation: Conversation) -> Any:
    return open_or_unreadable(db, conversation, "subject")


def inbox(db: CarnetSession, principal: Any, include_closed: bool = False) -> list[InboxRow]:
    """The conversations this principal may open, those waiting for the practice first (oldest
    wait first), with the count of unanswered patient messages and how long they have waited.
    No subject or body is opened here."""
    stmt = select(Conversation)
    if not include_closed:
        stmt = stmt.where(Conversation.status == "open")
    if not principal.can(perm.CLINICAL):
        stmt = stmt.where(Conversation.kind == "administrative")
    rows = list(db.exec(stmt.order_by(col(Conversation.last_message_at).desc()).limit(500)))
    names = patient_access(db, principal).names({c.patient_id for c in rows})
    rows = [c for c in rows if c.patient_id in names]
    waiting_ids = [c.id for c in rows if c.awaiting_since is not None]
    counts: dict[int, int] = {}
    if waiting_ids:
        by_conv = {c.id: c.awaiting_since for c in rows if c.awaiting_since is not None}
        for conv_id, created in db.exec(select(Message.conversation_id, Message.created_at).where(
                col(Message.conversation_id).in_(waiting_ids), Message.author == "patient")):
            if created >= by_conv[conv_id]:
                counts[conv_id] = counts.get(conv_id, 0) + 1
    now = utcnow()
    result = [InboxRow(c, names[c.patient_id], counts.get(c.id or 0, 0),
                       now - c.awaiting_since if c.awaiting_since else None) for c in rows]
    result.sort(key=lambda r: (r.waiting is None, -(r.waiting or timedelta()).total_seconds()))
    return result


def conversations_of(db: CarnetSession, principal: Any, patient_id: int) -> list[Conversation]:
    """A patient's conversations this principal may open (None opened: subjects come separately)."""
    stmt = select(Conversation).where(Conversation.patient_id == patient_id)
    if not principal.can(perm.CLINICAL):
        stmt = stmt.where(Conversation.kind == "administrative")
    return list(db.exec(stmt.order_by(col(Conversation.id).desc())))


def attachment_for_staff(db: CarnetSession, principal: Any, conversation_id: int,
                         attachment_id: int) -> tuple[Attachment, str, bytes]:
    conversation = get_conversation(db, principal, conversation_id)
    return _attachment(db, conversation, attachment_id, actor=None)


def _attachment(db: CarnetSession, conversation: Conversation, attachment_id: int,
                actor: str | None) -> tuple[Attachment, str, bytes]:
    item = db.exec(select(Attachment).join(Message, col(Message.id) == col(Attachment.message_id)).where(
        Attachment.id == attachment_id, Message.conversation_id == conversation.id)).first()
    if item is None:
        raise NotFound("telecare attachment")
    name = readable(open_or_unreadable(db, item, "filename")) or "document"
    content = readable(open_or_unreadable(db, item, "content"))
    if content is None:
        raise NotFound("telecare attachment")
    record(db, action="download", resource_type="telecare_attachment", resource_id=item.id,
           patient_id=item.patient_id, details={"conversation": conversation.id}, actor=actor)
    return item, name, base64.b64decode(content)


# --- the patient's side, through their link ------------------------------------------------------


def conversation_for_link(db: CarnetSession, link: Any) -> Conversation:
    found = db.exec(select(Conversation).where(Conversation.id == link.subject_id)).first()
    if found is None or link.subject_type != "telecare_conversation":
        raise NotFound("telecare conversation")
    return found


def access_for_link(db: CarnetSession, link: Any) -> Access:
    found = db.exec(select(Access).where(Access.link_id == link.id)).first()
    if found is None:
        raise NotFound("telecare access")
    return found


def verified(link: Any, minutes: int) -> bool:
    at = link.code_verified_at
    return at is not None and utcnow() - at <= timedelta(minutes=minutes)


def require_verified(link: Any, settings: Any) -> None:
    if not verified(link, settings.code_minutes):
        raise NotVerified()


def request_code(db: CarnetSession, link: Any) -> None:
    """Have a fresh code sent to the address the link went to (same channel)."""
    if link.codes_sent >= links.MAX_CODES_SENT:
        raise links.LinkRefused(links.THROTTLED, link)
    access = access_for_link(db, link)
    links.audit_access(db, link, action="request_code", resource_type="telecare_conversation")
    enqueue(db, CODE_ACTOR, access.id, link.codes_sent + 1)


def verify(db: CarnetSession, link: Any, code: str, address: str | None) -> bool:
    return links.verify_code(db, link, code, address)


def patient_read(db: CarnetSession, link: Any, settings: Any) -> tuple[Conversation, list[MessageView]]:
    """The conversation as the patient sees it (after their code): the practice's messages are
    marked read; the reading is audited under the patient link."""
    require_verified(link, settings)
    conversation = conversation_for_link(db, link)
    views = _messages(db, conversation)
    newly = _mark_read(db, conversation, "staff")
    links.audit_access(db, link, action="read", resource_type="telecare_conversation",
                       details={"messages": len(views), "newly_read": newly})
    return conversation, views


def require_under_day_limit(db: CarnetSession, patient_id: int, settings: Any, now: Any = None) -> None:
    """A patient sends at most `patient_messages_per_day` messages in 24 hours, every conversation."""
    now = now or utcnow()
    day = int(db.exec(select(sa.func.count()).select_from(Message).where(
        Message.patient_id == patient_id, Message.author == "patient",
        Message.created_at >= now - timedelta(days=1))).one())
    if day >= settings.patient_messages_per_day:
        raise _refuse("body", "rate", PER_DAY, count=day)


def clean_message(body: str, upload: Upload | None, settings: Any) -> tuple[str, attachments.Checked | None]:
    """A message's text and attachment as the settings accept them (InvalidInput otherwise)."""
    return _clean(body, upload, settings.attachment_max_bytes, settings.clamd_socket)


def patient_answer(db: CarnetSession, link: Any, host: Any, settings: Any, body: str,
                   upload: Upload | None = None, hooks: Any = None) -> Message:
    """The patient's answer: refused in a closed conversation, past the hourly or daily limit, or
    without consent to remote care; nothing written then."""
    require_verified(link, settings)
    conversation = conversation_for_link(db, link)
    if conversation.status != "open":
        raise _refuse("body", "closed", CLOSED)
    now = utcnow()
    hour = int(db.exec(select(sa.func.count()).select_from(Message).where(
        Message.conversation_id == conversation.id, Message.author == "patient",
        Message.created_at >= now - timedelta(hours=1))).one())
    if hour >= settings.patient_messages_per_hour:
        raise _refuse("body", "rate", PER_HOUR, count=hour)
    require_under_day_limit(db, conversation.patient_id, settings, now)
    text, checked = clean_message(body, upload, settings)
    rules.require_consent(host, db, conversation.patient_id)
    from carnet_telecare.services.hours import auto_reply, require_under_cap

    require_under_cap(db, conversation.practitioner_id, conversation.clinic_id, now)
    message = store_patient_message(db, conversation, text, checked, link.id)
    auto_reply(db, conversation)
    links.use(db, link, action="write", resource_type="telecare_message",
              details={"message": message.id, "attachment": checked is not None})
    rules.announce(hooks, "telecare_message_received", message=message, conversation=conversation, db=db)
    return message


def attachment_for_link(db: CarnetSession, link: Any, settings: Any,
                        attachment_id: int) -> tuple[Attachment, str, bytes]:
    require_verified(link, settings)
    conversation = conversation_for_link(db, link)
    return _attachment(db, conversation, attachment_id, actor=f"patient_link:{link.id}")


# --- RGPD ----------------------------------------------------------------------------------------


def export_for_patient(db: CarnetSession, patient_id: int) -> dict[str, Any] | None:
    from carnet_telecare.models import Session

    conversations = list(db.exec(select(Conversation).where(Conversation.patient_id == patient_id)
                                 .order_by(Conversation.id)))
    planned = list(db.exec(select(Session).where(Session.patient_id == patient_id).order_by(Session.id)))
    if not conversations and not planned:
        return None
    out = []
    for c in conversations:
        out.append({
            "id": c.id, "kind": c.kind, "status": c.status, "created_at": c.created_at.isoformat(),
            "subject": readable(subject_of(db, c)),
            "messages": [{
                "id": v.message.id, "author": v.message.author, "created_at": v.message.created_at.isoformat(),
                "read_at": v.message.read_at.isoformat() if v.message.read_at else None,
                "body": readable(v.body),
                "attachments": [{"id": a.id, "filename": readable(name), "media_type": a.media_type,
                                 "size": a.size, "content_base64": readable(open_or_unreadable(db, a, "content"))}
                                for a, name in v.files],
            } for v in _messages(db, c)],
        })
    sessions = [{"id": x.id, "starts_at": x.starts_at.isoformat(), "ends_at": x.ends_at.isoformat(),
                 "status": x.status, "events": readable(open_or_unreadable(db, x, "events")),
                 "report": readable(open_or_unreadable(db, x, "report")) if x.report else None} for x in planned]
    return {"conversations": out, "sessions": sessions}


def erase_for_patient(db: CarnetSession, patient_id: int) -> None:
    """Erasure: the patient's key is shredded by core; the rows go too, children first."""
    from carnet_telecare.models import Session

    for model in (Attachment, Message, Access, Conversation, Session):
        for row in db.exec(select(model).where(model.patient_id == patient_id)).all():  # type: ignore[attr-defined]
            db.delete(row)
        db.flush()


def count_for(db: CarnetSession, principal: Any, patient_id: int) -> tuple[int, int]:
    """(open conversations, waiting for the practice) of the patient that the principal may open."""
    rows = conversations_of(db, principal, patient_id)
    return (sum(1 for c in rows if c.status == "open"), sum(1 for c in rows if c.awaiting_since is not None))


def waiting_since_text(delta: timedelta | None) -> tuple[int, int] | None:
    if delta is None:
        return None
    hours = int(delta.total_seconds() // 3600)
    return hours // 24, hours % 24




def unread_count(db: CarnetSession, principal: Any) -> int:
    """Patient messages not read yet in the open conversations this member answers, in one query
    (the home page runs it on every visit): a practitioner's own conversations, the practice's
    for the others; administrative ones only without the clinical permission. A number: nothing
    is opened, nobody is named."""
    stmt = select(sa.func.count()).select_from(Message).join(
        Conversation, sa.and_(Conversation.id == Message.conversation_id,
                              Conversation.clinic_id == Message.clinic_id)).where(
        Message.author == "patient", col(Message.read_at).is_(None), Conversation.status == "open")
    if not principal.can(perm.CLINICAL):
        stmt = stmt.where(Conversation.kind == "administrative")
    if "practitioner" in principal.roles:
        stmt = stmt.where(Conversation.practitioner_id == principal.user_id)
    return int(db.exec(stmt).one())
