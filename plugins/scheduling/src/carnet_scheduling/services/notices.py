"""Telling patients about changes the practice makes: a moved or cancelled appointment, a whole
day cancelled (the practitioner is ill).

The messages are the ones patients get when they act through their own link (`cancelled`, and
`moved` with a new manage link and the calendar file), sent by `jobs.send_message` after the
change commits: by e-mail when the patient (or the holder of parental authority who receives
messages) has an address, else by SMS when they allow SMS and an SMS provider is installed, else
staff are told to call. Bodies
carry a time, a practitioner and a place, never the care or the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import CarnetSession, enqueue, purpose_allowed, record, sms_transport, utcnow
from carnet_scheduling.models import BOOKED, Appointment
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services.calendar import local_date, local_day_bounds
from carnet_scheduling.services.contacts import patient_contact
from carnet_scheduling.services.context import clinic_tz, is_practitioner
from carnet_scheduling.services.errors import SchedulingError

MESSAGE_ACTOR = "scheduling.send_message"
EMAIL, SMS, CALL = "email", "sms", "call"
ABSENCE_KIND = "other"  # the absence recorded for a cancelled day (its label says why in the page's language)


def channel_for(host: Any, db: CarnetSession, patient_id: int) -> tuple[str, str | None]:
    """How a notice reaches the patient now: ("email", address), ("sms", phone) or ("call", phone
    or None). Asked again by the job at sending time, so a contact changed meanwhile is used.
    SMS only when a provider plugin delivers them (core's `sms_transport`): without one an SMS
    would only be written to the folder, and staff must call instead."""
    contact = patient_contact(db, patient_id)
    if contact is not None and contact.email:
        return EMAIL, contact.email
    phone = contact.phone if contact is not None else None
    if phone and sms_transport(host) is not None and purpose_allowed(host, db, patient_id, "sms_reminders"):
        return SMS, phone
    return CALL, phone


def tell_patient(db: CarnetSession, appt: Appointment, kind: str) -> None:
    """Enqueue the patient's message about a change staff made (`cancelled` or `moved`), in the
    change's transaction: nothing is sent if it rolls back."""
    if kind not in ("cancelled", "moved"):
        raise ValueError(f"unknown notice {kind!r}")
    enqueue(db, MESSAGE_ACTOR, kind, appt.id)


def day_appointments(db: CarnetSession, practitioner_id: int, the_day: date,
                     now: datetime | None = None) -> list[Appointment]:
    """The practitioner's booked appointments of that local day that have not started yet."""
    start, end = local_day_bounds(the_day, clinic_tz(db))
    now = now or utcnow()
    return list(db.exec(select(Appointment).where(
        Appointment.practitioner_id == practitioner_id, Appointment.status == BOOKED,
        Appointment.starts_at >= start, Appointment.starts_at < end, Appointment.starts_at > now,
    ).order_by(Appointment.starts_at, Appointment.id)))


@dataclass
class DayCancelled:
    """What `cancel_day` did: the appointments cancelled and how each patient is told."""

    appointments: list[Appointment] = field(default_factory=list)
    channels: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # appointment id -> channel, phone
    absence_id: int | None = None

    def count(self, channel: str) -> int:
        return sum(1 for c, _ in self.channels.values() if c == channel)


def check_day(db: CarnetSession, practitioner_id: int | None, the_day: date | None,
              now: datetime | None = None) -> None:
    if practitioner_id is None or not is_practitioner(db, practitioner_id):
        raise SchedulingError("practitioner", "choose a practitioner of this clinic")
    if the_day is None:
        raise SchedulingError("date", "give the day to cancel")
    if the_day < local_date(now or utcnow(), clinic_tz(db)):
        raise SchedulingError("date", "a past day cannot be cancelled")


def cancel_day(
    db: CarnetSession, host: Any, *, practitioner_id: int | None, the_day: date | None, reason: str,
    tell: bool = True, absent: bool = True, absence_label: str = "", hooks: Any = None,
    now: datetime | None = None,
) -> DayCancelled:
    """Cancel every appointment of the practitioner's day still to come, with the reason (sealed
    on each appointment), tell each patient (`tell`) and record the day as an absence (`absent`:
    no booking can take the times, and the waiting list is not offered them). Without `absent` the
    freed times are offered to the waiting list as after any cancellation. All or nothing: one
    refused cancellation rolls the whole day back (the request's transaction)."""
    from carnet_scheduling.services import setup

    check_day(db, practitioner_id, the_day, now)
    assert practitioner_id is not None and the_day is not None
    if not reason.strip():
        raise SchedulingError("reason", "say why the day is cancelled")
    done = DayCancelled()
    if absent:
        start, end = local_day_bounds(the_day, clinic_tz(db))
        done.absence_id = setup.add_exception(db, start, end, practitioner_id=practitioner_id, kind=ABSENCE_KIND,
                                              label=absence_label).id
    for appt in day_appointments(db, practitioner_id, the_day, now):
        appts.cancel(db, appt, reason, hooks=hooks)
        done.appointments.append(appt)
        if tell:
            done.channels[appt.id] = channel_for(host, db, appt.patient_id)  # type: ignore[index]
            tell_patient(db, appt, "cancelled")
    record(db, action="cancel", resource_type="scheduling_day", resource_id=f"{practitioner_id}:{the_day}",
           details={"day": the_day.isoformat(), "count": len(done.appointments), "told": tell, "absent": absent})
    return done
