"""Scheduling jobs: they take ids, reload state, and are safe to run twice.

Exactly once for a message: the body is delivered under an idempotency key (a repeated delivery
replaces the same file, see `carnet_core.mail.send_mail`), and the key is recorded with the
"sent" status in one transaction afterwards. A worker killed between the delivery and that
record leaves the message to be delivered again under the same key, which replaces it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from carnet_core.plugin_api import (
    JobContext,
    already_done,
    links,
    once,
    purpose_allowed,
    record,
    record_at_commit,
    utcnow,
)
from carnet_scheduling import messages
from carnet_scheduling.models import BOOKED, Appointment
from carnet_scheduling.patient_models import CANCELLED, FAILED, SCHEDULED, SENT, Reminder
from carnet_scheduling.services import reminders
from carnet_scheduling.services.contacts import patient_contact

REMINDER_RETRIES = 5
CONSENT_WITHDRAWN = reminders.CONSENT_WITHDRAWN
MANAGE = "scheduling.manage"


def reminder_key(reminder_id: int, due: str) -> str:
    return f"scheduling.reminder:{reminder_id}:{due}"


def manage_link(db: Any, appt: Appointment, settings: Any, clinic: Any) -> str:
    """A link to see, cancel or move the appointment, valid until it starts."""
    issued = links.issue(db, purpose=MANAGE, subject_type="scheduling_appointment", subject_id=appt.id,
                   patient_id=appt.patient_id, expires_at=appt.starts_at, max_uses=1)
    return messages.public_url(settings, clinic, f"a/{issued.token}")


def _finish(reminder: Reminder, status: str, detail: str | None = None) -> None:
    reminder.status = status
    reminder.detail = detail
    reminder.updated_at = utcnow()
    if status == SENT:
        reminder.sent_at = reminder.updated_at


def send_reminder(reminder_id: int, due: str, job: JobContext) -> None:
    """Send one reminder if it is still wanted: scheduled, due as planned, appointment booked and
    in the future, patient reachable on the channel.

    Two transactions, as few round trips as they can: the first reads the reminder, its
    appointment, rule, switches, effect key, clinic, practitioner and place in one query
    (`reminders.to_send`), then the patient's contact (one more), counts the attempt and issues
    the link, and commits with the audit record of the address read before anything leaves; the
    second, after the delivery, claims the key, marks the reminder sent and records the "send",
    without waiting for the disk (see below)."""
    key = reminder_key(reminder_id, due)
    lang = messages.Lang(job.host, job.settings.locale)
    with job.session() as db:
        found = reminders.to_send(db, reminder_id, key)
        if found is None or found.reminder.status != SCHEDULED or found.reminder.due_at.isoformat() != due:
            return  # cancelled, already sent, or re-planned (a newer job carries the new time)
        reminder, appt = found.reminder, found.appointment
        if found.done:
            _finish(reminder, SENT)
            db.add(reminder)
            return
        if appt is None or appt.status != BOOKED:
            _finish(reminder, CANCELLED, "appointment cancelled")
            db.add(reminder)
            return
        if appt.starts_at <= utcnow():
            _finish(reminder, CANCELLED, "appointment already started")
            db.add(reminder)
            return
        if not found.wanted:
            _finish(reminder, CANCELLED, "switched off")  # before its re-planning job ran
            db.add(reminder)
            return
        if reminder.channel == "sms" and not purpose_allowed(job.host, db, appt.patient_id, "sms_reminders"):
            _finish(reminder, CANCELLED, CONSENT_WITHDRAWN)  # the patient does not allow SMS reminders now
            db.add(reminder)
            return
        contact = patient_contact(db, appt.patient_id, reminder.channel)
        address = None if contact is None else (contact.email if reminder.channel == "email" else contact.phone)
        if not address:
            _finish(reminder, FAILED, f"no {'e-mail address' if reminder.channel == 'email' else 'phone'} on file")
            db.add(reminder)
            return
        facts = messages.facts_of(found.clinic, appt, found.practitioner, found.place, lang)
        reminder.attempts += 1
        db.add(reminder)
        context = facts.context() | {"manage_url": manage_link(db, appt, job.settings, facts.clinic)}
        channel = reminder.channel
    try:
        if channel == "email":
            body = messages.render(lang, "scheduling/messages/reminder.txt", context)
            subject = messages.translate(lang, "Reminder: your appointment on %(when)s", when=facts.when)
            messages.deliver_email(job.settings, address, subject, body, key)
        else:
            body = messages.render(lang, "scheduling/messages/reminder_sms.txt", context)
            messages.deliver_sms(job.host, job.settings, address, body, key)
    except Exception as exc:
        if job.retries >= REMINDER_RETRIES:
            with job.session() as db:
                reminder = db.exec(select(Reminder).where(Reminder.id == reminder_id)).first()
                if reminder is not None and reminder.status == SCHEDULED:
                    _finish(reminder, FAILED, f"delivery failed: {type(exc).__name__}")
                    db.add(reminder)
        raise
    # Not durable (one durable commit a reminder, the first): lost in a database crash, this record
    # goes with the outbox's "done" mark written after it, so the job runs again and delivers again
    # under the same key, which replaces the message (as after a worker killed right here).
    with job.session(durable=False) as db:
        if not once(db, key):
            return  # a concurrent delivery of the same message recorded it first
        now = utcnow()  # _finish(SENT) as one UPDATE: the row needs no reading back
        db.execute(sa.update(Reminder).where(Reminder.id == reminder_id)  # type: ignore[arg-type]
                   .values(status=SENT, detail=None, updated_at=now, sent_at=now))
        # at commit, with the trace: the clinic's chain head is locked only for the commit
        record_at_commit(db, action="send", resource_type="appointment_reminder", resource_id=reminder_id,
                         patient_id=appt.patient_id, details={"channel": channel, "appointment": appt.id},
                         actor=f"job:{job.actor}")


def replan_reminders(subject: dict[str, int], job: JobContext) -> None:
    """Plan again the reminders of the booked future appointments (all, or one practitioner's,
    appointment type's or patient's) in batches, one transaction each: the web keeps writing in
    between. Safe to run twice: planning an appointment again changes nothing planned already."""
    last = 0
    while True:
        with job.session() as db:
            count, last = reminders.replan(db, after_id=last, limit=reminders.REPLAN_BATCH, **subject)
        if count < reminders.REPLAN_BATCH:
            return


# --- messages to patients and practitioners ---------------------------------------------------

PATIENT_KINDS = ("booking_code", "booking_confirmed", "cancelled", "moved")
PRACTITIONER_KINDS = ("practitioner_booked", "practitioner_cancelled", "practitioner_moved")


def send_message(kind: str, subject_id: int, job: JobContext) -> None:
    """Send one e-mail of `kind` about `subject_id` (an online booking, an appointment, an offer or a
    waiting-list file). Links and codes are issued here, at sending time: only their hashes are
    stored, so they never sit in the outbox."""
    from carnet_scheduling import outgoing

    key = job.key()
    lang = messages.Lang(job.host, job.settings.locale)
    with job.session() as db:
        if already_done(db, key):
            return
        prepared = outgoing.prepare(db, kind, subject_id, job.settings, lang)
    if prepared is None:
        return  # nothing to say any more (cancelled meanwhile, no address on file)
    if prepared.channel == "sms":
        messages.deliver_sms(job.host, job.settings, prepared.to, prepared.text, key)
    else:
        messages.deliver_email(job.settings, prepared.to, prepared.subject, prepared.text, key, prepared.attachments)
    with job.session() as db:
        if once(db, key):
            record(db, action="send", resource_type=prepared.resource_type, resource_id=subject_id,
                   patient_id=prepared.patient_id, details={"kind": kind, "channel": prepared.channel},
                   actor=f"job:{job.actor}")


def release_unconfirmed(clinic_id: int, job: JobContext) -> None:
    """Periodic, per clinic: free the slots of online bookings not confirmed in time."""
    from carnet_scheduling.services.booking import release_unconfirmed as release

    hooks = job.host.for_clinic({"scheduling"})
    with job.session(clinic_id=clinic_id) as db:
        db.info["principal"] = f"job:{job.actor}"
        release(db, hooks)


def _rules(job: JobContext) -> tuple[Any, Any]:
    from carnet_scheduling.services.waitlist import PriorityRules, WaitRules
    from carnet_scheduling.settings import SchedulingSettings

    settings = job.settings.plugins.get("scheduling") or SchedulingSettings()
    return WaitRules.from_settings(settings), PriorityRules.from_settings(settings)


def offer_freed_slot(appointment_id: int, job: JobContext) -> None:
    """After a cancellation: offer the time to the waiting list, if it is still free."""
    from carnet_scheduling.models import CANCELLED as APPT_CANCELLED
    from carnet_scheduling.services import appointments as appts
    from carnet_scheduling.services import waitlist

    wait_rules, priorities = _rules(job)
    with job.session() as db:
        db.info["principal"] = f"job:{job.actor}"
        if not once(db, job.key()):
            return
        appt = db.exec(select(Appointment).where(Appointment.id == appointment_id)).first()
        if appt is None or appt.status != APPT_CANCELLED:
            return
        if appts.overlapping(db, appt.starts_at, appt.ends_at, practitioner_id=appt.practitioner_id,
                             room_id=appt.room_id):
            return  # someone has the time already
        waitlist.offer_freed_slot(db, appt, wait_rules, priorities)


def offer_open_slots(practitioner_id: int, job: JobContext) -> None:
    """After an offer closed (taken by another file, declined): the practitioner's freed times
    nobody holds an offer for go to the files now free."""
    from carnet_scheduling.services import waitlist

    wait_rules, priorities = _rules(job)
    with job.session() as db:
        db.info["principal"] = f"job:{job.actor}"
        if not once(db, job.key()):
            return
        waitlist.offer_open_slots(db, practitioner_id, wait_rules, priorities)


def expire_offers(clinic_id: int, job: JobContext) -> None:
    """Periodic, per clinic: close lapsed offers and offer still-free slots to the next files."""
    from carnet_scheduling.services import waitlist

    wait_rules, priorities = _rules(job)
    with job.session(clinic_id=clinic_id) as db:
        db.info["principal"] = f"job:{job.actor}"
        waitlist.expire_offers(db, wait_rules, priorities)


def waitlist_reconfirm(clinic_id: int, job: JobContext) -> None:
    """Periodic, per clinic: "still interested?" to old files; remove the silent ones."""
    from carnet_scheduling.services import waitlist

    wait_rules, _ = _rules(job)
    with job.session(clinic_id=clinic_id) as db:
        db.info["principal"] = f"job:{job.actor}"
        waitlist.still_interested_round(db, wait_rules)
