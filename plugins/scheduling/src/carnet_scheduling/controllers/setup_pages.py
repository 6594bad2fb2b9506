"""Set-up pages (working hours per place, time off and closures, appointment types, places and
rooms) and treatment series (from a prescription, with a dry-run preview and counters)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlmodel import select

from carnet_core.plugin_api import N_, CarnetSession, page, principal_of, translate
from carnet_scheduling import permissions as perm
from carnet_scheduling.controllers.common import hooks_for, plugin_settings
from carnet_scheduling.controllers.forms import Form, FormErrors, clock, day, flag, integer, text
from carnet_scheduling.controllers.messages import REASON_LABELS, SLOT_REASONS, TAKEN
from carnet_scheduling.controllers.pages import STATUS_LABELS, WEEKDAY_NAMES, today_local
from carnet_scheduling.models import EXCEPTION_KINDS, MODALITIES, AvailabilityException
from carnet_scheduling.services import agenda, people, school, setup
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import series as series_svc
from carnet_scheduling.services.calendar import local_day_bounds, to_local
from carnet_scheduling.services.context import clinic_tz, practitioners
from carnet_scheduling.services.errors import NotFound, SchedulingError, SlotTaken
from carnet_scheduling.services.recurrence import WeeklySlot

MODALITY_LABELS = {"cabinet": N_("At the practice"), "domicile": N_("Home visit"), "telesoin": N_("Remote care")}
KIND_LABELS = {"holiday": N_("Holiday"), "training": N_("Training"), "closure": N_("Closure"), "other": N_("Other")}
BLOCKS_PER_DAY = 2


def setup_context(request: Request[Any, Any, Any], db: CarnetSession, practitioner_id: int | None,
                  errors: dict[str, FormErrors] | None = None, values: dict[str, Any] | None = None) -> dict[str, Any]:
    staff = practitioners(db)
    if practitioner_id is None and staff:
        practitioner_id = staff[0].id
    hours = setup.working_hours(db, practitioner_id) if practitioner_id else []
    table: list[dict[str, Any]] = []
    for weekday, name in enumerate(WEEKDAY_NAMES):
        mine = [h for h in hours if h.weekday == weekday][:BLOCKS_PER_DAY]
        blocks = [{"start": h.start_time.strftime("%H:%M"), "end": h.end_time.strftime("%H:%M"), "place": h.place_id,
                   "room": h.room_id} for h in mine]
        blocks += [{"start": "", "end": "", "place": None, "room": None}] * (BLOCKS_PER_DAY - len(blocks))
        table.append({"weekday": weekday, "name": name, "blocks": blocks})
    tz = clinic_tz(db)
    start, _ = local_day_bounds(today_local(db), tz)
    exceptions = list(db.exec(select(AvailabilityException).where(AvailabilityException.ends_at > start)
                              .order_by(AvailabilityException.starts_at).limit(200)))
    staff_by_id = {p.id: p for p in staff}
    return {
        "types": setup.list_types(db, active_only=False), "places": setup.list_places(db),
        "rooms": setup.list_rooms(db),
        "staff": staff, "staff_by_id": staff_by_id, "practitioner_id": practitioner_id, "hours_table": table,
        "exceptions": sorted(((x, to_local(x.starts_at, tz), to_local(x.ends_at, tz)) for x in exceptions),
                             key=lambda row: row[1]),
        "modalities": MODALITIES, "modality_labels": MODALITY_LABELS, "kinds": EXCEPTION_KINDS,
        "kind_labels": KIND_LABELS, "errors": errors or {}, "v": values or {},
        "professions": setup.professions(db), "profession_labels": setup.PROFESSION_LABELS,
        "school_zone": school.zone(db),
        "zones": [(z, school.ZONE_LABELS[z], school.official_years(z)) for z in school.ZONES],
        "school_periods": school.periods(db, today_local(db), today_local(db) + timedelta(days=366)),
    }


@get("/setup", name="scheduling.setup", opt={"permission": perm.CONFIGURE}, sync_to_thread=True)
def setup_page(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    errors = FormErrors()
    practitioner_id = integer(request, {"p": request.query_params.get("practitioner") or ""}, "p", errors,
                              required=False)
    return page(request, "scheduling/setup.html", setup_context(request, db, practitioner_id))


def _setup_error(request: Request[Any, Any, Any], db: CarnetSession, section: str, errors: FormErrors,
                 data: dict[str, Any], practitioner_id: int | None = None) -> Template:
    db.rollback()
    return page(request, "scheduling/setup.html",
                setup_context(request, db, practitioner_id, {section: errors}, {section: data}), status_code=422)


def _back(section: str, practitioner_id: int | None = None) -> Redirect:
    query = f"?practitioner={practitioner_id}" if practitioner_id else ""
    return Redirect(f"/scheduling/setup{query}#{section}", status_code=303)


@post("/setup/types", name="scheduling.setup.types", opt={"permission": perm.CONFIGURE}, sync_to_thread=True)
def add_type(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    errors = FormErrors()
    duration = integer(request, data, "duration", errors, low=5, high=480)
    modality = text(data, "modality", 16) or "cabinet"
    if not errors:
        try:
            setup.create_appointment_type(
                db, text(data, "name", 200), duration, modality, text(data, "colour", 7) or "#3b82f6",  # type: ignore[arg-type]
                bookable_online=flag(data, "bookable_online"), reminders=flag(data, "reminders"),
                new_patients_allowed=flag(data, "new_patients_allowed"), billable=flag(data, "billable"),
                profession=text(data, "profession", 40) or None,
            )
        except SchedulingError as exc:
            errors[{"duration_minutes": "duration"}.get(exc.field, exc.field)] = translate(request, exc.message)
    if errors:
        return _setup_error(request, db, "types", errors, data)
    return _back("types")


@post("/setup/profession", name="scheduling.setup.profession", opt={"permission": perm.CONFIGURE},
      sync_to_thread=True)
def set_profession(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    errors = FormErrors()
    practitioner_id = integer(request, data, "practitioner", errors)
    profession = text(data, "profession", 40)
    if not profession:
        errors["profession"] = translate(request, "choose a profession from the list")
    if not errors:
        try:
            setup.set_profession(db, practitioner_id, profession)  # type: ignore[arg-type]
        except SchedulingError as exc:
            errors["profession"] = translate(request, exc.message)
    if errors:
        return _setup_error(request, db, "profession", errors, data, practitioner_id)
    return _back("hours", practitioner_id)


@post("/setup/places", name="scheduling.setup.places", opt={"permission": perm.CONFIGURE}, sync_to_thread=True)
def add_place(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    try:
        setup.create_place(db, text(data, "name", 200), text(data, "kind", 16) or "cabinet", text(data, "address", 300))
    except SchedulingError as exc:
        return _setup_error(request, db, "places", FormErrors({exc.field: translate(request, exc.message)}), data)
    return _back("places")


@post("/setup/rooms", name="scheduling.setup.rooms", opt={"permission": perm.CONFIGURE}, sync_to_thread=True)
def add_room(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    errors = FormErrors()
    place_id = integer(request, data, "place_id", errors)
    if not errors:
        try:
            setup.create_room(db, place_id, text(data, "room_name", 200))  # type: ignore[arg-type]
        except SchedulingError as exc:
            errors[{"name": "room_name"}.get(exc.field, exc.field)] = translate(request, exc.message)
    if errors:
        return _setup_error(request, db, "places", errors, data)
    return _back("places")


@post("/setup/hours", name="scheduling.setup.hours", opt={"permission": perm.CONFIGURE}, sync_to_thread=True)
def set_hours(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    """Replace a practitioner's weekly hours from the 7 × 2 table (empty rows are no work)."""
    errors = FormErrors()
    practitioner_id = integer(request, data, "practitioner", errors)
    blocks: list[tuple[int, time, time, int, int | None]] = []
    for weekday in range(7):
        for n in range(BLOCKS_PER_DAY):
            key = f"{weekday}_{n}"
            start, end = clock(request, data, f"start_{key}", errors, required=False), clock(
                request, data, f"end_{key}", errors, required=False)
            if start is None and end is None:
                continue
            if start is None or end is None:
                errors[f"start_{key}"] = translate(request, "Give both the start and the end.")
                continue
            place_id = integer(request, data, f"place_{key}", errors)
            room_id = integer(request, data, f"room_{key}", errors, required=False)
            if place_id is not None:
                blocks.append((weekday, start, end, place_id, room_id))
    if not errors:
        try:
            setup.set_working_hours(db, practitioner_id, blocks)  # type: ignore[arg-type]
        except SchedulingError as exc:
            errors["hours"] = translate(request, exc.message)
    if errors:
        return _setup_error(request, db, "hours", errors, data, practitioner_id)
    return _back("hours", practitioner_id)


@post("/setup/exceptions", name="scheduling.setup.exceptions", opt={"permission": perm.CONFIGURE},
      sync_to_thread=True)
def add_exception(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    """Time off of one practitioner, or a closure of the whole clinic, from one day to another."""
    errors = FormErrors()
    first, last = day(request, data, "first_day", errors), day(request, data, "last_day", errors)
    who = integer(request, data, "who", errors, required=False)
    if first and last and last < first:
        errors["last_day"] = translate(request, "the last day must not be before the first day")
    if not errors:
        tz = clinic_tz(db)
        try:
            setup.add_exception(db, local_day_bounds(first, tz)[0], local_day_bounds(last, tz)[1],  # type: ignore[arg-type]
                                practitioner_id=who, kind=text(data, "kind", 16) or "holiday",
                                label=text(data, "label", 200))
        except SchedulingError as exc:
            errors[{"practitioner_id": "who", "starts_at": "first_day", "ends_at": "last_day"}.get(
                exc.field, exc.field)] = translate(request, exc.message)
    if errors:
        return _setup_error(request, db, "exceptions", errors, data)
    return _back("exceptions")


@post("/setup/school-zone", name="scheduling.setup.school_zone", opt={"permission": perm.CONFIGURE},
      sync_to_thread=True)
def set_school_zone(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    """The clinic's school-holiday zone (the official calendar shown in the agenda, skipped by series)."""
    try:
        school.set_zone(db, text(data, "school_zone", 8))
    except SchedulingError as exc:
        return _setup_error(request, db, "school", FormErrors({"school_zone": translate(request, exc.message)}), data)
    return _back("school")


@post("/setup/school-holidays", name="scheduling.setup.school_holidays", opt={"permission": perm.CONFIGURE},
      sync_to_thread=True)
def add_school_holiday(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    """A school-holiday period the official calendar lacks (Corse, overseas, a local decision)."""
    errors = FormErrors()
    first, last = day(request, data, "first_day", errors), day(request, data, "last_day", errors)
    if not errors:
        try:
            setup.add_school_holiday(db, first, last, text(data, "label", 120))  # type: ignore[arg-type]
        except SchedulingError as exc:
            errors[exc.field if exc.field in ("first_day", "last_day") else "label"] = translate(request, exc.message)
    if errors:
        return _setup_error(request, db, "school", errors, data)
    return _back("school")


# --- series ---------------------------------------------------------------------------------


def series_form_context(request: Request[Any, Any, Any], db: CarnetSession, values: dict[str, Any],
                        errors: FormErrors | None = None, preview: dict[str, Any] | None = None) -> dict[str, Any]:
    principal = principal_of(request)
    results = people.search(db, principal, values.get("q", "")) if values.get("q") else None
    pid = values.get("patient_id", "")
    if isinstance(pid, str) and pid.isdigit():
        name = people.one(db, principal, int(pid))
        if name:
            results = [(int(pid), name), *[r for r in results or [] if r[0] != int(pid)]]
    return {"v": values, "errors": errors or {}, "staff": practitioners(db), "types": setup.list_types(db),
            "rooms": setup.list_rooms(db), "weekdays": WEEKDAY_NAMES, "results": results, "preview": preview,
            "registry": people.registry_available(),
            "reason_labels": REASON_LABELS}


SERIES_FIELDS = ("patient_id", "practitioner", "type", "room", "weekday1", "time1", "weekday2", "time2",
                 "first_day", "sessions", "every_weeks", "skip_school_holidays", "prescribed_on", "prescriber",
                 "sessions_prescribed", "acts", "q")


@get("/series/new", name="scheduling.series_form", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def series_form(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    # A name never comes through the address: the form's search posts (below).
    values = {k: (request.query_params.get(k) or "")[:200] for k in SERIES_FIELDS if k != "q"}
    values["q"] = ""
    if values["practitioner"].isdigit() and not values["type"]:
        favourite = agenda.favourite_type(db, int(values["practitioner"]))
        values["type"] = str(favourite) if favourite else ""
    return page(request, "scheduling/series_new.html", series_form_context(request, db, values))


@post("/series/new", name="scheduling.series_form_search", opt={"permission": perm.MANAGE}, sync_to_thread=True,
      status_code=200)
def series_form_search(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Template:
    """The series form again with the patients found (its Search button), every value kept."""
    values = {k: text(data, k, 200) for k in SERIES_FIELDS}
    return page(request, "scheduling/series_new.html", series_form_context(request, db, values))


@post("/series", name="scheduling.series_create", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def series_create(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    """`action=preview` plans without writing (skipped and conflicting dates shown); `create` books."""
    values = {k: text(data, k, 200) for k in SERIES_FIELDS}
    dry_run = text(data, "action", 10) != "create"
    errors = FormErrors()
    patient_id = integer(request, data, "patient_id", errors)
    practitioner_id = integer(request, data, "practitioner", errors)
    type_id = integer(request, data, "type", errors)
    room_id = integer(request, data, "room", errors, required=False)
    first_day = day(request, data, "first_day", errors)
    sessions = integer(request, data, "sessions", errors, high=200)
    every = integer(request, data, "every_weeks", errors, required=False, high=4) or 1
    slots = []
    for n in ("1", "2"):
        weekday = integer(request, data, f"weekday{n}", errors, required=n == "1", low=0, high=6)
        at = clock(request, data, f"time{n}", errors, required=n == "1")
        if weekday is not None and at is not None:
            slots.append(WeeklySlot(weekday, at))
    prescribed_on = day(request, data, "prescribed_on", errors, required=False)
    prescribed = integer(request, data, "sessions_prescribed", errors, required=False, high=200)
    if prescribed_on and not prescribed:
        errors["sessions_prescribed"] = translate(request, "This field is required.")
    preview = None
    result = None
    if not errors:
        try:
            prescription_id = None
            if prescribed_on and not dry_run:
                prescription_id = series_svc.create_prescription(
                    db, patient_id=patient_id, practitioner_id=practitioner_id, prescribed_on=prescribed_on,  # type: ignore[arg-type]
                    sessions_prescribed=prescribed, prescriber=text(data, "prescriber", 200),  # type: ignore[arg-type]
                    acts=text(data, "acts", 200)).id
            result = series_svc.create_series(
                db, patient_id=patient_id, practitioner_id=practitioner_id, appointment_type_id=type_id,  # type: ignore[arg-type]
                slots=tuple(slots), first_day=first_day, sessions=sessions, every_weeks=every, room_id=room_id,  # type: ignore[arg-type]
                prescription_id=prescription_id, skip_school_holidays=flag(data, "skip_school_holidays"),
                actor_user_id=principal_of(request).user_id, hooks=hooks_for(request),
                holiday_region=plugin_settings(request).holiday_region, dry_run=dry_run,
            )
        except SchedulingError as exc:
            field = {"practitioner_id": "practitioner", "appointment_type_id": "type", "room_id": "room",
                     "slots": "weekday1", "sessions": "sessions"}.get(exc.field, exc.field)
            errors[field if field in SERIES_FIELDS else "first_day"] = translate(request, exc.message)
        except SlotTaken as exc:
            errors["first_day"] = translate(request, SLOT_REASONS.get(exc.reason, TAKEN))
    if result is not None:
        tz = clinic_tz(db)
        plan = result.plan
        preview = {
            "planned": [to_local(o.start, tz) for o in plan.occurrences],
            "skipped": [(s.day, s.reason, s.label) for s in plan.skipped],
            "conflicts": [(to_local(c.start, tz), c.reason) for c in plan.conflicts],
            "missing": plan.missing,
        }
    if errors or dry_run:
        context = series_form_context(request, db, values, errors, preview)
        return page(request, "scheduling/series_new.html", context, partial="scheduling/_series_preview.html",
                    status_code=422 if errors else 200)
    return Redirect(f"/scheduling/series/{result.series.id}", status_code=303)  # type: ignore[union-attr]


@get("/series/{series_id:int}", name="scheduling.series", opt={"permission": perm.VIEW}, sync_to_thread=True)
def series_page(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], series_id: FromPath[int],
) -> Template:
    try:
        row = series_svc.get_series(db, series_id)
    except NotFound:
        raise NotFoundException() from None
    tz = clinic_tz(db)
    counters = series_svc.counters(db, row, plugin_settings(request).prescription_warning_sessions)
    sessions = series_svc.series_appointments(db, row.id, include_cancelled=True)
    principal = principal_of(request)
    own = {row.patient_id} if row.practitioner_id == principal.user_id else set()
    from carnet_core.plugin_api import record

    record(db, action="read", resource_type="series", resource_id=row.id, patient_id=row.patient_id)
    staff = {p.id: p for p in practitioners(db)}
    return page(request, "scheduling/series.html", {
        "s": row, "c": counters, "patient_name": people.names(db, principal, [row.patient_id], own_ids=own).get(
            row.patient_id), "sessions": [
            (a, to_local(a.starts_at, tz), appts.cancel_reason(db, a) if a.cancel_reason is not None else None)
            for a in sessions],
        "practitioner": staff.get(row.practitioner_id), "status_labels": STATUS_LABELS,
        "type": agenda.types_by_id(db).get(row.appointment_type_id), "now": datetime.now(tz=to_local(
            row.created_at, tz).tzinfo),
    })


SETUP_HANDLERS = [setup_page, add_type, set_profession,
                  add_place, add_room, set_hours, add_exception, set_school_zone, add_school_holiday, series_form,
                  series_form_search, series_create, series_page]
