"""What each message says and to whom (used by `jobs.send_message`, inside its transaction)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import Attachment, User, links
from carnet_scheduling import messages
from carnet_scheduling.models import BOOKED, CANCELLED, Appointment
from carnet_scheduling.patient_models import OnlineBooking
from carnet_scheduling.services.contacts import patient_contact


@dataclass
class Prepared:
    to: str
    subject: str
    text: str
    resource_type: str
    patient_id: int | None = None
    attachments: list[Attachment] = field(default_factory=list)
    channel: str = "email"  # or "sms": `to` is then a phone number and `subject` unused


def _appointment(db: Any, appointment_id: int) -> Appointment | None:
    return db.exec(select(Appointment).where(Appointment.id == appointment_id)).first()


def _manage_url(db: Any, appt: Appointment, settings: Any, clinic: Any) -> str:
    issued = links.issue(db, purpose="scheduling.manage", subject_type="scheduling_appointment",
                         subject_id=appt.id, patient_id=appt.patient_id, expires_at=appt.starts_at, max_uses=1)
    return messages.public_url(settings, clinic, f"a/{issued.token}")


def prepare(db: Any, kind: str, subject_id: int, settings: Any, lang: messages.Lang) -> Prepared | None:
    if kind == "booking_code":
        return _booking_code(db, subject_id, settings, lang)
    if kind in ("booking_confirmed", "cancelled", "moved"):
        return _to_patient(db, kind, subject_id, settings, lang)
    if kind.startswith("practitioner_"):
        return _to_practitioner(db, kind, subject_id, settings, lang)
    if kind in ("offer", "waitlist_reconfirm", "waitlist_received", "waitlist_refused"):  # the waiting list
        from carnet_scheduling.services.waitlist import prepare_message

        return prepare_message(db, kind, subject_id, settings, lang)
    raise ValueError(f"unknown message kind {kind!r}")


def _booking_code(db: Any, booking_id: int, settings: Any, lang: messages.Lang) -> Prepared | None:
    booking = db.exec(select(OnlineBooking).where(OnlineBooking.id == booking_id)).first()
    if booking is None or booking.confirmed_at is not None or booking.released_at is not None:
        return None
    appt = _appointment(db, booking.appointment_id)
    link = db.exec(select(links.PatientLink).where(links.PatientLink.id == booking.link_id)).first()
    if appt is None or appt.status != BOOKED or link is None or links.refusal_reason(link):
        return None
    contact = patient_contact(db, appt.patient_id)
    if contact is None or not contact.email:
        return None
    code = links.issue_code(db, link)
    by_mail = links.issue(db, purpose="scheduling.confirm_mail", subject_type="scheduling_appointment",
                          subject_id=appt.id, patient_id=appt.patient_id, expires_at=booking.confirm_by)
    facts = messages.appointment_facts(db, appt, lang)
    context = facts.context() | {
        "code": code, "confirm_url": messages.public_url(settings, facts.clinic, f"c/{by_mail.token}"),
    }
    return Prepared(
        to=contact.email, subject=messages.translate(lang, "Confirm your appointment: code %(code)s", code=code),
        text=messages.render(lang, "scheduling/messages/booking_code.txt", context),
        resource_type="appointment", patient_id=appt.patient_id,
    )


def _to_patient(db: Any, kind: str, appointment_id: int, settings: Any, lang: messages.Lang) -> Prepared | None:
    """The patient's e-mail about their appointment. A cancellation or a move made by staff
    (`cancelled`, `moved`) goes by SMS when there is no e-mail address and the patient allows SMS."""
    from carnet_scheduling.services.notices import SMS, channel_for

    appt = _appointment(db, appointment_id)
    if appt is None:
        return None
    if kind in ("booking_confirmed", "moved") and appt.status != BOOKED:
        return None
    if kind == "cancelled" and appt.status != CANCELLED:
        return None
    if kind == "booking_confirmed":
        contact = patient_contact(db, appt.patient_id)
        channel, to = "email", contact.email if contact is not None else None
    else:
        channel, to = channel_for(lang.host, db, appt.patient_id)
    if channel not in ("email", SMS) or not to:
        return None
    facts = messages.appointment_facts(db, appt, lang)
    context = facts.context()
    if kind in ("booking_confirmed", "moved"):
        context["manage_url"] = _manage_url(db, appt, settings, facts.clinic)
    if channel == SMS:
        return Prepared(to=to, subject="", text=messages.render(lang, f"scheduling/messages/{kind}_sms.txt", context),
                        resource_type="appointment", patient_id=appt.patient_id, channel=SMS)
    uid = f"appointment-{appt.id}@{settings.base_url.split('://', 1)[-1]}"
    if kind == "booking_confirmed":
        subject = messages.translate(lang, "Your appointment on %(when)s is confirmed", when=facts.when)
        attachment = messages.ics_attachment(facts, uid)
    elif kind == "moved":
        subject = messages.translate(lang, "Your appointment has been moved to %(when)s", when=facts.when)
        attachment = messages.ics_attachment(facts, uid)
    else:
        subject = messages.translate(lang, "Your appointment on %(when)s is cancelled", when=facts.when)
        attachment = messages.ics_attachment(facts, uid, method="CANCEL")
    return Prepared(to=to, subject=subject,
                    text=messages.render(lang, f"scheduling/messages/{kind}.txt", context),
                    resource_type="appointment", patient_id=appt.patient_id, attachments=[attachment])


def _to_practitioner(db: Any, kind: str, appointment_id: int, settings: Any, lang: messages.Lang) -> Prepared | None:
    appt = _appointment(db, appointment_id)
    if appt is None:
        return None
    user = db.get(User, appt.practitioner_id)
    if user is None or user.disabled:
        return None
    facts = messages.appointment_facts(db, appt, lang)
    subjects = {
        "practitioner_booked": messages.translate(lang, "New online booking on %(when)s", when=facts.when),
        "practitioner_cancelled": messages.translate(lang, "Cancellation by a patient: %(when)s", when=facts.when),
        "practitioner_moved": messages.translate(lang, "Appointment moved by a patient: %(when)s", when=facts.when),
    }
    context = facts.context() | {"kind": kind, "agenda_url": f"{settings.base_url}/scheduling/online"}
    # No patient name, no care: the practitioner opens Carnet to see who and what.
    return Prepared(to=user.email, subject=subjects[kind],
                    text=messages.render(lang, "scheduling/messages/practitioner.txt", context),
                    resource_type="appointment", patient_id=None)
