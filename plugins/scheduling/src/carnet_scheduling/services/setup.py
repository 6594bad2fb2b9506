"""Set-up: places, rooms, appointment types, weekly working hours, exceptions, school holidays."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time

from sqlmodel import delete, select

from carnet_core.plugin_api import N_, CarnetSession, record
from carnet_scheduling.models import (
    EXCEPTION_KINDS,
    MODALITIES,
    PROFESSIONS,
    AppointmentType,
    AvailabilityException,
    Place,
    PractitionerProfile,
    Room,
    SchoolHoliday,
    WorkingHours,
)
from carnet_scheduling.services.appointments import check_times
from carnet_scheduling.services.context import is_practitioner
from carnet_scheduling.services.errors import SchedulingError, free_text
from carnet_scheduling.services.slots import HoursError, WeeklyHours, validate_weekly_hours

COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def _name(value: str, field: str = "name", limit: int = 120) -> str:
    value = (value or "").strip()
    if not value or len(value) > limit:
        raise SchedulingError(field, f"give 1 to {limit} characters")
    value = free_text(field, value, required=True)
    if not value:
        raise SchedulingError(field, f"give 1 to {limit} characters")
    return value


def create_place(db: CarnetSession, name: str, kind: str = "cabinet", address: str = "") -> Place:
    if kind not in MODALITIES:
        raise SchedulingError("kind", f"use one of {', '.join(MODALITIES)}")
    place = Place(name=_name(name), kind=kind, address=free_text("address", address)[:300])
    db.add(place)
    db.flush()
    record(db, action="create", resource_type="scheduling_place", resource_id=place.id)
    return place


def create_room(db: CarnetSession, place_id: int, name: str) -> Room:
    place = db.exec(select(Place).where(Place.id == place_id)).first()
    if place is None:
        raise SchedulingError("place_id", "no such place in this clinic")
    if place.kind != "cabinet":
        raise SchedulingError("place_id", "rooms belong to a cabinet place")
    room = Room(place_id=place_id, name=_name(name))
    db.add(room)
    db.flush()
    record(db, action="create", resource_type="scheduling_room", resource_id=room.id)
    return room


def create_appointment_type(
    db: CarnetSession, name: str, duration_minutes: int, modality: str = "cabinet", colour: str = "#3b82f6",
    bookable_online: bool = False, reminders: bool = True, new_patients_allowed: bool = True,
    billable: bool = True, profession: str | None = None,
) -> AppointmentType:
    if profession is not None and profession not in PROFESSIONS:
        raise SchedulingError("profession", "choose a profession from the list")
    if not 5 <= duration_minutes <= 480:
        raise SchedulingError("duration_minutes", "give 5 to 480 minutes")
    if modality not in MODALITIES:
        raise SchedulingError("modality", f"use one of {', '.join(MODALITIES)}")
    if not COLOUR_RE.match(colour or ""):
        raise SchedulingError("colour", "give a colour such as #3b82f6")
    kind = AppointmentType(
        name=_name(name), duration_minutes=duration_minutes, modality=modality, colour=colour.lower(),
        bookable_online=bookable_online, reminders=reminders, new_patients_allowed=new_patients_allowed,
        billable=billable, profession=profession,
    )
    db.add(kind)
    db.flush()
    record(db, action="create", resource_type="scheduling_appointment_type", resource_id=kind.id)
    return kind


PROFESSION_LABELS = {
    "orthophoniste": N_("Speech and language therapist"),
    "kinesitherapeute": N_("Physiotherapist"),
    "psychologue": N_("Psychologist"),
    "psychomotricien": N_("Psychomotor therapist"),
    "ergotherapeute": N_("Occupational therapist"),
    "orthoptiste": N_("Orthoptist"),
    "dieteticien": N_("Dietitian"),
    "podologue": N_("Podiatrist"),
    "sage_femme": N_("Midwife"),
    "infirmier": N_("Nurse"),
    "medecin": N_("Physician"),
    "autre": N_("Other profession"),
}
"""Each profession code in words (English msgids, shown translated)."""


def set_profession(db: CarnetSession, practitioner_id: int, profession: str) -> PractitionerProfile:
    """Record a practitioner's profession (one per practitioner and clinic)."""
    if profession not in PROFESSIONS:
        raise SchedulingError("profession", "choose a profession from the list")
    if not is_practitioner(db, practitioner_id):
        raise SchedulingError("practitioner", "choose a practitioner of this practice")
    profile = db.exec(select(PractitionerProfile).where(PractitionerProfile.practitioner_id == practitioner_id)).first()
    if profile is None:
        profile = PractitionerProfile(practitioner_id=practitioner_id, profession=profession)
    profile.profession = profession
    db.add(profile)
    db.flush()
    record(db, action="update", resource_type="scheduling_practitioner_profile", resource_id=profile.id)
    return profile


def professions(db: CarnetSession) -> dict[int, str]:
    """Practitioner id -> profession code, for those whose profession is recorded."""
    return {p.practitioner_id: p.profession for p in db.exec(select(PractitionerProfile))}


def offers_type(profession: str | None, kind: AppointmentType) -> bool:
    """Whether a practitioner of `profession` offers `kind`: types of every profession, and those
    of their own (a practitioner without a recorded profession offers only the former)."""
    return kind.profession is None or kind.profession == profession


def list_types(db: CarnetSession, active_only: bool = True) -> list[AppointmentType]:
    query = select(AppointmentType).order_by(AppointmentType.name)
    if active_only:
        query = query.where(AppointmentType.active == True)  # noqa: E712
    return list(db.exec(query))


def list_rooms(db: CarnetSession) -> list[Room]:
    return list(db.exec(select(Room).where(Room.active == True).order_by(Room.name)))  # noqa: E712


def list_places(db: CarnetSession) -> list[Place]:
    return list(db.exec(select(Place).where(Place.active == True).order_by(Place.name)))  # noqa: E712


def set_working_hours(
    db: CarnetSession, practitioner_id: int, blocks: Sequence[tuple[int, time, time, int, int | None]],
) -> list[WorkingHours]:
    """Replace a practitioner's weekly hours with `blocks` (weekday, start, end, place_id, room_id)."""
    if not is_practitioner(db, practitioner_id):
        raise SchedulingError("practitioner_id", "no such practitioner in this clinic")
    try:
        validate_weekly_hours([WeeklyHours(w, s, e, p, r) for w, s, e, p, r in blocks])
    except HoursError as exc:
        raise SchedulingError("hours", str(exc)) from None
    places = {p.id: p for p in db.exec(select(Place))}
    rooms = {r.id: r for r in db.exec(select(Room))}
    for _w, _s, _e, place_id, room_id in blocks:
        if place_id not in places:
            raise SchedulingError("place_id", "no such place in this clinic")
        if room_id is not None and (room_id not in rooms or rooms[room_id].place_id != place_id):
            raise SchedulingError("room_id", "the room is not at that place")
    db.exec(delete(WorkingHours).where(WorkingHours.practitioner_id == practitioner_id,  # type: ignore[call-overload]
                                       WorkingHours.clinic_id == db.clinic_id))
    rows = [
        WorkingHours(practitioner_id=practitioner_id, weekday=w, start_time=s, end_time=e, place_id=p, room_id=r)
        for w, s, e, p, r in blocks
    ]
    db.add_all(rows)
    db.flush()
    record(db, action="update", resource_type="scheduling_working_hours", resource_id=practitioner_id,
           details={"blocks": len(rows)})
    return rows


def working_hours(db: CarnetSession, practitioner_id: int) -> list[WorkingHours]:
    return list(db.exec(
        select(WorkingHours).where(WorkingHours.practitioner_id == practitioner_id)
        .order_by(WorkingHours.weekday, WorkingHours.start_time)
    ))


def add_exception(
    db: CarnetSession, starts_at: datetime, ends_at: datetime, *, practitioner_id: int | None = None,
    kind: str = "holiday", label: str = "",
) -> AvailabilityException:
    """Time off for a practitioner, or a clinic closure when `practitioner_id` is None."""
    if kind not in EXCEPTION_KINDS:
        raise SchedulingError("kind", f"use one of {', '.join(EXCEPTION_KINDS)}")
    try:
        check_times(starts_at, ends_at)
    except SchedulingError as exc:
        if "12 hours" not in exc.message:
            raise
    if practitioner_id is not None and not is_practitioner(db, practitioner_id):
        raise SchedulingError("practitioner_id", "no such practitioner in this clinic")
    row = AvailabilityException(practitioner_id=practitioner_id, kind=kind, label=free_text("label", label)[:200],
                                starts_at=starts_at, ends_at=ends_at)
    db.add(row)
    db.flush()
    record(db, action="create", resource_type="scheduling_exception", resource_id=row.id)
    return row


def add_school_holiday(db: CarnetSession, first_day: date, last_day: date, label: str) -> SchoolHoliday:
    if last_day < first_day:
        raise SchedulingError("last_day", "the last day must not be before the first day")
    if first_day.year < 2000 or last_day.year > 2099:
        raise SchedulingError("first_day", "give dates between 2000 and 2099")
    row = SchoolHoliday(first_day=first_day, last_day=last_day, label=_name(label, "label"))
    db.add(row)
    db.flush()
    record(db, action="create", resource_type="scheduling_school_holiday", resource_id=row.id)
    return row
