"""JSON shapes of the scheduling API (pydantic: unknown fields are refused)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from carnet_core.plugin_api import Day, FreeText, Id, Moment, OptionalText

START = "An instant with its UTC offset (e.g. 2030-09-03T17:00:00+02:00), between 2000-01-01 and 2099-12-31"
DAY = "A day between 2000-01-01 and 2099-12-31"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OverridesIn(Strict):
    """What a staff member or API client explicitly allows when booking or moving."""

    allow_past: bool = Field(default=False, description=(
        "Book a time that has already started (e.g. entering a session after the fact). Without it such "
        "a booking is refused with 422 (field allow_past). Recorded in the audit record."))
    allow_outside_hours: bool = Field(default=False, description=(
        "Book outside the practitioner's weekly working hours or during their time off or a clinic "
        "closure. Without it such a booking is refused with 422 (field allow_outside_hours). Recorded "
        "in the audit record."))


class AppointmentIn(OverridesIn):
    practitioner_id: Id
    patient_id: Id
    appointment_type_id: Id
    starts_at: Moment = Field(description=START)
    ends_at: Moment | None = Field(default=None, description=(
        "Default: the start plus the type's duration. Never shorter than the type's duration (422), "
        "at most 12 hours after the start."))
    room_id: Id | None = None
    place_id: Id | None = None
    notes: Annotated[str, OptionalText] | None = Field(default=None, max_length=20_000)


class MoveIn(OverridesIn):
    starts_at: Moment = Field(description=START)
    ends_at: Moment | None = Field(default=None, description=(
        "Default: the appointment keeps its length. Never shorter than the type's duration (422)."))
    room_id: Id | None = None


class CancelIn(Strict):
    reason: Annotated[str, FreeText] = Field(min_length=1, max_length=300)


class StatusIn(Strict):
    status: Literal["honoured", "absent", "excused"]


class NotesIn(Strict):
    notes: Annotated[str, OptionalText] | None = Field(default=None, max_length=20_000)


class WeeklySlotIn(Strict):
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    time: time


class PrescriptionIn(Strict):
    patient_id: Id
    practitioner_id: Id
    prescribed_on: Day = Field(description="Between 2000-01-01 and today")
    sessions_prescribed: int = Field(ge=1, le=200)
    prescriber: Annotated[str, OptionalText] = Field(default="", max_length=200)
    acts: Annotated[str, OptionalText] = Field(default="", max_length=200)


class SeriesIn(Strict):
    patient_id: Id
    practitioner_id: Id
    appointment_type_id: Id
    slots: list[WeeklySlotIn] = Field(min_length=1, max_length=7)
    first_day: Day = Field(description=DAY)
    sessions: int = Field(ge=1, le=200)
    every_weeks: int = Field(default=1, ge=1, le=4)
    room_id: Id | None = None
    prescription_id: Id | None = None
    last_day: Day | None = Field(default=None, description=DAY)
    skip_school_holidays: bool = False
    dry_run: bool = False


class MoveFollowingIn(Strict):
    slots: list[WeeklySlotIn] = Field(min_length=1, max_length=7)
    first_day: Day = Field(description=DAY)
    every_weeks: int | None = Field(default=None, ge=1, le=4)
    skip_school_holidays: bool = False


class WorkingBlockIn(Strict):
    weekday: int = Field(ge=0, le=6)
    start: time
    end: time
    place_id: Id
    room_id: Id | None = None


class WorkingHoursIn(Strict):
    blocks: list[WorkingBlockIn] = Field(max_length=50)


class PlaceIn(Strict):
    name: Annotated[str, FreeText] = Field(min_length=1, max_length=120)
    kind: Literal["cabinet", "domicile", "telesoin"] = "cabinet"
    address: Annotated[str, OptionalText] = Field(default="", max_length=300)


class RoomIn(Strict):
    place_id: Id
    name: Annotated[str, FreeText] = Field(min_length=1, max_length=120)


class AppointmentTypeIn(Strict):
    name: Annotated[str, FreeText] = Field(min_length=1, max_length=120)
    duration_minutes: int = Field(ge=5, le=480)
    modality: Literal["cabinet", "domicile", "telesoin"] = "cabinet"
    colour: str = Field(default="#3b82f6", pattern=r"^#[0-9a-fA-F]{6}$")
    bookable_online: bool = False
    reminders: bool = True
    new_patients_allowed: bool = True
    billable: bool = True


class ExceptionIn(Strict):
    starts_at: Moment = Field(description=START)
    ends_at: Moment = Field(description="After starts_at")
    practitioner_id: Id | None = Field(default=None, description="None: the whole clinic is closed")
    kind: Literal["holiday", "training", "closure", "other"] = "holiday"
    label: Annotated[str, OptionalText] = Field(default="", max_length=200)


class SchoolHolidayIn(Strict):
    first_day: Day = Field(description=DAY)
    last_day: Day = Field(description=DAY)
    label: Annotated[str, FreeText] = Field(min_length=1, max_length=120)


class FeedIn(Strict):
    show_patient_names: bool = False


class AppointmentOut(BaseModel):
    id: int
    practitioner_id: int
    patient_id: int
    appointment_type_id: int
    room_id: int | None
    place_id: int | None
    series_id: int | None
    starts_at: datetime
    ends_at: datetime
    status: str
    cancel_reason: str | None
    billable: bool
    source: str
    has_notes: bool


class SlotTakenOut(BaseModel):
    status_code: int = 409
    detail: str = "slot taken"
    reason: str = Field(description="practitioner_busy, room_busy or patient_already_booked_that_day")
    conflict: AppointmentOut | None = Field(description="The appointment holding the time (None: another clinic's)")


def appointment_out(db: Any, a: Any) -> dict[str, Any]:
    """An appointment as the API shows it to staff (never its notes; the cancellation reason
    opened from its seal, null if damaged)."""
    from carnet_core.plugin_api import open_or_unreadable, readable

    reason = readable(open_or_unreadable(db, a, "cancel_reason")) if a.cancel_reason is not None else None
    return {
        "id": a.id, "practitioner_id": a.practitioner_id, "patient_id": a.patient_id,
        "appointment_type_id": a.appointment_type_id, "room_id": a.room_id, "place_id": a.place_id,
        "series_id": a.series_id, "starts_at": a.starts_at.isoformat(), "ends_at": a.ends_at.isoformat(),
        "status": a.status, "cancel_reason": reason, "billable": a.billable, "source": a.source,
        "has_notes": a.notes is not None,
    }
