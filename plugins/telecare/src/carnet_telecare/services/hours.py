"""Messaging hours: each practitioner says when they read messages (clinic-local days and hours)
and what the patient is told outside them. A patient's message outside the hours gets the
automatic reply at once, at most once per conversation per day, so a patient knows when to expect
an answer and the practitioner is not expected to answer at night."""

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


def profile_of(db: CarnetSession, user_id: int | None) -> Profile | None:
    if user_id is None:
        return None
    return db.exec(select(Profile).where(Profile.user_id == user_id)).first()


def save(db: CarnetSession, user_id: int, days: list[str], opens: str, closes: str, auto_reply: str,
         profession: str = "") -> Profile:
    """Save the practitioner's messaging hours, automatic reply and profession (whose acts apply to
    their télésoin sessions, acts.PROFESSIONS; "" when not said)."""
    from carnet_telecare.services.acts import professions

    errors: dict[str, FieldError] = {}
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
    profile.profession = profession
    db.add(profile)
    db.flush()
    return profile


def is_open(profile: Profile, local: datetime) -> bool:
    return str(local.weekday()) in profile.days.split(",") and profile.opens <= local.strftime("%H:%M") < profile.closes


def auto_reply(db: CarnetSession, conversation: Conversation, now: datetime | None = None) -> Message | None:
    """After a patient's message: the practitioner's automatic reply when outside their hours
    (once per conversation per day); None otherwise."""
    profile = profile_of(db, conversation.practitioner_id)
    if profile is None or not profile.auto_reply:
        return None
    now = now or utcnow()
    clinic = db.get(Clinic, conversation.clinic_id)
    local = now.astimezone(ZoneInfo(getattr(clinic, "timezone", None) or "Europe/Paris"))
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
