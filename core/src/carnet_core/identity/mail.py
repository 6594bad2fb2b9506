"""Account e-mails (enrollment invitation, password reset), sent by a job from the outbox.

A request only enqueues `core.send_account_link(user_id, purpose)` in its own transaction; the
job makes the single-use link (so its token never sits in the outbox or the broker, only its
hash in `core_onetime_link`) and sends the message. The body holds a link and nothing else:
no health data, no patient name.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from carnet_core.clinics.models import Clinic
from carnet_core.db.session import CarnetSession
from carnet_core.i18n import N_, load_catalogs
from carnet_core.identity.models import User
from carnet_core.jobs import JobContext, enqueue_with_options, once
from carnet_core.mail import Mail, send_mail
from carnet_core.settings import Settings

ACTOR = "core.send_account_link"
PURPOSES = ("enroll", "reset")
PATHS = {"enroll": "/enroll/", "reset": "/password/reset/"}
SUBJECTS = {
    "enroll": N_("Your Carnet account is waiting for you"),
    "reset": N_("Reset your Carnet password"),
}
# A reset mail that could not leave for a day is no longer what the person is waiting for.
MAX_AGE = {"enroll": None, "reset": timedelta(hours=24)}


def enqueue_account_link(db: CarnetSession, user_id: int, purpose: str, clinic_id: int | None = None) -> None:
    """Ask for a fresh `purpose` link to be e-mailed to the user once `db` commits."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}")
    enqueue_with_options(
        db, ACTOR, args=[user_id, purpose], clinic_id=clinic_id, max_age=MAX_AGE[purpose]
    )


def mail_locale(settings: Settings, clinic: Clinic | None) -> str:
    """The clinic's language when clinics carry one, else the deployment's (default French)."""
    return getattr(clinic, "locale", None) or settings.locale


def compose(settings: Settings, host: Any, purpose: str, to: str, token: str, clinic: Clinic | None) -> Mail:
    """The message for `purpose`, in the recipient's clinic language: plain text and HTML."""
    from carnet_core.web.templating import build_environment

    catalogs = load_catalogs(host)
    env = build_environment(host, catalogs)
    locale = mail_locale(settings, clinic)
    context = {
        "locale": locale,
        "purpose": purpose,
        "link": f"{settings.base_url}{PATHS[purpose]}{token}",
        "clinic_name": clinic.name if clinic is not None else None,
    }
    return Mail(
        to=to,
        subject=catalogs.gettext(locale, SUBJECTS[purpose]),
        text=env.get_template("core/mail/account_link.txt").render(context),
        html=env.get_template("core/mail/account_link.html").render(context),
        headers={"Auto-Submitted": "auto-generated"},
    )


def send_account_link(user_id: int, purpose: str, job: JobContext) -> None:
    """The `core.send_account_link` actor: make the link and send it, once per message.

    The idempotency key, the new link and the send are one transaction: if sending fails the
    link and the key roll back and the retry starts afresh; a second delivery of a sent
    message finds the key and does nothing.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}")
    from carnet_core.identity import services

    with job.session(unscoped=True) as db:
        if not once(db, job.key()):
            return
        user = db.get(User, user_id)
        if user is None or user.disabled:
            return
        if (purpose == "enroll") == user.enrolled:
            return  # enrolled meanwhile (no invitation needed) / not enrolled (nothing to reset)
        clinic = db.get(Clinic, job.clinic_id) if job.clinic_id is not None else None
        if purpose == "enroll" and clinic is not None and services.membership(db, user.id, clinic.id) is None:
            return  # removed from the clinic before the invitation left
        token = services.create_link(db, user.id, purpose)
        message = compose(job.settings, job.host, purpose, user.email, token, clinic)
        send_mail(job.settings, message, key=job.key())


# --- login alert --------------------------------------------------------------------------

ALERT_ACTOR = "core.send_login_alert"
ALERT_SUBJECT = N_("Failed attempts to log in to your Carnet account")


def enqueue_login_alert(db: CarnetSession, user_id: int, clinic_id: int | None = None) -> None:
    """Tell the account holder, once `db` commits, that strangers are trying their password
    (identity.services.warn_owner_if_attacked decides when: at most once per window)."""
    enqueue_with_options(db, ALERT_ACTOR, args=[user_id], clinic_id=clinic_id, max_age=timedelta(hours=24))


def compose_login_alert(settings: Settings, host: Any, to: str, clinic: Clinic | None) -> Mail:
    """No secret, no address of the attacker, no link to click: the message says what happens
    and what to do, and where to go by typing the address."""
    from carnet_core.web.templating import build_environment

    catalogs = load_catalogs(host)
    env = build_environment(host, catalogs)
    locale = mail_locale(settings, clinic)
    context = {"locale": locale, "base_url": settings.base_url}
    return Mail(
        to=to,
        subject=catalogs.gettext(locale, ALERT_SUBJECT),
        text=env.get_template("core/mail/login_alert.txt").render(context),
        html=env.get_template("core/mail/login_alert.html").render(context),
        headers={"Auto-Submitted": "auto-generated"},
    )


def send_login_alert(user_id: int, job: JobContext) -> None:
    """The `core.send_login_alert` actor: one message per enqueued alert (idempotency key and send
    in one transaction, like `send_account_link`)."""
    with job.session(unscoped=True) as db:
        if not once(db, job.key()):
            return
        user = db.get(User, user_id)
        if user is None or user.disabled:
            return
        clinic = db.get(Clinic, job.clinic_id) if job.clinic_id is not None else None
        send_mail(job.settings, compose_login_alert(job.settings, job.host, user.email, clinic), key=job.key())
