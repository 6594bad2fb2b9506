"""The agenda pages under /scheduling: day and week grids (per practitioner, per room, the clinic
by room), the appointment dialog (book, move, cancel, mark, notes), today's list, the printable
day sheet and the per-clinic type colours stylesheet. Every page works without JavaScript (links
and forms); with htmx the grid and the dialog are swapped in place (partials start with `_`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    host_of,
    id_in_range,
    is_htmx,
    page,
    principal_of,
    record,
    record_at_commit,
    translate,
    utcnow,
)
from carnet_scheduling import permissions as perm
from carnet_scheduling.controllers.common import hooks_for, plugin_settings
from carnet_scheduling.controllers.forms import Form, FormErrors, clock, day, flag, integer, moment, safe_next, text
from carnet_scheduling.controllers.messages import SLOT_REASONS, TAKEN
from carnet_scheduling.models import ABSENT, BOOKED, CANCELLED, EXCUSED, HONOURED, Appointment
from carnet_scheduling.services import agenda, notices, people, reminders, school, setup
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import series as series_svc
from carnet_scheduling.services.booking_rules import Overrides
from carnet_scheduling.services.calendar import local_date, local_day_bounds, to_local
from carnet_scheduling.services.contacts import patient_contact
from carnet_scheduling.services.context import clinic_tz, practitioner_names, practitioners
from carnet_scheduling.services.errors import NotFound, SchedulingError, SlotTaken
from carnet_scheduling.services.recurrence import WeeklySlot

CHANGED = "scheduling-changed"  # htmx event: the agenda grid reloads itself, the dialog closes
WEEKDAY_NAMES = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
                 N_("Sunday"))
REMINDER_STATE_LABELS = {"scheduled": N_("scheduled"), "sent": N_("sent"), "failed": N_("failed"),
                         "cancelled": N_("cancelled")}
CHANNEL_LABELS = {"email": N_("E-mail"), "sms": N_("SMS")}
STATUS_LABELS = {BOOKED: N_("Booked"), HONOURED: N_("Honoured"), ABSENT: N_("Absent (unexcused)"),
                 EXCUSED: N_("Excused"), CANCELLED: N_("Cancelled")}


def today_local(db: CarnetSession) -> date:
    return local_date(utcnow(), clinic_tz(db))


def short_day(request: Request[Any, Any, Any], d: date) -> str:
    return f"{translate(request, WEEKDAY_NAMES[d.weekday()])[:3]}. {d.day:02d}/{d.month:02d}"


def long_day(request: Request[Any, Any, Any], d: date) -> str:
    return f"{translate(request, WEEKDAY_NAMES[d.weekday()])} {d.day:02d}/{d.month:02d}/{d.year}"


@dataclass
class AgendaQuery:
    view: str  # "day" or "week"
    anchor: date
    practitioner_id: int | None
    room_id: int | None
    by_room: bool

    def params(self, **changes: Any) -> str:
        values: dict[str, Any] = {"view": self.view, "date": self.anchor.isoformat()}
        if self.by_room:
            values["by"] = "room"
        if self.room_id:
            values["room"] = self.room_id
        elif self.practitioner_id:
            values["practitioner"] = self.practitioner_id
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})

    def url(self, **changes: Any) -> str:
        return "/scheduling/?" + self.params(**changes)


def parse_agenda(request: Request[Any, Any, Any], db: CarnetSession) -> tuple[AgendaQuery, FormErrors]:
    q = {k: request.query_params.get(k) or "" for k in ("view", "date", "practitioner", "room", "by")}
    errors = FormErrors()
    view = q["view"] if q["view"] in ("day", "week") else "week"
    anchor = day(request, q, "date", errors, required=False) or today_local(db)
    by_room = q["by"] == "room"
    room_id = integer(request, q, "room", errors, required=False)
    practitioner_id = integer(request, q, "practitioner", errors, required=False)
    if by_room and room_id is None:
        view = "day"  # the clinic by room is one day, a column per room
    if not by_room and room_id is None and practitioner_id is None:
        principal = principal_of(request)
        staff = practitioner_names(db)
        mine = next((p for p in staff if p.id == principal.user_id), None)
        practitioner_id = (mine or (staff[0] if staff else None)).id if (mine or staff) else None
    return AgendaQuery(view, anchor, practitioner_id, room_id, by_room), errors


def _own_patients(request: Request[Any, Any, Any], rows: list[Appointment]) -> set[int]:
    me = principal_of(request).user_id
    return {a.patient_id for a in rows if a.practitioner_id == me}


def agenda_context(request: Request[Any, Any, Any], db: CarnetSession, aq: AgendaQuery) -> dict[str, Any]:
    tz = clinic_tz(db)
    today = today_local(db)
    days = agenda.week_days(aq.anchor) if aq.view == "week" else [aq.anchor]
    start, end = agenda.window(days, tz)
    staff = practitioner_names(db)  # ids and names are all the agenda shows of them
    rooms = setup.list_rooms(db)
    if aq.by_room and aq.room_id is None:
        rows = agenda.load_appointments(db, start, end)
        hours = agenda.load_hours(db)
        exceptions = agenda.load_exceptions(db, start, end)
        columns = agenda.room_columns(aq.anchor, rooms, translate(request, "No room"))
    else:
        rows = agenda.load_appointments(db, start, end, practitioner_id=None if aq.room_id else aq.practitioner_id,
                                        room_id=aq.room_id)
        hours = [h for h in agenda.load_hours(db, None if aq.room_id else aq.practitioner_id)
                 if aq.room_id is None or h.room_id == aq.room_id]
        exceptions = agenda.load_exceptions(db, start, end, None if aq.room_id else aq.practitioner_id)
        if aq.view == "week":
            days = agenda.visible_days(days, hours, rows, tz)
        columns = agenda.day_columns(days, [short_day(request, d) for d in days])
    grid = agenda.build_grid(columns=columns, appointments=rows, hours=hours, exceptions=exceptions, tz=tz,
                             today=today, by_room=aq.by_room and aq.room_id is None)
    names = people.names(db, principal_of(request), (a.patient_id for a in rows), own_ids=_own_patients(request, rows))
    # written at commit with core's trace of the names opened: one batch, one chain-head lock
    record_at_commit(db, action="list", resource_type="appointment",
                     details={"view": aq.view, "count": len(rows), "names": len(names)})
    step = timedelta(days=7 if aq.view == "week" else 1)
    zone = school.zone(db)  # read once: the holidays below and the page's zone label
    staff_by_id = {p.id: p for p in staff}
    if aq.view == "week":
        title_range = f"{days[0].strftime('%d/%m')} – {days[-1].strftime('%d/%m/%Y')}"
    else:
        title_range = long_day(request, aq.anchor)
    who = (next((r.name for r in rooms if r.id == aq.room_id), "") if aq.room_id
           else translate(request, "All rooms") if aq.by_room
           else getattr(staff_by_id.get(aq.practitioner_id), "display_name", ""))
    return {
        "aq": aq, "grid": grid, "names": names, "types": agenda.types_by_id(db),
        "rooms": rooms, "rooms_by_id": {r.id: r for r in rooms}, "staff": staff, "staff_by_id": staff_by_id,
        "title_range": title_range, "who": who, "tz": tz, "today": today,
        "prev_url": aq.url(date=(aq.anchor - step).isoformat()),
        "next_url": aq.url(date=(aq.anchor + step).isoformat()),
        "today_url": aq.url(date=today.isoformat()),
        "day_url": aq.url(view="day"), "week_url": aq.url(view="week"),
        "self_url": aq.url(), "status_labels": STATUS_LABELS,
        "counts": agenda.summary(rows), "can_manage": principal_of(request).can(perm.MANAGE),
        "can_configure": principal_of(request).can(perm.CONFIGURE),
        "school_periods": school.periods(db, days[0], days[-1], zone) if days else [], "school_zone": zone,
        "zone_labels": school.ZONE_LABELS,
    }


@get("/", name="scheduling.agenda", opt={"permission": perm.VIEW}, sync_to_thread=True)
def agenda_page(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    """The agenda: a week or a day of one practitioner or room, or the clinic's rooms on one day."""
    aq, errors = parse_agenda(request, db)
    if errors:
        return page(request, "scheduling/agenda_error.html", {"errors": errors}, status_code=400)
    return page(request, "scheduling/agenda.html", agenda_context(request, db, aq), partial="scheduling/_agenda.html")


@get("/types.css", name="scheduling.types_css", opt={"permission": perm.VIEW}, sync_to_thread=True)
def types_css(db: NamedDependency[CarnetSession]) -> Response[str]:
    """The clinic's appointment-type colours as CSS classes (no inline styles under the CSP)."""
    lines = [f".t-{t.id}{{--type:{t.colour}}}" for t in setup.list_types(db, active_only=False)
             if setup.COLOUR_RE.match(t.colour or "")]
    return Response("\n".join(lines) + "\n", media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=60"})


# --- the appointment dialog -------------------------------------------------------------------


def _done(request: Request[Any, Any, Any], next_url: str) -> Response[Any] | Redirect:
    """After a change: htmx closes the dialog and reloads the grid; a plain form goes back."""
    if is_htmx(request):
        return Response(b"", status_code=204, headers={"HX-Trigger": CHANGED})
    return Redirect(safe_next(next_url), status_code=303)


def booking_context(request: Request[Any, Any, Any], db: CarnetSession, values: dict[str, Any],
                    errors: FormErrors | None = None, results: list[tuple[int, str]] | None = None) -> dict[str, Any]:
    return {
        "v": values, "errors": errors or {}, "staff": practitioners(db), "types": setup.list_types(db),
        "rooms": setup.list_rooms(db), "results": results, "registry": people.registry_available(),
        "next": safe_next(values.get("next")),
    }


BOOKING_FIELDS = ("date", "time", "practitioner", "room", "type", "patient_id", "next", "notes", "duration")


def _booking_form(request: Request[Any, Any, Any], db: CarnetSession, values: dict[str, str],
                  search: str = "") -> Template:
    results = people.search(db, principal_of(request), search) if search else None
    if values["patient_id"].isdigit():
        name = people.one(db, principal_of(request), int(values["patient_id"]))
        if name:
            pid = int(values["patient_id"])
            results = [(pid, name), *[r for r in results or [] if r[0] != pid]]
    values["q"] = search
    return page(request, "scheduling/appointment_new.html", booking_context(request, db, values, results=results),
                partial="scheduling/_appointment_new.html")


@get("/appointments/new", name="scheduling.book_form", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def book_form(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    """The booking form, prefilled from the clicked cell (date, time, practitioner, room) or a
    patient's page (`patient_id`). A name never comes through the address: the search posts."""
    values = {k: (request.query_params.get(k) or "")[:200] for k in BOOKING_FIELDS}
    _prefill(db, values)
    return _booking_form(request, db, values)


@post("/appointments/new", name="scheduling.book_form_search", opt={"permission": perm.MANAGE}, sync_to_thread=True,
      status_code=200)
def book_form_search(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Template:
    """The booking form again with the patients found: the form's Search button (without
    JavaScript, and in the dialog), every value typed so far kept."""
    values = {k: text(data, k, 20_000 if k == "notes" else 200) for k in BOOKING_FIELDS}
    return _booking_form(request, db, values, text(data, "q", 200))


def _prefill(db: CarnetSession, q: dict[str, str]) -> None:
    """Defaults for a clicked cell: the room of the practitioner's working hours at that time, and
    the appointment type they book most."""
    if not q["practitioner"].isdigit() or not id_in_range(int(q["practitioner"])):
        return
    practitioner_id = int(q["practitioner"])
    if not q["room"] and q["date"] and q["time"]:
        try:
            weekday, at = date.fromisoformat(q["date"]).weekday(), time.fromisoformat(q["time"])
        except ValueError:
            return
        for block in agenda.load_hours(db, practitioner_id):
            if block.weekday == weekday and block.start_time <= at < block.end_time and block.room_id:
                q["room"] = str(block.room_id)
                break
    if not q["type"]:
        favourite = agenda.favourite_type(db, practitioner_id)
        if favourite is not None:
            q["type"] = str(favourite)


@post("/appointments", name="scheduling.book", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def book(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    tz = clinic_tz(db)
    errors = FormErrors()
    starts_at = moment(request, data, "date", "time", tz, errors)
    practitioner_id = integer(request, data, "practitioner", errors)
    patient_id = integer(request, data, "patient_id", errors)
    type_id = integer(request, data, "type", errors)
    room_id = integer(request, data, "room", errors, required=False)
    duration = integer(request, data, "duration", errors, required=False, low=5, high=480)
    notes = text(data, "notes", 20_000) or None
    override = flag(data, "override")  # the staff ticked "book anyway" (past or outside working hours)
    values = {k: text(data, k) for k in ("date", "time", "practitioner", "patient_id", "type", "room", "duration",
                                         "next")}
    values["override"] = "1" if override else ""
    values["notes"] = notes or ""
    if patient_id is None and "patient_id" in errors:
        errors["patient_id"] = translate(request, "Choose a patient (search by last name, e-mail or phone).")
    if notes and not principal_of(request).can(perm.CLINICAL):
        errors["notes"] = translate(request, "Only practitioners write clinical notes.")
    if not errors:
        try:
            appts.book(
                db, practitioner_id=practitioner_id, patient_id=patient_id, appointment_type_id=type_id,  # type: ignore[arg-type]
                starts_at=starts_at, ends_at=starts_at + timedelta(minutes=duration) if duration else None,  # type: ignore[operator,arg-type]
                room_id=room_id, notes=notes, actor_user_id=principal_of(request).user_id,
                hooks=hooks_for(request), overrides=Overrides(past=override, outside_hours=override),
            )
        except SchedulingError as exc:
            errors[_form_field(exc.field)] = translate(request, exc.message)
        except SlotTaken as exc:
            db.rollback()
            errors["time"] = translate(request, SLOT_REASONS.get(exc.reason, TAKEN))
    if errors:
        results = None
        if patient_id:
            name = people.one(db, principal_of(request), patient_id)
            results = [(patient_id, name)] if name else None
        return page(request, "scheduling/appointment_new.html",
                    booking_context(request, db, values, errors, results=results),
                    partial="scheduling/_appointment_new.html", status_code=422)
    return _done(request, values["next"])


def _form_field(field: str) -> str:
    return {"starts_at": "time", "ends_at": "duration", "practitioner_id": "practitioner",
            "allow_past": "override", "allow_outside_hours": "override",
            "appointment_type_id": "type", "room_id": "room", "place_id": "room"}.get(field, field)


def _appointment(db: CarnetSession, appointment_id: int) -> Appointment:
    try:
        return appts.get_appointment(db, appointment_id)
    except NotFound:
        raise NotFoundException() from None


def appointment_context(request: Request[Any, Any, Any], db: CarnetSession, appt: Appointment,
                        errors: FormErrors | None = None, next_url: str | None = None) -> dict[str, Any]:
    principal = principal_of(request)
    tz = clinic_tz(db)
    clinical = people.clinical_allowed(db, principal, appt)
    notes = appts.read_notes(db, appt) if clinical and appt.notes is not None else None
    own = {appt.patient_id} if appt.practitioner_id == principal.user_id else set()
    name = people.names(db, principal, [appt.patient_id], own_ids=own).get(appt.patient_id)
    counters = None
    if appt.series_id is not None:
        counters = series_svc.counters(db, series_svc.get_series(db, appt.series_id),
                                       plugin_settings(request).prescription_warning_sessions)
    record(db, action="read", resource_type="appointment", resource_id=appt.id, patient_id=appt.patient_id)
    start, end = to_local(appt.starts_at, tz), to_local(appt.ends_at, tz)
    messages = [(r, to_local(r.sent_at or r.due_at, tz)) for r in reminders.for_appointment(db, appt.id)]
    staff = {p.id: p for p in practitioners(db)}
    tell_channel, tell_phone = (notices.channel_for(host_of(request), db, appt.patient_id)
                                if principal.can(perm.MANAGE) and appt.status == BOOKED else (None, None))
    contact = patient_contact(db, appt.patient_id, "sms") if name else None  # the phone to call, opened audited
    return {
        "tell_channel": tell_channel, "tell_phone": tell_phone, "patient_phone": contact.phone if contact else None,
        "a": appt, "start": start, "end": end, "patient_name": name,
        "cancel_reason": appts.cancel_reason(db, appt) if appt.cancel_reason is not None else None,
        "type": agenda.types_by_id(db).get(
            appt.appointment_type_id), "rooms": setup.list_rooms(db), "room": agenda.rooms_by_id(db).get(appt.room_id),
        "practitioner": staff.get(appt.practitioner_id), "clinical": clinical, "notes": notes,
        "counters": counters, "errors": errors or {}, "status_labels": STATUS_LABELS,
        "can_manage": principal.can(perm.MANAGE), "started": appt.starts_at <= utcnow(),
        "next": safe_next(next_url or request.query_params.get("next")), "weekdays": WEEKDAY_NAMES,
        "date_value": start.date().isoformat(), "time_value": start.strftime("%H:%M"),
        "reminders": messages, "reminder_states": REMINDER_STATE_LABELS, "channel_labels": CHANNEL_LABELS,
    }


def _dialog(request: Request[Any, Any, Any], db: CarnetSession, appt: Appointment, errors: FormErrors | None = None,
            next_url: str | None = None, status_code: int = 200, typed: dict[str, str] | None = None) -> Template:
    if status_code >= 400:
        db.rollback()
        appt = _appointment(db, appt.id)  # type: ignore[arg-type]
    context = appointment_context(request, db, appt, errors, next_url)
    if typed:  # the move form again with what was typed (to confirm a time in the past or out of hours)
        context.update({k: v for k, v in typed.items() if v})
    return page(request, "scheduling/appointment.html", context, partial="scheduling/_appointment.html",
                status_code=status_code)


@get("/appointments/{appointment_id:int}", name="scheduling.appointment", opt={"permission": perm.VIEW},
     sync_to_thread=True)
def show_appointment(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: FromPath[int],
) -> Template:
    return _dialog(request, db, _appointment(db, appointment_id))


@post("/appointments/{appointment_id:int}/move", name="scheduling.move", opt={"permission": perm.MANAGE},
      sync_to_thread=True)
def move_appointment(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: FromPath[int], data: Form,
) -> Any:
    appt = _appointment(db, appointment_id)
    errors = FormErrors()
    starts_at = moment(request, data, "date", "time", clinic_tz(db), errors)
    room_id = integer(request, data, "room", errors, required=False)
    override = flag(data, "override")  # the staff ticked "move anyway" (past or outside working hours)
    if not errors:
        try:
            appts.move(db, appt, starts_at, room_id=room_id, hooks=hooks_for(request),  # type: ignore[arg-type]
                       overrides=Overrides(past=override, outside_hours=override))
            if flag(data, "tell"):
                notices.tell_patient(db, appt, "moved")
        except SchedulingError as exc:
            errors[_form_field(exc.field)] = translate(request, exc.message)
        except SlotTaken as exc:
            errors["time"] = translate(request, SLOT_REASONS.get(exc.reason, TAKEN))
    if errors:
        return _dialog(request, db, appt, errors, text(data, "next"), status_code=422,
                       typed={"date_value": text(data, "date", 10), "time_value": text(data, "time", 5)})
    return _done(request, text(data, "next"))


@post("/appointments/{appointment_id:int}/cancel", name="scheduling.cancel", opt={"permission": perm.MANAGE},
      sync_to_thread=True)
def cancel_appointment(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: FromPath[int], data: Form,
) -> Any:
    appt = _appointment(db, appointment_id)
    try:
        appts.cancel(db, appt, text(data, "reason", 1000), hooks=hooks_for(request))
        if flag(data, "tell"):
            notices.tell_patient(db, appt, "cancelled")
    except SchedulingError as exc:
        field = "reason" if exc.field == "reason" else "status"
        return _dialog(request, db, appt, FormErrors({field: translate(request, exc.message)}), text(data, "next"),
                       status_code=422)
    return _done(request, text(data, "next"))


@post("/appointments/{appointment_id:int}/status", name="scheduling.mark", opt={"permission": perm.MANAGE},
      sync_to_thread=True)
def mark_appointment(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: FromPath[int], data: Form,
) -> Any:
    appt = _appointment(db, appointment_id)
    try:
        appts.mark(db, appt, text(data, "status", 16), hooks=hooks_for(request))
    except SchedulingError as exc:
        return _dialog(request, db, appt, FormErrors({"status": translate(request, exc.message)}), text(data, "next"),
                       status_code=422)
    except SlotTaken as exc:
        message = translate(request, SLOT_REASONS.get(exc.reason, TAKEN))
        return _dialog(request, db, appt, FormErrors({"status": message}), text(data, "next"), status_code=422)
    return _done(request, text(data, "next"))


@post("/appointments/{appointment_id:int}/notes", name="scheduling.notes", opt={"permission": perm.CLINICAL},
      sync_to_thread=True)
def write_notes(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: FromPath[int], data: Form,
) -> Any:
    appt = _appointment(db, appointment_id)
    if not people.clinical_allowed(db, principal_of(request), appt):
        raise PermissionDeniedException("clinical notes of a patient one does not follow")
    try:
        appts.set_notes(db, appt, text(data, "notes", 20_001) or None)
    except SchedulingError as exc:
        return _dialog(request, db, appt, FormErrors({"notes": translate(request, exc.message)}), text(data, "next"),
                       status_code=422)
    return _done(request, text(data, "next"))


@post("/appointments/{appointment_id:int}/move-following", name="scheduling.move_following",
      opt={"permission": perm.MANAGE}, sync_to_thread=True)
def move_following(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], appointment_id: FromPath[int], data: Form,
) -> Any:
    """Move this session and every following one of its series to a new weekday and time."""
    appt = _appointment(db, appointment_id)
    errors = FormErrors()
    first = day(request, data, "first_day", errors)
    weekday = integer(request, data, "weekday", errors, low=0, high=6)
    at = clock(request, data, "at", errors)
    if not errors:
        try:
            series_svc.move_following(
                db, appt, slots=(WeeklySlot(weekday, at),), first_day=first,  # type: ignore[arg-type]
                hooks=hooks_for(request), holiday_region=plugin_settings(request).holiday_region,
            )
        except SchedulingError as exc:
            errors["first_day"] = translate(request, exc.message)
        except SlotTaken as exc:
            errors["at"] = translate(request, SLOT_REASONS.get(exc.reason, TAKEN))
    if errors:
        return _dialog(request, db, appt, errors, text(data, "next"), status_code=422)
    return _done(request, text(data, "next"))


# --- patient search, today, day sheet ----------------------------------------------------------


@post("/patients/search", name="scheduling.patient_search", opt={"permission": perm.MANAGE}, sync_to_thread=True,
      status_code=200)
def patient_search(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Template:
    """Patient search (first letters of the names, e-mail or phone) for the booking and series forms; results as radio
    buttons. A POST: a query string would carry the name into addresses, history and proxy logs."""
    q = text(data, "q", 200)
    results = people.search(db, principal_of(request), q) if q else []
    return page(request, "scheduling/_patient_results.html",
                {"results": results, "q": q, "registry": people.registry_available(), "v": {}})


def _day_rows(request: Request[Any, Any, Any], db: CarnetSession, the_day: date,
              practitioner_id: int | None, with_phones: bool = False) -> dict[str, Any]:
    tz = clinic_tz(db)
    start, end = local_day_bounds(the_day, tz)
    rows = agenda.load_appointments(db, start, end, practitioner_id=practitioner_id)
    own = _own_patients(request, rows)
    names = people.names(db, principal_of(request), (a.patient_id for a in rows), own_ids=own)
    # the number to call for each patient whose name is shown (a cancellation, a delay)
    phones = people.phones(db, principal_of(request), names, own_ids=own) if with_phones else {}
    record_at_commit(db, action="list", resource_type="appointment",
                     details={"view": "day-list", "count": len(rows)})
    staff = {p.id: p for p in practitioners(db)}
    return {
        "rows": [(a, to_local(a.starts_at, tz), to_local(a.ends_at, tz)) for a in rows], "names": names,
        "phones": phones,
        "types": agenda.types_by_id(db), "rooms_by_id": agenda.rooms_by_id(db), "staff_by_id": staff,
        "staff": list(staff.values()), "the_day": the_day, "day_label": long_day(request, the_day),
        "practitioner_id": practitioner_id, "status_labels": STATUS_LABELS, "counts": agenda.summary(rows),
        "can_manage": principal_of(request).can(perm.MANAGE), "now": utcnow(), "today": today_local(db),
    }


def _day_params(request: Request[Any, Any, Any], db: CarnetSession) -> tuple[date | None, int | None, FormErrors]:
    q = {k: request.query_params.get(k) or "" for k in ("date", "practitioner")}
    errors = FormErrors()
    the_day = day(request, q, "date", errors, required=False) or today_local(db)
    practitioner_id = integer(request, q, "practitioner", errors, required=False)
    return the_day, practitioner_id, errors


@get("/today", name="scheduling.today", opt={"permission": perm.VIEW}, sync_to_thread=True)
def today_list(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    """Today's appointments (mine for a practitioner, everyone's otherwise), with quick marking."""
    the_day, practitioner_id, errors = _day_params(request, db)
    if errors:
        return page(request, "scheduling/agenda_error.html", {"errors": errors}, status_code=400)
    mine = "practitioner" in principal_of(request).roles and not request.query_params.get("all")
    if practitioner_id is None and mine:
        practitioner_id = principal_of(request).user_id
    context = _day_rows(request, db, the_day, practitioner_id, with_phones=True)  # type: ignore[arg-type]
    who = {"practitioner": practitioner_id} if practitioner_id else {"all": 1}

    def at(d: date) -> str:
        return "/scheduling/today?" + urlencode({"date": d.isoformat(), **who})

    context.update(prev_url=at(the_day - timedelta(days=1)), next_url=at(the_day + timedelta(days=1)),  # type: ignore[operator]
                   self_url=at(the_day))  # type: ignore[arg-type]
    return page(request, "scheduling/today.html", context, partial="scheduling/_today.html")


@get("/day-sheet", name="scheduling.day_sheet", opt={"permission": perm.VIEW}, sync_to_thread=True)
def day_sheet(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    """A printable day sheet for one practitioner (or everyone)."""
    the_day, practitioner_id, errors = _day_params(request, db)
    if errors:
        return page(request, "scheduling/agenda_error.html", {"errors": errors}, status_code=400)
    context = _day_rows(request, db, the_day, practitioner_id)  # type: ignore[arg-type]
    context["printed_at"] = to_local(utcnow(), clinic_tz(db))
    return page(request, "scheduling/day_sheet.html", context)


PAGE_HANDLERS = [agenda_page, types_css, book_form, book_form_search, book, show_appointment, move_appointment,
                 cancel_appointment, mark_appointment, write_notes, move_following, patient_search, today_list,
                 day_sheet]
