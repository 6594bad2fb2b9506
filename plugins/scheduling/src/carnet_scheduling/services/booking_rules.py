"""Booking rules for staff and API bookings: an appointment lasts at least its type's duration, and a
time in the past or outside the practitioner's working hours is booked only when the caller says
so explicitly (an override, recorded in the audit record's details).

"Outside working hours": the practitioner has weekly hours and the appointment does not fit in one
of that weekday's blocks (clinic time zone), or it overlaps their time off or a clinic closure. A
practitioner without any weekly hours has nothing to compare with: only the past needs confirming.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import or_, select

from carnet_core.plugin_api import N_, CarnetSession, utcnow
from carnet_scheduling.models import AppointmentType, AvailabilityException, WorkingHours
from carnet_scheduling.services.calendar import to_local
from carnet_scheduling.services.context import clinic_tz
from carnet_scheduling.services.errors import SchedulingError

PAST = "past"
OUTSIDE_HOURS = "outside_hours"
TOO_SHORT = N_("The appointment is shorter than its type's duration.")
IN_THE_PAST = N_("This time is in the past: confirm to book it anyway.")
OUT_OF_HOURS = N_("This time is outside the practitioner's working hours: confirm to book it anyway.")


@dataclass(frozen=True)
class Overrides:
    """What the caller explicitly allows (API fields `allow_past`, `allow_outside_hours`; the
    dialog's "book anyway" checkbox)."""

    past: bool = False
    outside_hours: bool = False


def check_duration(kind: AppointmentType, starts_at: datetime, ends_at: datetime) -> None:
    if ends_at - starts_at < timedelta(minutes=kind.duration_minutes):
        raise SchedulingError("ends_at", TOO_SHORT)


def outside_hours(db: CarnetSession, practitioner_id: int, starts_at: datetime, ends_at: datetime) -> bool:
    blocks = db.exec(select(WorkingHours).where(WorkingHours.practitioner_id == practitioner_id)).all()
    if not blocks:
        return False
    tz = clinic_tz(db)
    start, end = to_local(starts_at, tz), to_local(ends_at, tz)
    if end.date() != start.date():
        return True
    inside = any(
        b.weekday == start.weekday() and b.start_time <= start.time() and end.time() <= b.end_time for b in blocks
    )
    if not inside:
        return True
    time_off = db.exec(select(AvailabilityException.id).where(
        AvailabilityException.starts_at < ends_at, AvailabilityException.ends_at > starts_at,
        or_(AvailabilityException.practitioner_id == practitioner_id,
            AvailabilityException.practitioner_id == None),  # noqa: E711 - a clinic closure
    )).first()
    return time_off is not None


def check_overrides(
    db: CarnetSession, practitioner_id: int, starts_at: datetime, ends_at: datetime, allowed: Overrides,
    now: datetime | None = None,
) -> list[str]:
    """The overrides this booking needs (for the audit record); SchedulingError naming the
    override field when one is needed and was not given."""
    used = []
    if starts_at < (now or utcnow()):
        if not allowed.past:
            raise SchedulingError("allow_past", IN_THE_PAST)
        used.append(PAST)
    if outside_hours(db, practitioner_id, starts_at, ends_at):
        if not allowed.outside_hours:
            raise SchedulingError("allow_outside_hours", OUT_OF_HOURS)
        used.append(OUTSIDE_HOURS)
    return used
