"""Messaging hours: each practitioner says when they read messages (clinic-local days and hours)
and what the patient is told outside them. A patient's message outside the hours gets the
automatic reply at once, at most once per conversation per day, so a patient knows when to expect
an answer and the practitioner is not expected to answer at night.

The daily cap: a practitioner may say how many new patient messages their inbox takes in a
(clinic-local) day. Past it a patient's message is refused with a French answer and nothing is
written, so no automatic reply either: the patient is told at once, on the page, that the message
did not go and what to do instead."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import select

from carnet_core.plugin_api import N_, CarnetSession, Clinic, FieldError, InvalidInput, seal, text_problem, utcnow

from carnet_telecare.models import Conversation, Message, Profile

CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
REPLY_LIMIT = 500
CAP_MAX = 500
CAPPED = N_("your practitioner has received as many messages as they can read today: your message was not "
            "sent. Write again tomorrow, or call the practice; for an emergency, call 15 or 112")


def profile_of(db: CarnetSession, user_id: int | None) -> Profile | None:
    if user_id is None:
        return None
    return db.exec(select(Profile).where(Profile.user_id == user_id)).first()


def _cap(raw: str | int | None, errors: dict[str, FieldError]) -> int | None:
    """The daily cap typed on the form: empty for none, else a whole number from 1 to CAP_MAX."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= CAP_MAX:
        errors["daily_cap"] = FieldError("range", N_("leave empty for no cap, or a whole number from 1 to %(max)s"),
                                         max=CAP_MAX)
        return None
    return int(text)


def save(db: CarnetSession, user_id: int, days: list[str], opens: str, closes: str, auto_reply: str,
         profession: str = "", daily_cap: str | int | None = None) -> Profile:
    """Save the practitioner's messaging hours, automatic reply, daily cap of new patient messages
    (None: no cap) and profession (whose acts apply to their télésoin sessions, acts.PROFESSIONS;
    "" when not said)."""
    from carnet_telecare.services.acts import professions

    errors: dict[str, FieldError] = {}
    cap = _cap(daily_cap, errors)
    if profession and profession not in professions():
        errors["profession"] = FieldError("choice", N_("choose a profession in the list"))
    chosen = sorted({d for d in days if d in {str(n) for n in range(7)}})
    if not chosen:
        errors["days"] = FieldError("required", N_("choose at least one day"))
    for name, value in (("opens", opens), ("closes", closes)):
        if not CLOCK.match(value or ""):
            errors[name] = FieldError("clock", N_("a time such as 09:00"))
    if not errors and opens >= closes:
        errors["closes"] = FieldError("order", N_("the end comes after the start"))
    reply = (auto_reply or "").strip()
    if not reply or len(reply) > REPLY_LIMIT or text_problem(reply) is not None:
        errors["auto_reply"] = FieldError("length", N_("write the reply (%(limit)s characters at most)"),
                                          limit=REPLY_LIMIT)
    if errors:
        raise InvalidInput(errors)
    profile = profile_of(db, user_id) or Profile(user_id=user_id)
    profile.days, profile.opens, profile.closes, profile.auto_reply = ",".join(chosen), opens, closes, reply
    profile.profession, profile.daily_cap = profession, cap
    db.add(profile)
    db.flush()
    return profile


def is_open(profile: Profile, local: datetime) -> bool:
    return str(local.weekday()) in profile.days.split(",") and profile.opens <= local.strftime("%H:%M") < profile.closes


def _local(db: CarnetSession, clinic_id: int, now: datetime) -> datetime:
    clinic = db.get(Clinic, clinic_id)
    return now.astimezone(ZoneInfo(getattr(clinic, "timezone", None) or "Europe/Paris"))


def received_today(db: CarnetSession, practitioner_id: int, clinic_id: int, now: datetime | None = None) -> int:
    """New patient messages in the practitioner's conversations since the clinic's midnight."""
    now = now or utcnow()
    local = _local(db, clinic_id, now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(ZoneInfo("UTC"))
    return int(db.exec(select(sa.func.count()).select_from(Message).join(
        Conversation, sa.and_(Conversation.id == Message.conversation_id,
                              Conversation.clinic_id == Message.clinic_id)).where(
        Conversation.practitioner_id == practitioner_id, Message.author == "patient",
        Message.created_at >= midnight)).one())


def require_under_cap(db: CarnetSession, practitioner_id: int | None, clinic_id: int,
                      now: datetime | None = None) -> None:
    """Refuses a new patient message for a practitioner whose inbox reached their daily cap (the
    secretariat's conversations, with no practitioner, have none)."""
    profile = profile_of(db, practitioner_id)
    if profile is None or profile.daily_cap is None:
        return
    if received_today(db, profile.user_id, clinic_id, now) >= profile.daily_cap:
        raise InvalidInput({"body": FieldError("daily_cap", CAPPED)})


def auto_reply(db: CarnetSession, conversation: Conversation, now: datetime | None = None) -> Message | None:
    """After a patient's message: the practitioner's automatic reply when outside their hours
    (once per conversation per day); None otherwise."""
    profile = profile_of(db, conversation.practitioner_id)
    if profile is None or not profile.auto_reply:
        return None
    now = now or utcnow()
    local = _local(db, conversation.clinic_id, now)
    if is_open(profile, local):
        return None
    recent = int(db.exec(select(sa.func.count()).select_from(Message).where(
        Message.conversation_id == conversation.id, Message.author == "auto",
        Message.created_at >= now - timedelta(days=1))).one())
    if recent:
        return None
    message = Message(conversation_id=conversation.id, patient_id=conversation.patient_id, author="auto",
                      author_user_id=profile.user_id)
    db.add(message)
    seal(db, message, "body", profile.auto_reply)
    db.flush()
    return message
