"""Conversations started by the patient, when the practice allows it (off by default).

1. On the practice's public page the person gives the patient's last name and the e-mail address
   the practice has on file (the patient's own, or a holder of parental authority's). The page
   answers the same whether or not it matches a patient in care, so it tells nobody who is a
   patient; misses count against the visitor's address and each address receives a few e-mails
   per quarter of an hour at most (core's link counters). A stranger, or a patient without a care
   relationship (no care in the last months, or no consent to remote care), gets that answer and
   nothing is written.
2. For a patient in care, a job e-mails a personal link (24 hours, single use) to that address on
   file; opening it, the person asks for a one-time code sent to the same address: the same steps
   (and the same code job) as the link of a notification (messaging.request_code / verify).
3. With the code they write their first message, to their practitioner or to the secretariat; the
   practitioner's daily cap, the per-day limit and the automatic reply apply as to any patient
   message. The link is then used up; the practice's answer comes with a notification as usual.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    FieldError,
    InvalidInput,
    NotFound,
    enqueue,
    links,
    patient_access,
    record,
    seal,
    utcnow,
)

from carnet_telecare.models import SUBJECT_LIMIT, Access, Conversation, Setting
from carnet_telecare.services import messaging, rules

START = "telecare.start"  # link purpose: write a first message to the practice
START_VALID = timedelta(hours=24)
START_ACTOR = "telecare.send_start"
FORM_ACTOR = "telecare-start-form"
NAME_LIMIT, EMAIL_LIMIT = links.NAME_LIMIT, links.EMAIL_LIMIT
KINDS = {"clinical": "practitioner", "administrative": "secretariat"}  # what the patient picks


class Off(Exception):
    """The practice does not take conversations started by patients."""


Throttled = links.Throttled  # too many tries from this visitor or for this address


# --- the clinic's setting ------------------------------------------------------------------------


def current(db: CarnetSession) -> Setting:
    return db.exec(select(Setting)).first() or Setting()


def allowed(db: CarnetSession) -> bool:
    return current(db).patients_may_start


def require_allowed(db: CarnetSession) -> None:
    if not allowed(db):
        raise Off()


def update(db: CarnetSession, principal: Any, *, patients_may_start: bool) -> Setting:
    row = db.exec(select(Setting)).first() or Setting()
    changed = row.id is None or row.patients_may_start != patients_may_start
    row.patients_may_start = patients_may_start
    row.updated_by = getattr(principal, "user_id", None)
    row.updated_at = utcnow()
    db.add(row)
    db.flush()
    if changed:
        record(db, action="update", resource_type="telecare_setting", resource_id=row.id,
               details={"patients_may_start": patients_may_start})
    return row


# --- 1. the public form --------------------------------------------------------------------------


def ask(db: CarnetSession, host: Any, settings: Any, values: dict[str, Any], address: str | None) -> bool:
    """Send a personal link to the address on file when the name and address match a patient in
    care (or a holder of parental authority of one) who allows remote care. True when a link goes
    out; the page must not say so. Nothing is written otherwise (but the miss, against the
    visitor's address)."""
    require_allowed(db)
    holder = links.find_holder(db, values, address, form_actor=FORM_ACTOR)
    if holder is None:
        return False
    patient_id, email = holder.patient_id, holder.email
    if not rules.in_care(host, db, patient_id, settings.care_months) or not \
            rules.allows_remote_care(host, db, patient_id):
        links.note_failure(db, address)  # no care relationship: answered and counted as a miss
        return False
    access = Access(conversation_id=None, patient_id=patient_id, channel="email")
    db.add(access)
    seal(db, access, "address", email)  # the address on file it matched, never one only typed
    db.flush()
    enqueue(db, START_ACTOR, access.id, secrets.token_hex(8))
    record(db, action="request_link", resource_type="telecare_access", resource_id=access.id,
           patient_id=patient_id, details={"by": holder.by}, actor=f"anonymous:{FORM_ACTOR}")
    return True


def issue_link(db: CarnetSession, access: Access) -> Any:
    issued = links.issue(db, purpose=START, subject_type="telecare_access", subject_id=access.id or 0,
                         patient_id=access.patient_id, expires_in=START_VALID, max_uses=1, code_required=True)
    access.link_id = issued.link.id
    db.add(access)
    db.flush()
    return issued


# --- 3. the first message ------------------------------------------------------------------------


def access_for_start(db: CarnetSession, link: Any) -> Access:
    found = db.exec(select(Access).where(Access.id == link.subject_id, Access.link_id == link.id)).first()
    if found is None or link.subject_type != "telecare_access" or found.conversation_id is not None:
        raise NotFound("telecare access")
    return found


def start(db: CarnetSession, link: Any, host: Any, settings: Any, *, kind: str, subject: str, body: str,
          upload: messaging.Upload | None = None, hooks: Any = None) -> Conversation:
    """The patient's first message, in a new conversation with their practitioner (clinical) or the
    secretariat (administrative). Every rule is asked again now: the practice still allows it, the
    patient is still in care and allows remote care, the per-day limit and the practitioner's
    daily cap; a refusal writes nothing."""
    from carnet_telecare.services.hours import auto_reply, require_under_cap

    require_allowed(db)
    messaging.require_verified(link, settings)
    access = access_for_start(db, link)
    patient_id = access.patient_id
    errors: dict[str, FieldError] = {}
    if kind not in KINDS:
        errors["kind"] = FieldError("choice", N_("choose whom you write to"))
    clean_subject = ""
    try:
        clean_subject = messaging.clean_text(subject, "subject", SUBJECT_LIMIT)
    except InvalidInput as exc:
        errors.update(exc.errors)
    try:
        text, checked = messaging.clean_message(body, upload, settings)
    except InvalidInput as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    rules.require_in_care(host, db, patient_id, settings.care_months)
    rules.require_consent(host, db, patient_id)
    messaging.require_under_day_limit(db, patient_id, settings)
    practitioner_id = None
    if kind == "clinical":
        practitioner_id = patient_access(db, "system:telecare").get(patient_id).practitioner_id
    require_under_cap(db, practitioner_id, db.clinic_id)
    # the link first (compare-and-set): a second submission of the same form writes nothing
    links.use(db, link, action="start", resource_type="telecare_access", details={"kind": kind})
    conversation = Conversation(patient_id=patient_id, kind=kind, practitioner_id=practitioner_id)
    db.add(conversation)
    seal(db, conversation, "subject", clean_subject)
    db.flush()
    message = messaging.store_patient_message(db, conversation, text, checked, link.id)
    access.conversation_id = conversation.id
    db.add(access)
    db.flush()
    auto_reply(db, conversation)
    record(db, action="create", resource_type="telecare_conversation", resource_id=conversation.id,
           patient_id=patient_id, details={"kind": kind, "message": message.id, "by": "patient",
                                           "attachment": checked is not None}, actor=f"patient_link:{link.id}")
    rules.announce(hooks, "telecare_message_received", message=message, conversation=conversation, db=db)
    return conversation

