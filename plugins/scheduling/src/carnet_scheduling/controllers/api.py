"""JSON API under /api/v1/scheduling (in the OpenAPI schema). Errors: 422 with field errors,
409 with the conflicting appointment, 404 for what this clinic cannot see."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, JSONBody, QueryParameter

from carnet_core.plugin_api import CarnetSession, Id, OptionalIdParam, principal_of, settings_of
from carnet_scheduling import permissions as perm
from carnet_scheduling import schemas
from carnet_scheduling.controllers.common import field_error, hooks_for, plugin_settings
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import availability, feeds, people, series, setup
from carnet_scheduling.services.booking_rules import Overrides
from carnet_scheduling.services.errors import NotFound, SchedulingError, SlotTaken
from carnet_scheduling.services.recurrence import WeeklySlot

From = Annotated[datetime, QueryParameter(
    name="from", description="Start of the range, with its offset, between 2000-01-01 and 2099-12-31")]
To = Annotated[datetime, QueryParameter(
    name="to", description="End of the range, with its offset: after `from`, 92 days later at most")]
BY_ID = {"appointment_id": "$response.body#/id"}
# Where a booked appointment leads (OpenAPI links: create -> read -> change).
APPOINTMENT_LINKS = {
    "GetAppointment": ("GET", "/api/v1/scheduling/appointments/{appointment_id}", BY_ID),
    "MoveAppointment": ("POST", "/api/v1/scheduling/appointments/{appointment_id}/move", BY_ID),
    "MarkAppointment": ("POST", "/api/v1/scheduling/appointments/{appointment_id}/status", BY_ID),
    "CancelAppointment": ("POST", "/api/v1/scheduling/appointments/{appointment_id}/cancel", BY_ID),
    "ReadNotes": ("GET", "/api/v1/scheduling/appointments/{appointment_id}/notes", BY_ID),
    "WriteNotes": ("PUT", "/api/v1/scheduling/appointments/{appointment_id}/notes", BY_ID),
}
TAKEN = {409: ResponseSpec(data_container=schemas.SlotTakenOut, description="The time is taken: the holder")}


def slot_taken(db: CarnetSession, exc: SlotTaken) -> Response[Any]:
    db.rollback()
    body = {"status_code": 409, "detail": "slot taken", "reason": exc.reason,
            "conflict": schemas.appointment_out(db, exc.conflict) if exc.conflict is not None else None}
    return Response(body, status_code=409, media_type="application/json")


def _appointment(db: CarnetSession, appointment_id: Id) -> Any:
    try:
        return appts.get_appointment(db, appointment_id)
    except NotFound:
        raise NotFoundException() from None


def _clinical_appointment(request: Request[Any, Any, Any], db: CarnetSession, appointment_id: int) -> Any:
    """The appointment, if core's clinical gate lets this person at its patient's notes (403)."""
    appt = _appointment(db, appointment_id)
    if not people.clinical_allowed(db, principal_of(request), appt):
        raise PermissionDeniedException("clinical notes need core.patients.clinical on a patient one follows")
    return appt


RULES = {"error_statuses": (422,)}  # field errors of the scheduling rules (see carnet_core.web.openapi)


class AppointmentsApi(Controller):
    path = "/appointments"
    tags = ["scheduling"]
    opt = RULES

    @post("/", opt={"permission": perm.MANAGE, "links": APPOINTMENT_LINKS}, sync_to_thread=True, status_code=201,
          responses=TAKEN, description=(
              "Book an appointment. It lasts at least its type's duration. A time in the past needs "
              "`allow_past: true`, a time outside the practitioner's working hours (or in their time off "
              "or a clinic closure) `allow_outside_hours: true`; without them the answer is 422 naming the "
              "field. An override used is recorded in the audit record (details.override)."))
    def create(
        self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession],
        data: JSONBody[schemas.AppointmentIn],
    ) -> Any:
        """Book an appointment: 201 with it, or 409 with the appointment that holds the time."""
        if data.notes and not principal_of(request).can(perm.CLINICAL):
            raise PermissionDeniedException("writing clinical notes needs scheduling.clinical")
        try:
            appt = appts.book(
                db, practitioner_id=data.practitioner_id, patient_id=data.patient_id,
                appointment_type_id=data.appointment_type_id, starts_at=data.starts_at, ends_at=data.ends_at,
                room_id=data.room_id, place_id=data.place_id, notes=data.notes, source="api",
                actor_user_id=principal_of(request).user_id, hooks=hooks_for(request),
                overrides=Overrides(past=data.allow_past, outside_hours=data.allow_outside_hours),
            )
        except SchedulingError as exc:
            raise field_error(exc) from None
        except SlotTaken as exc:
            return slot_taken(db, exc)
        return schemas.appointment_out(db, appt)

    @get("/", opt={"permission": perm.VIEW}, sync_to_thread=True)
    def list(
        self, db: NamedDependency[CarnetSession], start: From, end: To,
        practitioner_id: OptionalIdParam = None,
        room_id: OptionalIdParam = None,
        include_cancelled: FromQuery[bool] = False,
    ) -> dict[str, Any]:
        """Appointments overlapping [from, to) (at most 92 days), without clinical notes."""
        try:
            appts.check_times(start, end)
        except SchedulingError as exc:
            if "12 hours" not in exc.message:
                raise field_error(SchedulingError("to" if exc.field == "ends_at" else "from", exc.message)) from None
        if end - start > timedelta(days=92):
            raise field_error(SchedulingError("to", "ask for 92 days at most"))
        rows = appts.in_range(db, start, end, practitioner_id=practitioner_id, room_id=room_id,
                              include_cancelled=include_cancelled)
        from carnet_core.plugin_api import record

        record(db, action="list", resource_type="appointment", details={"count": len(rows)})
        return {"items": [schemas.appointment_out(db, a) for a in rows]}

    @get("/{appointment_id:int}", opt={"permission": perm.VIEW}, sync_to_thread=True)
    def show(self, db: NamedDependency[CarnetSession], appointment_id: Id) -> dict[str, Any]:
        appt = _appointment(db, appointment_id)
        from carnet_core.plugin_api import record

        record(db, action="read", resource_type="appointment", resource_id=appt.id, patient_id=appt.patient_id)
        return schemas.appointment_out(db, appt)

    @post("/{appointment_id:int}/move", opt={"permission": perm.MANAGE}, sync_to_thread=True, status_code=200,
          responses=TAKEN)
    def move(self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: Id,
             data: JSONBody[schemas.MoveIn]) -> Any:
        appt = _appointment(db, appointment_id)
        room = data.room_id if "room_id" in data.model_fields_set else ...
        try:
            appts.move(db, appt, data.starts_at, data.ends_at, room_id=room, hooks=hooks_for(request),
                       overrides=Overrides(past=data.allow_past, outside_hours=data.allow_outside_hours))
        except SchedulingError as exc:
            raise field_error(exc) from None
        except SlotTaken as exc:
            return slot_taken(db, exc)
        return schemas.appointment_out(db, appt)

    @post("/{appointment_id:int}/cancel", opt={"permission": perm.MANAGE}, sync_to_thread=True, status_code=200)
    def cancel(self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: Id,
               data: JSONBody[schemas.CancelIn]) -> dict[str, Any]:
        """Cancel with a reason; the slot is free at once."""
        appt = _appointment(db, appointment_id)
        try:
            appts.cancel(db, appt, data.reason, hooks=hooks_for(request))
        except SchedulingError as exc:
            raise field_error(exc) from None
        return schemas.appointment_out(db, appt)

    @post("/{appointment_id:int}/status", opt={"permission": perm.MANAGE}, sync_to_thread=True, status_code=200)
    def status(self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: Id,
               data: JSONBody[schemas.StatusIn]) -> Any:
        """Mark honoured, absent (non excusé) or excused."""
        appt = _appointment(db, appointment_id)
        try:
            appts.mark(db, appt, data.status, hooks=hooks_for(request))
        except SchedulingError as exc:
            raise field_error(exc) from None
        except SlotTaken as exc:
            return slot_taken(db, exc)
        return schemas.appointment_out(db, appt)

    @post("/{appointment_id:int}/move-following", opt={"permission": perm.MANAGE}, sync_to_thread=True,
          status_code=200)
    def move_following(self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: Id,
                       data: JSONBody[schemas.MoveFollowingIn]) -> Any:
        """Move this occurrence and the following ones of its series to a new weekly rule."""
        appt = _appointment(db, appointment_id)
        try:
            moved, plan = series.move_following(
                db, appt, slots=tuple(WeeklySlot(s.weekday, s.time) for s in data.slots),
                first_day=data.first_day, every_weeks=data.every_weeks,
                skip_school_holidays=data.skip_school_holidays, hooks=hooks_for(request),
                holiday_region=plugin_settings(request).holiday_region,
            )
        except SchedulingError as exc:
            raise field_error(exc) from None
        except SlotTaken as exc:
            return slot_taken(db, exc)
        return {"moved": [schemas.appointment_out(db, a) for a in moved], "plan": series.plan_payload(plan)}

    @get("/{appointment_id:int}/notes", opt={"permission": perm.CLINICAL}, sync_to_thread=True)
    def read_notes(
        self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: Id,
    ) -> dict[str, Any]:
        """Clinical notes (practitioners only; audited)."""
        appt = _clinical_appointment(request, db, appointment_id)
        return {"id": appt.id, "notes": appts.read_notes(db, appt)}

    @put("/{appointment_id:int}/notes", opt={"permission": perm.CLINICAL}, sync_to_thread=True)
    def write_notes(self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: Id,
                    data: JSONBody[schemas.NotesIn]) -> dict[str, Any]:
        appt = _clinical_appointment(request, db, appointment_id)
        try:
            appts.set_notes(db, appt, data.notes)
        except SchedulingError as exc:
            raise field_error(exc) from None
        return {"id": appt.id, "has_notes": appt.notes is not None}


@get("/availability", opt={"permission": perm.VIEW, **RULES}, sync_to_thread=True, tags=["scheduling"])
def availability_api(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], start: From, end: To,
    practitioner_id: Id, appointment_type_id: Id,
) -> dict[str, Any]:
    """Free slots of a practitioner for an appointment type in [from, to) (at most 92 days)."""
    cfg = plugin_settings(request)
    try:
        slots = availability.find_slots(
            db, practitioner_id, appointment_type_id, start, end,
            min_notice=timedelta(hours=cfg.min_notice_hours), horizon=timedelta(days=cfg.horizon_days),
            step=timedelta(minutes=cfg.slot_step_minutes) if cfg.slot_step_minutes else None,
            holiday_region=cfg.holiday_region,
        )
    except SchedulingError as exc:
        raise field_error(exc) from None
    return {"slots": [availability.slot_payload(s) for s in slots]}


class SeriesApi(Controller):
    path = "/"
    tags = ["scheduling"]
    opt = RULES

    @post("/prescriptions", opt={"permission": perm.MANAGE}, sync_to_thread=True, status_code=201)
    def create_prescription(
        self, db: NamedDependency[CarnetSession], data: JSONBody[schemas.PrescriptionIn],
    ) -> dict[str, Any]:
        try:
            row = series.create_prescription(db, **data.model_dump())
        except SchedulingError as exc:
            raise field_error(exc) from None
        return {"id": row.id, "patient_id": row.patient_id, "sessions_prescribed": row.sessions_prescribed,
                "prescribed_on": row.prescribed_on.isoformat()}

    @post("/series", sync_to_thread=True, status_code=201, responses=TAKEN, opt={
        "permission": perm.MANAGE,
        "links": {"GetSeries": ("GET", "/api/v1/scheduling/series/{series_id}", {"series_id": "$response.body#/id"})},
    })
    def create_series(
        self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: JSONBody[schemas.SeriesIn],
    ) -> Any:
        """Plan and book a series; skipped and conflicting dates are reported. `dry_run` previews."""
        try:
            result = series.create_series(
                db, patient_id=data.patient_id, practitioner_id=data.practitioner_id,
                appointment_type_id=data.appointment_type_id,
                slots=tuple(WeeklySlot(s.weekday, s.time) for s in data.slots), first_day=data.first_day,
                sessions=data.sessions, every_weeks=data.every_weeks, room_id=data.room_id,
                prescription_id=data.prescription_id, last_day=data.last_day,
                skip_school_holidays=data.skip_school_holidays, actor_user_id=principal_of(request).user_id,
                hooks=hooks_for(request), holiday_region=plugin_settings(request).holiday_region,
                dry_run=data.dry_run,
            )
        except SchedulingError as exc:
            raise field_error(exc) from None
        except SlotTaken as exc:
            return slot_taken(db, exc)
        return {"id": result.series.id, "plan": series.plan_payload(result.plan),
                "appointments": [schemas.appointment_out(db, a) for a in result.appointments]}

    @get("/series/{series_id:int}", opt={"permission": perm.VIEW}, sync_to_thread=True)
    def show_series(
        self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], series_id: Id,
    ) -> dict[str, Any]:
        try:
            row = series.get_series(db, series_id)
        except NotFound:
            raise NotFoundException() from None
        c = series.counters(db, row, plugin_settings(request).prescription_warning_sessions)
        from carnet_core.plugin_api import record

        record(db, action="read", resource_type="series", resource_id=row.id, patient_id=row.patient_id)
        return {
            "id": row.id, "patient_id": row.patient_id, "practitioner_id": row.practitioner_id,
            "prescription_id": row.prescription_id, "sessions_target": row.sessions_target,
            "counters": c.__dict__,
            "appointments": [schemas.appointment_out(db, a) for a in series.series_appointments(db, row.id)],
        }


class SetupApi(Controller):
    path = "/"
    tags = ["scheduling"]
    opt = {"permission": perm.CONFIGURE, **RULES}

    @get("/appointment-types", opt={"permission": perm.VIEW}, sync_to_thread=True)
    def list_types(self, db: NamedDependency[CarnetSession]) -> dict[str, Any]:
        return {"items": [t.model_dump(exclude={"clinic_id"}) for t in setup.list_types(db)]}

    @post("/appointment-types", sync_to_thread=True, status_code=201)
    def create_type(
        self, db: NamedDependency[CarnetSession], data: JSONBody[schemas.AppointmentTypeIn],
    ) -> dict[str, Any]:
        try:
            row = setup.create_appointment_type(db, **data.model_dump())
        except SchedulingError as exc:
            raise field_error(exc) from None
        return row.model_dump(exclude={"clinic_id"})

    @post("/places", sync_to_thread=True, status_code=201)
    def create_place(self, db: NamedDependency[CarnetSession], data: JSONBody[schemas.PlaceIn]) -> dict[str, Any]:
        try:
            row = setup.create_place(db, **data.model_dump())
        except SchedulingError as exc:
            raise field_error(exc) from None
        return row.model_dump(exclude={"clinic_id"})

    @post("/rooms", sync_to_thread=True, status_code=201)
    def create_room(self, db: NamedDependency[CarnetSession], data: JSONBody[schemas.RoomIn]) -> dict[str, Any]:
        try:
            row = setup.create_room(db, data.place_id, data.name)
        except SchedulingError as exc:
            raise field_error(exc) from None
        return row.model_dump(exclude={"clinic_id"})

    @put("/working-hours/{practitioner_id:int}", sync_to_thread=True)
    def set_hours(
        self, db: NamedDependency[CarnetSession], practitioner_id: Id, data: JSONBody[schemas.WorkingHoursIn],
    ) -> dict[str, Any]:
        """Replace a practitioner's weekly hours; overlapping blocks are refused."""
        try:
            rows = setup.set_working_hours(
                db, practitioner_id, [(b.weekday, b.start, b.end, b.place_id, b.room_id) for b in data.blocks]
            )
        except SchedulingError as exc:
            raise field_error(exc) from None
        return {"blocks": [{"weekday": r.weekday, "start": r.start_time.isoformat(), "end": r.end_time.isoformat(),
                            "place_id": r.place_id, "room_id": r.room_id} for r in rows]}

    @post("/exceptions", sync_to_thread=True, status_code=201)
    def add_exception(self, db: NamedDependency[CarnetSession], data: JSONBody[schemas.ExceptionIn]) -> dict[str, Any]:
        try:
            row = setup.add_exception(db, data.starts_at, data.ends_at, practitioner_id=data.practitioner_id,
                                      kind=data.kind, label=data.label)
        except SchedulingError as exc:
            raise field_error(exc) from None
        return {"id": row.id}

    @post("/school-holidays", sync_to_thread=True, status_code=201)
    def add_school_holiday(
        self, db: NamedDependency[CarnetSession], data: JSONBody[schemas.SchoolHolidayIn],
    ) -> dict[str, Any]:
        try:
            row = setup.add_school_holiday(db, data.first_day, data.last_day, data.label)
        except SchedulingError as exc:
            raise field_error(exc) from None
        return {"id": row.id}


class FeedApi(Controller):
    path = "/feed"
    tags = ["scheduling"]
    opt = {"permission": perm.FEED}

    @post("/", sync_to_thread=True, status_code=201)
    def issue(
        self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: JSONBody[schemas.FeedIn],
    ) -> dict[str, Any]:
        """A new private feed URL for the caller (the previous one stops working). Shown once."""
        principal = principal_of(request)
        if not principal.clinic or principal.user_id is None:
            raise NotFoundException()
        _, token = feeds.issue_feed(db, principal.user_id, data.show_patient_names)
        base = settings_of(request).base_url
        return {"url": f"{base}/p/{principal.clinic.slug}/scheduling/feed/{token}.ics",
                "show_patient_names": data.show_patient_names}

    @post("/revoke", sync_to_thread=True, status_code=200)
    def revoke(self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> dict[str, Any]:
        return {"revoked": feeds.revoke_feed(db, principal_of(request).user_id)}


API_HANDLERS = [AppointmentsApi, availability_api, SeriesApi, SetupApi, FeedApi]
