"""Consent's jobs: they take ids, reload what they need, and are idempotent (a redelivered message
replaces its file or carries the same Message-ID). Links and codes are issued here, at sending
time: only their hashes are stored. Bodies say that there is a document to read and give links;
never the form's title, its text or anything about the patient's care."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from babel.dates import format_date
from sqlmodel import select

from carnet_core.plugin_api import (
    N_,
    Clinic,
    JobContext,
    Mail,
    already_done,
    enqueue,
    links,
    once,
    open_or_unreadable,
    readable,
    record,
    send_mail,
    utcnow,
)

from carnet_consent.models import Request, Signer
from carnet_consent.services.signing import SIGN, SIGN_VALID, WITHDRAW, WITHDRAW_USES, WITHDRAW_VALID

INVITATION_SUBJECT = N_("%(clinic)s: a document to sign")
REMINDER_SUBJECT = N_("%(clinic)s: reminder, a document waits for your signature")
REMINDER_ACTOR = "consent.send_reminder"
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


def _deliver(job: JobContext, key: str, to: str, subject: str, text: str, signer: Signer, kind: str) -> None:
    send_mail(job.settings, Mail(to=to, subject=subject, text=text), key=key)
    with job.session() as db:
        if once(db, key):
            record(db, action="send", resource_type="consent_signer", resource_id=signer.id,
                   patient_id=signer.patient_id, details={"kind": kind}, actor=f"job:{job.actor}")


def send_invitation(signer_id: int, job: JobContext) -> None:
    """E-mail a signer their personal signing link (issued now) and a withdrawal link."""
    _send_link(job, job.key("invitation", signer_id), signer_id, "invitation")


def send_reminder(signer_id: int, step: int, job: JobContext) -> None:
    """Remind a signer who has not signed yet (a fresh link: the old one is revoked), exactly once
    per reminder step: the key is the signer's and the step's, whatever the message."""
    _send_link(job, f"{REMINDER_ACTOR}:{signer_id}:{step}", signer_id, "reminder")


def _send_link(job: JobContext, key: str, signer_id: int, kind: str) -> None:
    with job.session() as db:
        if already_done(db, key):
            return
        signer = db.exec(select(Signer).where(Signer.id == signer_id)).first()
        if signer is None or signer.status != "pending":
            return
        request = db.exec(select(Request).where(Request.id == signer.request_id)).first()
        if request is None or request.status != "pending":
            return  # signed or cancelled: reminders stop
        to = readable(open_or_unreadable(db, signer, "email"))
        clinic = db.get(Clinic, signer.clinic_id)
        if not to or clinic is None:
            return
        links.revoke(db, ("consent_signer", signer_id), purpose=SIGN)  # a resent invitation replaces the old link
        issued = links.issue(db, purpose=SIGN, subject_type="consent_signer", subject_id=signer_id,
                             patient_id=signer.patient_id, expires_in=SIGN_VALID, max_uses=1, code_required=True)
        signer.link_id = issued.link.id
        signer.sent_at = utcnow()
        db.add(signer)
        until = format_date(issued.link.expires_at, "d MMMM y", locale=job.settings.locale)
        context = {"clinic_name": clinic.name, "until": until, "reminder": kind == "reminder",
                   "sign_url": job.patient_url(clinic.slug, f"s/{issued.token}"),
                   "withdraw_url": withdraw_url(db, job, clinic, signer),
                   "accesses_url": accesses_url(db, job, clinic, signer)}
        subject = job.translate(REMINDER_SUBJECT if kind == "reminder" else INVITATION_SUBJECT, clinic=clinic.name)
        text = job.render("consent/messages/invitation.txt", **context)
    _deliver(job, key, to, subject, text, signer, kind)


def remind_unsigned(clinic_id: int, job: JobContext) -> None:
    """Periodic (every clinic with the module): for each signer still pending, the latest reminder
    step now due (days after the request was sent) that was not sent yet is enqueued; earlier
    steps a late run skipped are not sent any more (one message, not a burst)."""
    from carnet_consent.services.signing import REMINDER_DAYS

    now = utcnow()
    with job.session() as db:
        pending = db.exec(select(Signer, Request).where(Signer.request_id == Request.id, Signer.status == "pending",
                                                        Request.status == "pending")).all()
        for signer, request in pending:
            due = [step for step, days in enumerate(REMINDER_DAYS, start=1)
                   if now >= request.created_at + timedelta(days=days)]
            if not due:
                continue
            step = due[-1]
            later = range(step, len(REMINDER_DAYS) + 1)
            if any(already_done(db, f"{REMINDER_ACTOR}:{signer.id}:{n}") for n in later):
                continue
            enqueue(db, REMINDER_ACTOR, signer.id, step)


def send_code(signer_id: int, nth: int, job: JobContext) -> None:
    """E-mail the signer a one-time code for their signing link (to the same address)."""
    key = f"consent.code:{signer_id}:{nth}"
    with job.session() as db:
        if already_done(db, key):
            return
        signer = db.exec(select(Signer).where(Signer.id == signer_id)).first()
        if signer is None or signer.status != "pending" or signer.link_id is None:
            return
        link = db.exec(select(links.PatientLink).where(links.PatientLink.id == signer.link_id)).first()
        if link is None or links.refusal_reason(link) is not None or link.codes_sent >= nth:
            return  # used, expired, revoked, or this code was already issued
        to = readable(open_or_unreadable(db, signer, "email"))
        clinic = db.get(Clinic, signer.clinic_id)
        if not to or clinic is None:
            return
        try:
            code = links.issue_code(db, link)
        except links.LinkRefused:
            return  # too many codes for this link: the page says so
        context = {"clinic_name": clinic.name, "code": code,
                   "withdraw_url": withdraw_url(db, job, clinic, signer)}
        subject = job.translate(CODE_SUBJECT, clinic=clinic.name)
        text = job.render("consent/messages/code.txt", **context)
    _deliver(job, key, to, subject, text, signer, "code")


def send_access_code(link_id: int, nth: int, job: JobContext) -> None:
    """E-mail a one-time code for a "who looked at my file" link, to the address it was sent to."""
    from carnet_consent.services import accesses

    key = f"consent.access_code:{link_id}:{nth}"
    with job.session() as db:
        if already_done(db, key):
            return
        link = db.exec(select(links.PatientLink).where(links.PatientLink.id == link_id)).first()
        if link is None or link.purpose != accesses.ACCESSES or links.refusal_reason(link) is not None:
            return
        try:
            accesses.check_enabled(db)
        except accesses.AccessesOff:
            return  # switched off since the page asked: no code
        if link.codes_sent >= nth:
            return  # this code was already issued
        signer = db.exec(select(Signer).where(Signer.id == link.subject_id)).first()
        to = readable(open_or_unreadable(db, signer, "email")) if signer is not None else None
        clinic = db.get(Clinic, link.clinic_id)
        if signer is None or not to or clinic is None:
            return
        try:
            code = links.issue_code(db, link)
        except links.LinkRefused:
            return
        subject = job.translate(ACCESS_CODE_SUBJECT, clinic=clinic.name)
        text = job.render("consent/messages/access_code.txt", clinic_name=clinic.name, code=code)
    _deliver(job, key, to, subject, text, signer, "access_code")


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
        until = format_date(issued.link.expires_at, "d MMMM y", locale=job.settings.locale)
        context = {"clinic_name": clinic.name, "until": until,
                   "url": job.patient_url(clinic.slug, f"r/{issued.token}")}
        subject = job.translate(RIGHTS_SUBJECT, clinic=clinic.name)
        text = job.render("consent/messages/rights_export.txt", **context)
    send_mail(job.settings, Mail(to=to, subject=subject, text=text), key=key)
    with job.session() as db:
        if once(db, key):
            record(db, action="send", resource_type="consent_rights_request", resource_id=request_id,
                   patient_id=request.patient_id, details={"kind": "export_link"}, actor=f"job:{job.actor}")


def _send_rights_link_code(job: JobContext, key: str, link_id: int, nth: int, purpose: str,
                           to_of: Any, subject: str, template: str, resource_id_of: Any) -> None:
    """E-mail the one-time code of a rights link (`purpose`) to the address `to_of(db, link)` gives,
    once per code (`nth`): a used, expired or revoked link, or a code already issued, sends nothing."""
    with job.session() as db:
        if already_done(db, key):
            return
        link = db.exec(select(links.PatientLink).where(links.PatientLink.id == link_id)).first()
        if link is None or link.purpose != purpose or links.refusal_reason(link) is not None:
            return
        if link.codes_sent >= nth:
            return
        to = to_of(db, link)
        clinic = db.get(Clinic, link.clinic_id)
        if not to or clinic is None:
            return
        try:
            code = links.issue_code(db, link)
        except links.LinkRefused:
            return
        title = job.translate(subject, clinic=clinic.name)
        text = job.render(template, clinic_name=clinic.name, code=code)
        patient_id, resource_id = link.patient_id, resource_id_of(link)
    send_mail(job.settings, Mail(to=to, subject=title, text=text), key=key)
    with job.session() as db:
        if once(db, key):
            record(db, action="send", resource_type="consent_rights_request", resource_id=resource_id,
                   patient_id=patient_id, details={"kind": "code"}, actor=f"job:{job.actor}")


def send_rights_code(link_id: int, nth: int, job: JobContext) -> None:
    """E-mail the one-time code of an export link, to the patient's address."""
    from carnet_consent.services import rights

    _send_rights_link_code(job, f"consent.rights_code:{link_id}:{nth}", link_id, nth, rights.DELIVERY,
                           lambda db, link: _patient_email(db, link.patient_id), RIGHTS_CODE_SUBJECT,
                           "consent/messages/rights_code.txt", lambda link: link.subject_id)


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
        until = format_date(issued.link.expires_at, "d MMMM y", locale=job.settings.locale)
        context = {"clinic_name": clinic.name, "until": until,
                   "url": job.patient_url(clinic.slug, f"rights/{issued.token}")}
        subject = job.translate(RIGHTS_ASK_SUBJECT, clinic=clinic.name)
        text = job.render("consent/messages/rights_ask.txt", **context)
    send_mail(job.settings, Mail(to=to, subject=subject, text=text), key=key)
    with job.session() as db:
        if once(db, key):
            record(db, action="send", resource_type="consent_rights_request", patient_id=patient_id,
                   details={"kind": "request_link"}, actor=f"job:{job.actor}")


def send_rights_ask_code(link_id: int, nth: int, job: JobContext) -> None:
    """E-mail the one-time code of a public request's link, to the same address on file."""
    from carnet_consent.services import rights_online

    _send_rights_link_code(job, f"{rights_online.CODE_ACTOR}:{link_id}:{nth}", link_id, nth, rights_online.ASK,
                           rights_online.recipient, RIGHTS_ASK_CODE_SUBJECT, "consent/messages/rights_ask_code.txt",
                           lambda link: None)
