"""Appointments: book, move, cancel, mark attendance; sealed notes; every change audited.

No double booking is the database's job (exclusion constraints / triggers, see models.py); the
checks here only give a friendly answer in the common case. When the database refuses a write the
unit of work is rolled back and SlotTaken carries the appointment that holds the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlmodel import col, select

from carnet_core.plugin_api import CarnetSession, open_or_unreadable, record, seal, utcnow
from carnet_scheduling.models import (
    ABSENT,
    BOOKED,
    CANCELLED,
    EXCUSED,
    HONOURED,
    MAX_LENGTH,
    Appointment,
    AppointmentType,
    Place,
    Room,
    overlapping_window,
)
from carnet_scheduling.services.booking_rules import Overrides, check_duration, check_overrides
from carnet_scheduling.services.calendar import local_date
from carnet_scheduling.services.context import clinic_tz, is_practitioner, notify, patient_exists
from carnet_scheduling.services.errors import NotFound, SchedulingError, SlotTaken, free_text
from carnet_scheduling.services.recurrence import PATIENT_SAME_DAY, PRACTITIONER_BUSY, ROOM_BUSY

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_REASON = 300
MAX_NOTES = 20_000


def check_start(starts_at: datetime) -> None:
    """Before any arithmetic on the start: a start near the end of the calendar would overflow."""
    if starts_at.tzinfo is None:
        raise SchedulingError("starts_at", "give a time with its offset, e.g. 2026-09-01T17:00:00+02:00")
    if not EARLIEST <= starts_at < LATEST:
        raise SchedulingError("starts_at", "give a date between 2000 and 2099")


def check_times(starts_at: datetime, ends_at: datetime) -> None:
    check_start(starts_at)
    if ends_at.tzinfo is None:
        raise SchedulingError("ends_at", "give a time with its offset, e.g. 2026-09-01T17:00:00+02:00")
    if ends_at <= starts_at:
        raise SchedulingError("ends_at", "the end must be after the start")
    if ends_at - starts_at > MAX_LENGTH:
        raise SchedulingError("ends_at", "an appointment lasts 12 hours at most")


def get_type(db: CarnetSession, type_id: int) -> AppointmentType:
    found = db.exec(select(AppointmentType).where(AppointmentType.id == type_id)).first()
    if found is None:
        raise SchedulingError("appointment_type_id", "no such appointment type in this clinic")
    return found


def get_appointment(db: CarnetSession, appointment_id: int) -> Appointment:
    found = db.exec(select(Appointment).where(Appointment.id == appointment_id)).first()
    if found is None:
        raise NotFound("appointment")
    return found


def _check_room(db: CarnetSession, room_id: int | None, place_id: int | None) -> int | None:
    """Validate the room (and place); return the place id to store."""
    if room_id is not None:
        room = db.exec(select(Room).where(Room.id == room_id, Room.active == True)).first()  # noqa: E712
        if room is None:
            raise SchedulingError("room_id", "no such room in this clinic")
        if place_id is not None and place_id != room.place_id:
            raise SchedulingError("room_id", "the room is not at the chosen place")
        return room.place_id
    if place_id is not None and db.exec(select(Place).where(Place.id == place_id)).first() is None:
        raise SchedulingError("place_id", "no such place in this clinic")
    return place_id


def overlapping(
    db: CarnetSession, starts_at: datetime, ends_at: datetime, *, practitioner_id: int | None = None,
    room_id: int | None = None, exclude: Sequence[int] = (),
) -> list[Appointment]:
    """Non-cancelled appointments of this clinic overlapping [starts_at, ends_at) for the
    practitioner or the room."""
    if practitioner_id is None and room_id is None:
        return []
    who = []
    if practitioner_id is not None:
        who.append(Appointment.practitioner_id == practitioner_id)
    if room_id is not None:
        who.append(Appointment.room_id == room_id)
    from sqlalchemy import or_

    query = select(Appointment).where(
        Appointment.status != CANCELLED, overlapping_window(starts_at, ends_at), or_(*who)
    )
    if exclude:
        query = query.where(col(Appointment.id).not_in(list(exclude)))
    return list(db.exec(query.order_by(Appointment.starts_at)))


def _precheck(db: CarnetSession, appt: Appointment) -> None:
    exclude = [appt.id] if appt.id is not None else []
    for other in overlapping(db, appt.starts_at, appt.ends_at, practitioner_id=appt.practitioner_id,
                             room_id=appt.room_id, exclude=exclude):
        reason = PRACTITIONER_BUSY if other.practitioner_id == appt.practitioner_id else ROOM_BUSY
        raise SlotTaken(reason, other)
    if appt.billable:
        query = select(Appointment).where(
            Appointment.patient_id == appt.patient_id, Appointment.local_day == appt.local_day,
            Appointment.billable == True, Appointment.status != CANCELLED,  # noqa: E712
        )
        if exclude:
            query = query.where(Appointment.id != appt.id)
        other = db.exec(query).first()
        if other is not None:
            raise SlotTaken(PATIENT_SAME_DAY, other)


def _reason_of(error: sa_exc.IntegrityError) -> str | None:
    text = str(error.orig).lower()
    if "practitioner_overlap" in text or "xc_scheduling_appointment_practitioner" in text:
        return PRACTITIONER_BUSY
    if "room_overlap" in text or "xc_scheduling_appointment_room" in text:
        return ROOM_BUSY
    if "billable_day" in text or "scheduling_appointment.local_day" in text:
        return PATIENT_SAME_DAY
    return None


def _flush_or_slot_taken(db: CarnetSession, appt: Appointment) -> None:
    """Flush; when the database refuses the time, roll back and raise SlotTaken with the holder."""
    snapshot = (appt.practitioner_id, appt.room_id, appt.patient_id, appt.starts_at, appt.ends_at,
                appt.local_day, appt.id)
    try:
        db.flush()
    except sa_exc.IntegrityError as error:
        reason = _reason_of(error)
        db.rollback()
        if reason is None:
            raise
        practitioner_id, room_id, patient_id, starts_at, ends_at, local_day, own_id = snapshot
        exclude = [own_id] if own_id is not None else []
        conflict = None
        if reason == PATIENT_SAME_DAY:
            conflict = db.exec(select(Appointment).where(
                Appointment.patient_id == patient_id, Appointment.local_day == local_day,
                Appointment.status != CANCELLED, Appointment.billable == True,  # noqa: E712
            )).first()
        else:
            found = overlapping(
                db, starts_at, ends_at, exclude=exclude,
                practitioner_id=practitioner_id if reason == PRACTITIONER_BUSY else None,
                room_id=room_id if reason == ROOM_BUSY else None,
            )
            conflict = found[0] if found else None
        raise SlotTaken(reason, conflict) from None


def book(
    db: CarnetSession,
    *,
    practitioner_id: int,
    patient_id: int,
    appointment_type_id: int,
    starts_at: datetime,
    ends_at: datetime | None = None,
    room_id: int | None = None,
    place_id: int | None = None,
    series_id: int | None = None,
    notes: str | None = None,
    source: str = "staff",
    actor_user_id: int | None = None,
    hooks: Any = None,
    audit: bool = True,
    overrides: Overrides | None = None,
) -> Appointment:
    """Book an appointment (status booked). Raises SchedulingError, or SlotTaken when the time is held.

    An explicit `ends_at` gives at least the type's duration. With `overrides` (staff and API
    bookings) a time in the past or outside the practitioner's hours needs the matching override,
    recorded in the audit record."""
    kind = get_type(db, appointment_type_id)
    if not kind.active:
        raise SchedulingError("appointment_type_id", "this appointment type is archived")
    check_start(starts_at)
    if ends_at is not None:
        check_times(starts_at, ends_at)
        check_duration(kind, starts_at, ends_at)
    ends_at = ends_at or starts_at + timedelta(minutes=kind.duration_minutes)
    check_times(starts_at, ends_at)
    if not is_practitioner(db, practitioner_id):
        raise SchedulingError("practitioner_id", "no such practitioner in this clinic")
    if not patient_exists(db, patient_id):
        raise SchedulingError("patient_id", "no such patient in this clinic")
    place_id = _check_room(db, room_id, place_id)
    if notes is not None and len(notes) > MAX_NOTES:
        raise SchedulingError("notes", f"notes hold {MAX_NOTES} characters at most")
    used = check_overrides(db, practitioner_id, starts_at, ends_at, overrides) if overrides is not None else []
    appt = Appointment(
        practitioner_id=practitioner_id, patient_id=patient_id, appointment_type_id=kind.id,
        room_id=room_id, place_id=place_id, series_id=series_id,
        starts_at=starts_at.astimezone(UTC), ends_at=ends_at.astimezone(UTC),
        local_day=local_date(starts_at, clinic_tz(db)), status=BOOKED, billable=kind.billable,
        source=source, created_by=actor_user_id,
    )
    _precheck(db, appt)
    db.add(appt)
    _flush_or_slot_taken(db, appt)
    if notes:
        set_notes(db, appt, notes, audit=False)
    if audit:
        details: dict[str, Any] = {"source": source, "series_id": series_id}
        if used:
            details["override"] = used  # e.g. ["past", "outside_hours"]: said explicitly by the caller
        record(db, action="create", resource_type="appointment", resource_id=appt.id, patient_id=patient_id,
               details=details)
    notify(hooks, "scheduling_appointment_booked", appointment=appt, modality=kind.modality, db=db)
    return appt


def move(
    db: CarnetSession, appt: Appointment, starts_at: datetime, ends_at: datetime | None = None, *,
    room_id: int | None | type = ..., hooks: Any = None, audit: bool = True, overrides: Overrides | None = None,
) -> Appointment:
    """Move a booked appointment to a new time (and room). Raises SlotTaken when the time is held.
    An explicit `ends_at` keeps at least the type's duration; `overrides` as for `book`."""
    if appt.status != BOOKED:
        raise SchedulingError("status", "only a booked appointment can be moved")
    check_start(starts_at)
    if ends_at is not None:
        check_times(starts_at, ends_at)
        check_duration(get_type(db, appt.appointment_type_id), starts_at, ends_at)
    ends_at = ends_at or starts_at + (appt.ends_at - appt.starts_at)
    check_times(starts_at, ends_at)
    used = (check_overrides(db, appt.practitioner_id, starts_at, ends_at, overrides)
            if overrides is not None else [])
    previous = (appt.starts_at, appt.ends_at)
    if room_id is not ...:
        appt.place_id = _check_room(db, room_id, None) if room_id is not None else appt.place_id  # type: ignore[arg-type]
        appt.room_id = room_id  # type: ignore[assignment]
    appt.starts_at, appt.ends_at = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    appt.local_day = local_date(starts_at, clinic_tz(db))
    appt.updated_at = utcnow()
    with db.no_autoflush:  # the check's queries must not flush the moved row first (the database would refuse it)
        _precheck(db, appt)
    db.add(appt)
    _flush_or_slot_taken(db, appt)
    if audit:
        details: dict[str, Any] = {"change": "move"}
        if used:
            details["override"] = used
        record(db, action="update", resource_type="appointment", resource_id=appt.id, patient_id=appt.patient_id,
               details=details)
    notify(hooks, "scheduling_appointment_moved", appointment=appt, previous_start=previous[0],
           previous_end=previous[1], db=db)
    return appt


def cancel(db: CarnetSession, appt: Appointment, reason: str, *, hooks: Any = None, audit: bool = True) -> Appointment:
    """Cancel with a reason; the time becomes free at once."""
    reason = free_text("reason", reason)
    if not reason:
        raise SchedulingError("reason", "say why the appointment is cancelled")
    if len(reason) > MAX_REASON:
        raise SchedulingError("reason", f"keep the reason under {MAX_REASON} characters")
    if appt.status != BOOKED:
        raise SchedulingError("status", "only a booked appointment can be cancelled")
    appt.status = CANCELLED
    seal(db, appt, "cancel_reason", reason)  # the staff's or the patient's own words: health data
    appt.status_changed_at = appt.updated_at = utcnow()
    db.add(appt)
    db.flush()
    if audit:
        record(db, action="cancel", resource_type="appointment", resource_id=appt.id, patient_id=appt.patient_id)
    notify(hooks, "scheduling_appointment_cancelled", appointment=appt, reason=reason, db=db)
    return appt


ATTENDANCE = (HONOURED, ABSENT, EXCUSED)


def mark(
    db: CarnetSession, appt: Appointment, status: str, *, hooks: Any = None, now: datetime | None = None,
) -> Appointment:
    """Record attendance: honoured, absent (non excusé) or excused. Corrections between these are allowed."""
    if status not in ATTENDANCE:
        raise SchedulingError("status", f"use one of {', '.join(ATTENDANCE)}")
    if appt.status not in (BOOKED, *ATTENDANCE):
        raise SchedulingError("status", "a cancelled appointment cannot be marked")
    if status in (HONOURED, ABSENT) and appt.starts_at > (now or utcnow()):
        raise SchedulingError("status", "an appointment is marked honoured or absent once it has started")
    if appt.status == status:
        return appt
    appt.status = status
    appt.status_changed_at = appt.updated_at = utcnow()
    db.add(appt)
    _flush_or_slot_taken(db, appt)
    record(db, action="update", resource_type="appointment", resource_id=appt.id, patient_id=appt.patient_id,
           details={"status": status})
    if status == HONOURED:
        notify(hooks, "scheduling_appointment_honoured", appointment=appt, db=db)
    else:
        notify(hooks, "scheduling_appointment_missed", appointment=appt, excused=status == EXCUSED, db=db)
    return appt


def set_notes(db: CarnetSession, appt: Appointment, notes: str | None, *, audit: bool = True) -> None:
    """Seal clinical notes with core encryption (the patient's key)."""
    from carnet_core.plugin_api import seal

    if notes is not None and len(notes) > MAX_NOTES:
        raise SchedulingError("notes", f"notes hold {MAX_NOTES} characters at most")
    if notes:
        free_text("notes", notes)
    seal(db, appt, "notes", notes or None)
    db.add(appt)
    db.flush()
    if audit:
        record(db, action="update", resource_type="appointment_notes", resource_id=appt.id,
               patient_id=appt.patient_id)


def cancel_reason(db: CarnetSession, appt: Appointment) -> str | None:
    """The cancellation reason in clear, for staff who see the appointment (callers audit their
    read of the appointment); a damaged value is core's Unreadable marker."""
    return open_or_unreadable(db, appt, "cancel_reason")


def read_notes(db: CarnetSession, appt: Appointment) -> str | None:
    """Open the clinical notes (audited read)."""
    from carnet_core.plugin_api import open_

    record(db, action="read", resource_type="appointment_notes", resource_id=appt.id, patient_id=appt.patient_id)
    return open_(db, appt, "notes")


def in_range(
    db: CarnetSession, start: datetime, end: datetime, *, practitioner_id: int | None = None,
    room_id: int | None = None, patient_id: int | None = None, include_cancelled: bool = False,
    limit: int = 2000,
) -> list[Appointment]:
    """Appointments starting in [start, end) (optionally one practitioner's, room's or patient's)."""
    query = select(Appointment).where(overlapping_window(start, end))
    if practitioner_id is not None:
        query = query.where(Appointment.practitioner_id == practitioner_id)
    if room_id is not None:
        query = query.where(Appointment.room_id == room_id)
    if patient_id is not None:
        query = query.where(Appointment.patient_id == patient_id)
    if not include_cancelled:
        query = query.where(Appointment.status != CANCELLED)
    return list(db.exec(query.order_by(Appointment.starts_at, Appointment.id).limit(limit)))
