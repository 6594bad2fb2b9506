"""Telecare's jobs: they take ids, reload what they need and are idempotent (a redelivered message
carries the same key). The link and the code are issued here, at sending time: only their hashes
are stored. Bodies say that a message is waiting and give the link; never the subject, the
message, the practitioner's specialty or anything about the patient's care."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import (
    N_,
    Clinic,
    JobContext,
    Mail,
    already_done,
    links,
    long_datetime,
    once,
    open_or_unreadable,
    patient_access,
    readable,
    record,
    seal,
    send_mail,
    send_sms,
)

from carnet_telecare.models import Access, Conversation, Message
from carnet_telecare.services.messaging import CONVERSATION, LINK_USES, notice_channel

NOTICE_SUBJECT = N_("%(clinic)s: you have a new message")
CODE_SUBJECT = N_("%(clinic)s: your code to read your messages")
NOTICE_SMS = N_("%(clinic)s: you have a new message. Read it here: %(url)s")
CODE_SMS = N_("%(clinic)s: your code to read your messages: %(code)s (valid 15 minutes)")


def _settings(job: JobContext) -> Any:
    return job.settings.plugins["telecare"]


def _deliver(job: JobContext, key: str, channel: str, to: str, subject: str, text: str) -> None:
    if channel == "email":
        send_mail(job.settings, Mail(to=to, subject=subject, text=text), key=key)
    else:
        send_sms(job.host, job.settings, to, text, key=key)


def notify(message_id: int, job: JobContext) -> None:
    """Tell the patient (or the parent whose contact core holds) that a message is waiting, with a
    personal link (issued now); e-mail, else SMS. Nothing is sent for a closed conversation."""
    key = job.key("notify", message_id)
    with job.session() as db:
        if already_done(db, key):
            return
        message = db.exec(select(Message).where(Message.id == message_id)).first()
        if message is None or message.author != "staff":
            return
        conversation = db.exec(select(Conversation).where(Conversation.id == message.conversation_id)).first()
        clinic = db.get(Clinic, message.clinic_id)
        if conversation is None or conversation.status != "open" or clinic is None:
            return
        contact = patient_access(db, f"job:{job.actor}").contact(message.patient_id)
        reachable = notice_channel(job.host, db, contact, message.patient_id)
        if reachable is None:
            return
        channel, to = reachable
        issued = links.issue(db, purpose=CONVERSATION, subject_type="telecare_conversation",
                             subject_id=conversation.id, patient_id=message.patient_id, code_required=True,
                             expires_in=timedelta(days=_settings(job).link_days), max_uses=LINK_USES)
        access = Access(conversation_id=conversation.id, patient_id=message.patient_id, link_id=issued.link.id,
                        channel=channel)
        db.add(access)
        seal(db, access, "address", to)
        db.flush()
        url = job.patient_url(clinic.slug, f"m/{issued.token}")
        subject = job.translate(NOTICE_SUBJECT, clinic=clinic.name)
        if channel == "email":
            text = job.render("telecare/messages/notice.txt", clinic_name=clinic.name, url=url,
                              days=_settings(job).link_days)
        else:
            text = job.translate(NOTICE_SMS, clinic=clinic.name, url=url)
    _deliver(job, key, channel, to, subject, text)  # type: ignore[arg-type]
    with job.session() as db:
        if once(db, key):
            record(db, action="notify", resource_type="telecare_message", resource_id=message_id,
                   patient_id=message.patient_id, details={"channel": channel}, actor=f"job:{job.actor}")


def send_code(access_id: int, nth: int, job: JobContext) -> None:
    """Send a one-time code for a notification's link, to the address the link went to."""
    key = f"telecare.code:{access_id}:{nth}"
    with job.session() as db:
        if already_done(db, key):
            return
        access = db.exec(select(Access).where(Access.id == access_id)).first()
        if access is None or access.link_id is None:
            return
        link = db.exec(select(links.PatientLink).where(links.PatientLink.id == access.link_id)).first()
        if link is None or links.refusal_reason(link) is not None or link.codes_sent >= nth:
            return
        to = readable(open_or_unreadable(db, access, "address"))
        clinic = db.get(Clinic, access.clinic_id)
        if not to or clinic is None:
            return
        try:
            code = links.issue_code(db, link)
        except links.LinkRefused:
            return
        subject = job.translate(CODE_SUBJECT, clinic=clinic.name)
        if access.channel == "email":
            text = job.render("telecare/messages/code.txt", clinic_name=clinic.name, code=code)
        else:
            text = job.translate(CODE_SMS, clinic=clinic.name, code=code)
        channel, patient_id = access.channel, access.patient_id
    _deliver(job, key, channel, to, subject, text)
    with job.session() as db:
        if once(db, key):
            record(db, action="send", resource_type="telecare_access", resource_id=access_id,
                   patient_id=patient_id, details={"kind": "code", "channel": channel}, actor=f"job:{job.actor}")


INVITE_SUBJECT = N_("%(clinic)s: your remote session")
INVITE_SMS = N_("%(clinic)s: your remote session on %(when)s. Join it here: %(url)s")


def invite(session_id: int, job: JobContext) -> None:
    """Send the patient (or the parent whose contact core holds) the link to join a télésoin
    session: its date and time and the link, nothing about the care."""
    from carnet_telecare.models import Session
    from carnet_telecare.services.sessions import JOIN, MARGIN

    key = job.key("invite", session_id)
    with job.session() as db:
        if already_done(db, key):
            return
        session = db.exec(select(Session).where(Session.id == session_id)).first()
        clinic = db.get(Clinic, session.clinic_id) if session is not None else None
        if session is None or clinic is None or session.status != "scheduled":
            return
        contact = patient_access(db, f"job:{job.actor}").contact(session.patient_id)
        reachable = notice_channel(job.host, db, contact, session.patient_id)
        if reachable is None:
            return
        channel, to = reachable
        links.revoke(db, ("telecare_session", session_id), purpose=JOIN)
        issued = links.issue(db, purpose=JOIN, subject_type="telecare_session", subject_id=session_id,
                             patient_id=session.patient_id, expires_at=session.ends_at + MARGIN, max_uses=50)
        when = long_datetime(session.starts_at, clinic.timezone, job.settings.locale)
        url = job.patient_url(clinic.slug, f"j/{issued.token}")
        subject = job.translate(INVITE_SUBJECT, clinic=clinic.name)
        if channel == "email":
            text = job.render("telecare/messages/invite.txt", clinic_name=clinic.name, url=url, when=when)
        else:
            text = job.translate(INVITE_SMS, clinic=clinic.name, when=when, url=url)
        patient_id = session.patient_id
    _deliver(job, key, channel, to, subject, text)  # type: ignore[arg-type]
    with job.session() as db:
        if once(db, key):
            record(db, action="notify", resource_type="telecare_session", resource_id=session_id,
                   patient_id=patient_id, details={"channel": channel}, actor=f"job:{job.actor}")


START_SUBJECT = N_("%(clinic)s: your link to write to the practice")


def send_start(access_id: int, nonce: str, job: JobContext) -> None:
    """E-mail the personal link a patient asked for to start a conversation (issued now: only its
    hash is stored), to the address on file the request matched; nothing about the patient."""
    from carnet_telecare.services.starting import START_VALID, issue_link

    key = f"telecare.start:{access_id}:{nonce}"
    with job.session() as db:
        if already_done(db, key):
            return
        access = db.exec(select(Access).where(Access.id == access_id)).first()
        clinic = db.get(Clinic, access.clinic_id) if access is not None else None
        if access is None or clinic is None or access.conversation_id is not None:
            return
        to = readable(open_or_unreadable(db, access, "address"))
        if not to:
            return
        if access.link_id is not None:  # a retry after a failed delivery: that token is lost, a new one goes
            old = db.exec(select(links.PatientLink).where(links.PatientLink.id == access.link_id)).first()
            if old is not None:
                links.revoke(db, old)
        issued = issue_link(db, access)
        url = job.patient_url(clinic.slug, f"s/{issued.token}")
        subject = job.translate(START_SUBJECT, clinic=clinic.name)
        text = job.render("telecare/messages/start.txt", clinic_name=clinic.name, url=url,
                          hours=int(START_VALID.total_seconds() // 3600))
        patient_id = access.patient_id
    send_mail(job.settings, Mail(to=to, subject=subject, text=text), key=key)
    with job.session() as db:
        if once(db, key):
            record(db, action="send", resource_type="telecare_access", resource_id=access_id,
                   patient_id=patient_id, details={"kind": "start_link", "channel": "email"},
                   actor=f"job:{job.actor}")
