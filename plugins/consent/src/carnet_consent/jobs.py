"""Consent's jobs: they take ids, reload what they need, and are idempotent (a redelivered message
replaces its file or carries the same Message-ID). Links and codes are issued here, at sending
time: only their hashes are stored. Bodies say that there is a document to read and give links;
never the form's title, its text or anything about the patient's care.

Signing links go by e-mail and, where the clinic enabled it (`services.settings.sms_enabled`), also
by SMS to a signer with a phone: each channel gets its own link, and the code confirming a
signature goes to the channel its link came through. No invitation or reminder goes by SMS to a
patient who refused or withdrew "SMS reminders" (`purpose_allowed`, asked when sending); a code
is sent where the person asked for it, on the page of the link they hold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import (
    N_,
    Clinic,
    JobContext,
    Mail,
    already_done,
    enqueue,
    links,
    long_date,
    once,
    open_or_unreadable,
    purpose_allowed,
    readable,
    record,
    send_mail,
    send_sms,
    utcnow,
)

from carnet_consent.models import Request, Signer
from carnet_consent.services.signing import (
    CHANNEL_OF,
    SIGN,
    SIGN_PURPOSES,
    SIGN_SMS,
    SIGN_VALID,
    WITHDRAW,
    WITHDRAW_USES,
    WITHDRAW_VALID,
    revoke_sign_links,
)

INVITATION_SUBJECT = N_("%(clinic)s: a document to sign")
REMINDER_SUBJECT = N_("%(clinic)s: reminder, a document waits for your signature")
REMINDER_ACTOR = "consent.send_reminder"
SMS_LINK_ACTOR = "consent.send_sms_link"
CODE_SUBJECT = N_("%(clinic)s: your signature code")
ACCESS_CODE_SUBJECT = N_("%(clinic)s: your code to see the accesses to your file")


def withdraw_url(db: Any, job: JobContext, clinic: Clinic, signer: Signer) -> str:
    issued = links.issue(db, purpose=WITHDRAW, subject_type="consent_signer", subject_id=signer.id,  # type: ignore[arg-type]
                         patient_id=signer.patient_id, expires_in=WITHDRAW_VALID, max_uses=WITHDRAW_USES)
    return job.patient_url(clinic.slug, f"w/{issued.token}")


def accesses_url(db: Any, job: JobContext, clinic: Clinic, signer: Signer) -> str | None:
    """The "who looked at my file" link, unless the clinic's owner switched the page off."""
    from carnet_consent.services import accesses
    from carnet_consent.services.settings import accesses_enabled

    if not accesses_enabled(db):
        return None
    return job.patient_url(clinic.slug, f"a/{accesses.issue_link(db, signer).token}")


def _audited(job: JobContext, key: str, resource_type: str, resource_id: int | None, patient_id: int | None,
             details: dict[str, Any], then: Callable[[Any], None] | None = None) -> None:
    """After a message went out: its audit record (and `then`, e.g. the SMS that follows an
    e-mail), once per key."""
    with job.session() as db:
        if once(db, key):
            record(db, action="send", resource_type=resource_type, resource_id=resource_id, patient_id=patient_id,
                   details=details, actor=f"job:{job.actor}")
            if then is not None:
                then(db)


def _pending(db: Any, signer_id: int) -> Signer | None:
    """The signer while they and their request still wait for a signature (else None: signed,
    cancelled, erased, reminders stop)."""
    signer = db.exec(select(Signer).where(Signer.id == signer_id)).first()
    if signer is None or signer.status != "pending":
        return None
    request = db.exec(select(Request).where(Request.id == signer.request_id)).first()
    return signer if request is not None and request.status == "pending" else None


def _sms_wanted(db: Any, job: JobContext, signer: Signer) -> str | None:
    """The phone an SMS link goes to now, or None: the clinic sends links by SMS, SMS can be sent,
    the signer has a phone on file, and the patient did not refuse or withdraw SMS reminders."""
    from carnet_consent.services.settings import sms_enabled

    phone = readable(open_or_unreadable(db, signer, "phone")) if signer.phone is not None else None
    if not phone or not sms_enabled(db, job.host):
        return None
    if not purpose_allowed(job.host, db, signer.patient_id, "sms_reminders"):
        return None
    return phone


def send_invitation(signer_id: int, job: JobContext) -> None:
    """E-mail a signer their personal signing link (issued now) and a withdrawal link; the SMS
    link follows where enabled."""
    _send_link(job, job.key("invitation", signer_id), signer_id, "invitation")


def send_reminder(signer_id: int, step: int, job: JobContext) -> None:
    """Remind a signer who has not signed yet (a fresh link: the old ones are revoked), exactly once
    per reminder step: the key is the signer's and the step's, whatever the message."""
    _send_link(job, f"{REMINDER_ACTOR}:{signer_id}:{step}", signer_id, "reminder")


def _send_link(job: JobContext, key: str, signer_id: int, kind: str) -> None:
    with job.session() as db:
        if already_done(db, key):
            return
        signer = _pending(db, signer_id)
        if signer is None:
            return  # signed or cancelled: reminders stop
        to = readable(open_or_unreadable(db, signer, "email"))
        clinic = db.get(Clinic, signer.clinic_id)
        if not to or clinic is None:
            return
        revoke_sign_links(db, signer_id)  # a resent invitation replaces the old links (e-mail and SMS)
        issued = links.issue(db, purpose=SIGN, subject_type="consent_signer", subject_id=signer_id,
                             patient_id=signer.patient_id, expires_in=SIGN_VALID, max_uses=1, code_required=True)
        signer.link_id = issued.link.id
        signer.sent_at = utcnow()
        db.add(signer)
        until = long_date(issued.link.expires_at, job.settings.locale, weekday=False, tz=clinic.timezone)
        context = {"clinic_name": clinic.name, "until": until, "reminder": kind == "reminder",
                   "sign_url": job.patient_url(clinic.slug, f"s/{issued.token}"),
                   "withdraw_url": withdraw_url(db, job, clinic, signer),
                   "accesses_url": accesses_url(db, job, clinic, signer)}
        subject = job.translate(REMINDER_SUBJECT if kind == "reminder" else INVITATION_SUBJECT, clinic=clinic.name)
        text = job.render("consent/messages/invitation.txt", **context)
        sms = _sms_wanted(db, job, signer) is not None
        patient_id = signer.patient_id
    send_mail(job.settings, Mail(to=to, subject=subject, text=text), key=key)
    _audited(job, key, "consent_signer", signer_id, patient_id, {"kind": kind},
             then=(lambda db: enqueue(db, SMS_LINK_ACTOR, signer_id, kind, key)) if sms else None)


def send_sms_link(signer_id: int, kind: str, key: str, job: JobContext) -> None:
    """The SMS twin of an invitation or reminder (`key` is the e-mail's): its own signing link,
    whose code will come by SMS, and a withdrawal link; nothing when the conditions of
    `_sms_wanted` no longer hold (asked now, at sending time)."""
    sms_key = f"{key}:sms"
    with job.session() as db:
        if already_done(db, sms_key):
            return
        signer = _pending(db, signer_id)
        clinic = db.get(Clinic, signer.clinic_id) if signer is not None else None
        phone = _sms_wanted(db, job, signer) if signer is not None else None
        if signer is None or clinic is None or phone is None:
            return
        links.revoke(db, ("consent_signer", signer_id), purpose=SIGN_SMS)
        issued = links.issue(db, purpose=SIGN_SMS, subject_type="consent_signer", subject_id=signer_id,
                             patient_id=signer.patient_id, expires_in=SIGN_VALID, max_uses=1, code_required=True)
        signer.sms_link_id = issued.link.id
        db.add(signer)
        until = long_date(issued.link.expires_at, job.settings.locale, weekday=False, tz=clinic.timezone)
        body = job.render("consent/messages/invitation_sms.txt", clinic_name=clinic.name, until=until,
                          reminder=kind == "reminder", sign_url=job.patient_url(clinic.slug, f"s/{issued.token}"),
                          withdraw_url=withdraw_url(db, job, clinic, signer))
        patient_id = signer.patient_id
    send_sms(job.host, job.settings, phone, body.strip(), key=sms_key)
    _audited(job, sms_key, "consent_signer", signer_id, patient_id, {"kind": kind, "channel": "sms"})


def remind_unsigned(clinic_id: int, job: JobContext) -> None:
    """Periodic (every clinic with the module): for each signer still pending, the latest reminder
    step now due (the clinic's interval, counted from the request's sending) that was not sent yet
    is enqueued; earlier steps a late run skipped are not sent any more (one message, not a burst)."""
    from carnet_consent.services.settings import reminder_steps

    now = utcnow()
    with job.session() as db:
        steps = reminder_steps(db)
        if not steps:
            return  # the owner switched reminders off
        pending = db.exec(select(Signer, Request).where(Signer.request_id == Request.id, Signer.status == "pending",
                                                        Request.status == "pending")).all()
        for signer, request in pending:
            due = [step for step, after in enumerate(steps, start=1) if now >= request.created_at + after]
            if not due:
                continue
            step = due[-1]
            later = range(step, len(steps) + 1)
            if any(already_done(db, f"{REMINDER_ACTOR}:{signer.id}:{n}") for n in later):
                continue
            enqueue(db, REMINDER_ACTOR, signer.id, step)


# --- one-time codes -------------------------------------------------------------------------------


def _send_code(job: JobContext, key: str, link_id: int, nth: int, purposes: tuple[str, ...],
               recipient: Callable[[Any, Any], tuple[str, str] | None], subject: str, template: str,
               audit: tuple[str, Callable[[Any], int | None]], kind: str = "code",
               extra: Callable[[Any, Clinic, Any], dict[str, Any]] | None = None) -> None:
    """Send the `nth` one-time code of a link (its purpose one of `purposes`) once: to where
    `recipient(db, link)` says, (address, "email") or (phone, "sms"), None to send nothing. A used,
    expired or revoked link, or a code already issued, sends nothing. The e-mail renders
    `template`, the SMS its `_sms` twin; `audit` is the record's resource type and id."""
    with job.session() as db:
        if already_done(db, key):
            return
        link = db.exec(select(links.PatientLink).where(links.PatientLink.id == link_id)).first()
        if link is None or link.purpose not in purposes or links.refusal_reason(link) is not None:
            return
        if link.codes_sent >= nth:
            return  # this code was already issued
        target = recipient(db, link)
        clinic = db.get(Clinic, link.clinic_id)
        if target is None or clinic is None:
            return
        to, channel = target
        try:
            code = links.issue_code(db, link)
        except links.LinkRefused:
            return  # too many codes for this link: the page says so
        context = {"clinic_name": clinic.name, "code": code, **(extra(db, clinic, link) if extra else {})}
        if channel == "sms":
            body = job.render(template.replace(".txt", "_sms.txt"), **context)
        else:
            title = job.translate(subject, clinic=clinic.name)
            text = job.render(template, **context)
        patient_id, resource_id = link.patient_id, audit[1](link)
    if channel == "sms":
        send_sms(job.host, job.settings, to, body.strip(), key=key)
    else:
        send_mail(job.settings, Mail(to=to, subject=title, text=text), key=key)
    _audited(job, key, audit[0], resource_id, patient_id, {"kind": kind, "channel": channel})


def _signer_contact(db: Any, link: Any) -> tuple[str, str] | None:
    """Where a signing link's code goes: the channel the link came through (its purpose)."""
    signer = _pending(db, link.subject_id)
    if signer is None:
        return None
    channel = CHANNEL_OF[link.purpose]
    to = readable(open_or_unreadable(db, signer, "phone" if channel == "sms" else "email"))
    return (to, channel) if to else None


def send_code(signer_id: int, nth: int, link_id: int | None = None, *, job: JobContext) -> None:
    """Send a signer the one-time code of their signing link (`link_id`; a message queued before
    SMS links carries none: the e-mailed link) to the channel the link came through."""
    if link_id is None:
        with job.session() as db:
            signer = db.exec(select(Signer).where(Signer.id == signer_id)).first()
            link_id = signer.link_id if signer is not None else None
        if link_id is None:
            return
    _send_code(job, f"consent.code:{link_id}:{nth}", link_id, nth, SIGN_PURPOSES, _signer_contact, CODE_SUBJECT,
               "consent/messages/code.txt", ("consent_signer", lambda link: link.subject_id),
               extra=lambda db, clinic, link: {"withdraw_url": withdraw_url(
                   db, job, clinic, db.exec(select(Signer).where(Signer.id == link.subject_id)).one())})


def _accesses_contact(db: Any, link: Any) -> tuple[str, str] | None:
    """A "who looked at my file" code goes to the signer's address, while the page is offered."""
    from carnet_consent.services import accesses

    try:
        accesses.check_enabled(db)
    except accesses.AccessesOff:
        return None  # switched off since the page asked: no code
    signer = db.exec(select(Signer).where(Signer.id == link.subject_id)).first()
    to = readable(open_or_unreadable(db, signer, "email")) if signer is not None else None
    return (to, "email") if to else None


def send_access_code(link_id: int, nth: int, job: JobContext) -> None:
    """E-mail a one-time code for a "who looked at my file" link, to the address it was sent to."""
    from carnet_consent.services import accesses

    _send_code(job, f"consent.access_code:{link_id}:{nth}", link_id, nth, (accesses.ACCESSES,), _accesses_contact,
               ACCESS_CODE_SUBJECT, "consent/messages/access_code.txt",
               ("consent_signer", lambda link: link.subject_id), kind="access_code")


RIGHTS_SUBJECT = N_("%(clinic)s: the answer to your request")
RIGHTS_CODE_SUBJECT = N_("%(clinic)s: your code to download your data")


def _patient_email(db: Any, patient_id: int) -> str | None:
    from carnet_core.plugin_api import patient_access

    contact = patient_access(db).contact(patient_id)
    return contact.email if contact is not None else None


def build_rights_export(request_id: int, round_key: str, job: JobContext) -> None:
    """Build core's export for an access or portability request, issue its single-use link and
    e-mail it to the patient (once per delivery round: a redelivery does nothing)."""
    from carnet_consent.models import RightsRequest
    from carnet_consent.services import rights

    key = f"consent.rights_export:{request_id}:{round_key}"
    with job.session() as db:
        if already_done(db, key):
            return
        request = db.exec(select(RightsRequest).where(RightsRequest.id == request_id)).first()
        if request is None or request.status != "open" or request.kind not in rights.EXPORTING:
            return
        to = _patient_email(db, request.patient_id)
        clinic = db.get(Clinic, request.clinic_id)
        if not to or clinic is None:
            return
        rights.build_export(db, job.host, request)
        issued = rights.issue_link(db, request)
        until = long_date(issued.link.expires_at, job.settings.locale, weekday=False, tz=clinic.timezone)
        context = {"clinic_name": clinic.name, "until": until,
                   "url": job.patient_url(clinic.slug, f"r/{issued.token}")}
        subject = job.translate(RIGHTS_SUBJECT, clinic=clinic.name)
        text = job.render("consent/messages/rights_export.txt", **context)
        patient_id = request.patient_id
    send_mail(job.settings, Mail(to=to, subject=subject, text=text), key=key)
    _audited(job, key, "consent_rights_request", request_id, patient_id, {"kind": "export_link"})


def _by_email(address: str | None) -> tuple[str, str] | None:
    return (address, "email") if address else None


def send_rights_code(link_id: int, nth: int, job: JobContext) -> None:
    """E-mail the one-time code of an export link, to the patient's address."""
    from carnet_consent.services import rights

    _send_code(job, f"consent.rights_code:{link_id}:{nth}", link_id, nth, (rights.DELIVERY,),
               lambda db, link: _by_email(_patient_email(db, link.patient_id)), RIGHTS_CODE_SUBJECT,
               "consent/messages/rights_code.txt", ("consent_rights_request", lambda link: link.subject_id))


RIGHTS_ASK_SUBJECT = N_("%(clinic)s: confirm your request")
RIGHTS_ASK_CODE_SUBJECT = N_("%(clinic)s: your code to confirm your request")


def send_rights_ask(patient_id: int, guardian_id: int, nonce: str, job: JobContext) -> None:
    """E-mail the personal link of a request made on the public page to the address on file (the
    patient's, or the holder of parental authority's), once per submission (`nonce`)."""
    from carnet_consent.services import rights_online

    key = f"{rights_online.LINK_ACTOR}:{patient_id}:{nonce}"
    with job.session() as db:
        if already_done(db, key):
            return
        clinic = db.get(Clinic, job.clinic_id)
        to = rights_online.address_on_file(db, patient_id, guardian_id)
        if not to or clinic is None:
            return  # erased, or the address removed meanwhile: no link, no message
        issued = rights_online.issue_link(db, patient_id, guardian_id)
        until = long_date(issued.link.expires_at, job.settings.locale, weekday=False, tz=clinic.timezone)
        context = {"clinic_name": clinic.name, "until": until,
                   "url": job.patient_url(clinic.slug, f"rights/{issued.token}")}
        subject = job.translate(RIGHTS_ASK_SUBJECT, clinic=clinic.name)
        text = job.render("consent/messages/rights_ask.txt", **context)
    send_mail(job.settings, Mail(to=to, subject=subject, text=text), key=key)
    _audited(job, key, "consent_rights_request", None, patient_id, {"kind": "request_link"})


def send_rights_ask_code(link_id: int, nth: int, job: JobContext) -> None:
    """E-mail the one-time code of a public request's link, to the same address on file."""
    from carnet_consent.services import rights_online

    _send_code(job, f"{rights_online.CODE_ACTOR}:{link_id}:{nth}", link_id, nth, (rights_online.ASK,),
               lambda db, link: _by_email(rights_online.recipient(db, link)), RIGHTS_ASK_CODE_SUBJECT,
               "consent/messages/rights_ask_code.txt", ("consent_rights_request", lambda link: None))
