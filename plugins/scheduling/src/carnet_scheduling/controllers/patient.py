"""Patient pages without an account: online booking, confirmation, and the links in e-mails
(cancel, move). Mounted under /p/{clinic_slug}/scheduling; every form carries the CSRF token;
URLs carry ids of public things (practitioner, appointment type, a time) or a link token, never
patient data. Bad or used links get core's clear page (404/410/429), never an error."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from carnet_core.plugin_api import (
    PUBLIC,
    CarnetSession,
    DateOutOfRange,
    User,
    check_moment,
    client_address,
    clinic_hooks,
    host_of,
    keep_page,
    links,
    page,
    refusal_page,
)
from carnet_scheduling import messages
from carnet_scheduling.controllers.common import plugin_settings
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import booking
from carnet_scheduling.services.calendar import to_local
from carnet_scheduling.services.errors import NotFound, SchedulingError, SlotTaken

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
OPT = {"permission": PUBLIC}


def _clinic(request: Request[Any, Any, Any]) -> Any:
    return request.scope["state"]["public_clinic"]


def _hooks(request: Request[Any, Any, Any]) -> Any:
    return clinic_hooks(request)


def _rules(request: Request[Any, Any, Any]) -> booking.OnlineRules:
    return booking.OnlineRules.from_settings(plugin_settings(request))


def _base(request: Request[Any, Any, Any]) -> str:
    return f"/p/{_clinic(request).slug}/scheduling"


def _slot_rows(slots: list[Any], tz: str, locale: str) -> list[dict[str, str]]:
    return [{"value": s.start.isoformat(), "label": messages.when_text(s.start, tz, locale)} for s in slots]


def _parse_start(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        raise SchedulingError("starts_at", "choose one of the proposed times") from None
    try:
        return check_moment(moment, aware=True)
    except DateOutOfRange:
        raise SchedulingError("starts_at", "choose one of the proposed times") from None


@get("/book", name="scheduling.public.book", opt=OPT, sync_to_thread=True)
def book_index(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    from carnet_scheduling.services.setup import PROFESSION_LABELS, professions

    people = booking.online_practitioners(db)
    offered = booking.offered_types(db, people)
    of = professions(db)
    return page(request, "scheduling/public_book.html", {
        "practitioners": [p for p in people if offered[p.id]], "offered": offered,
        "profession": {p.id: PROFESSION_LABELS[of[p.id]] for p in people if p.id in of}, "base": _base(request),
    })


@get("/book/{practitioner_id:int}/{type_id:int}", name="scheduling.public.slots", opt=OPT, sync_to_thread=True)
def book_slots(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], practitioner_id: FromPath[int],
    type_id: FromPath[int], week: FromQuery[str | None] = None,
) -> Template:
    """One week of free times, grouped by day (the phone shows a short page, not 60 lines), with
    the previous and next weeks; without `week`, the first week that has a free time."""
    clinic = _clinic(request)
    try:
        shown = booking.public_week(db, practitioner_id, type_id, _rules(request), clinic.timezone,
                                    booking.week_asked(week))
    except SchedulingError:
        raise NotFoundException() from None
    kind = appts.get_type(db, type_id)
    who = db.get(User, practitioner_id)
    tz = clinic.timezone
    days = [{"day": d, "slots": [{"value": s.start.isoformat(), "time": to_local(s.start, tz).strftime("%H:%M"),
                                  "label": messages.when_text(s.start, tz, "fr")} for s in slots]}
            for d, slots in shown.days]
    return page(request, "scheduling/public_slots.html", {
        "days": days, "monday": shown.monday, "previous": shown.previous, "next": shown.next,
        "practitioner": who, "kind": kind, "week_url": f"{_base(request)}/book/{practitioner_id}/{type_id}",
        "action": f"{_base(request)}/book/{practitioner_id}/{type_id}/form", "base": _base(request),
    })


def _booking_form(request: Request[Any, Any, Any], db: CarnetSession, practitioner_id: int, type_id: int,
                  start: str, values: dict[str, Any] | None = None, error: SchedulingError | None = None,
                  status: int = 200, for_child: bool = False) -> Template:
    from urllib.parse import urlencode

    from carnet_scheduling.controllers.waitlist import RELATIONS

    clinic = _clinic(request)
    moment = _parse_start(start)
    who = db.get(User, practitioner_id)
    values = values or {}
    rows = list(values.get("guardians") or [])[:2]
    rows += [{"may_receive_messages": True} for _ in range(2 - len(rows))]
    form_url = f"{_base(request)}/book/{practitioner_id}/{type_id}/form"
    context = {
        "start": start, "when": messages.when_text(moment, clinic.timezone, "fr"), "practitioner": who,
        "kind": appts.get_type(db, type_id), "values": values, "error": error, "for_child": for_child,
        "rows": rows, "relations": RELATIONS, "main": str(values.get("main") or "0"),
        "self_url": f"{form_url}?{urlencode({'start': start})}",
        "child_url": f"{form_url}?{urlencode({'start': start, 'for': 'child'})}",
        "action": f"{_base(request)}/book/{practitioner_id}/{type_id}", "base": _base(request),
    }
    return page(request, "scheduling/public_form.html", context, status_code=status)


@get("/book/{practitioner_id:int}/{type_id:int}/form", name="scheduling.public.form", opt=OPT, sync_to_thread=True)
def book_form(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], practitioner_id: FromPath[int],
    type_id: FromPath[int], start: FromQuery[str] = "", for_: Annotated[str, QueryParameter(name="for")] = "",
) -> Template:
    try:
        return _booking_form(request, db, practitioner_id, type_id, start, for_child=for_ == "child")
    except SchedulingError:
        raise NotFoundException() from None


@post("/book/{practitioner_id:int}/{type_id:int}", name="scheduling.public.request", opt=OPT, sync_to_thread=True)
def book_request(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], practitioner_id: FromPath[int],
    type_id: FromPath[int], data: Form,
) -> Any:
    start = str(data.get("start") or "")
    data = _with_guardians(data)
    try:
        requested = booking.request_booking(
            db, practitioner_id=practitioner_id, type_id=type_id, starts_at=_parse_start(start),
            contact=data, rules=_rules(request), hooks=_hooks(request),
        )
    except SlotTaken:
        error = SchedulingError("starts_at", "this time is not free any more; please choose another one")
        return _form_again(request, db, practitioner_id, type_id, start, data, error, 409)
    except (SchedulingError, NotFound) as exc:
        error = exc if isinstance(exc, SchedulingError) else SchedulingError("appointment", "not found")
        return _form_again(request, db, practitioner_id, type_id, start, data, error, 400)
    return Redirect(f"{_base(request)}/confirm/{requested.confirm_token}", status_code=303)


def _with_guardians(data: dict[str, Any]) -> dict[str, Any]:
    """The form's fields, with a child's holders of parental authority (rows g0_…, g1_…) gathered
    as `guardians` (a value typed twice, a list, is left out: the row is then refused)."""
    import re

    from carnet_scheduling.services.contacts import GUARDIAN_KEYS

    plain = {k: v for k, v in data.items() if not re.match(r"^g\d+_", k)}
    if str(data.get("for") or "") != "child":
        return plain

    guardians = [
        {**{k: data.get(f"g{i}_{k}") for k in GUARDIAN_KEYS if isinstance(data.get(f"g{i}_{k}"), str)},
         "may_receive_messages": data.get(f"g{i}_messages") in ("1", "on")}
        for i in range(2)
    ]
    return {**plain, "guardians": guardians}


def _form_again(request: Any, db: CarnetSession, practitioner_id: int, type_id: int, start: str,
                data: dict[str, Any], error: SchedulingError, status: int) -> Template:
    values = {k: v for k, v in data.items()
              if k in ("first_name", "last_name", "email", "phone", "birth_date", "main") and isinstance(v, str)}
    values["guardians"] = data.get("guardians") or []
    for_child = str(data.get("for") or "") == "child"
    try:
        return _booking_form(request, db, practitioner_id, type_id, start, values, error, status, for_child)
    except (SchedulingError, NotFound):
        return page(request, "scheduling/public_message.html", {"kind": "invalid", "base": _base(request)},
                    status_code=status)


def _open(request: Any, db: CarnetSession, token: str, purpose: str | tuple[str, ...]) -> Any:
    return links.open_link(db, token, purpose, client_address(request))


@get("/confirm/{token:str}", name="scheduling.public.confirm", opt=OPT, sync_to_thread=True)
def confirm_page(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str]) -> Template:
    try:
        _open(request, db, token, booking.CONFIRM)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    return keep_page(request, "scheduling/public_confirm.html", {"action": f"{_base(request)}/confirm/{token}"})


@post("/confirm/{token:str}", name="scheduling.public.confirm_code", opt=OPT, sync_to_thread=True)
def confirm_code(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str], data: Form,
) -> Template:
    try:
        link = _open(request, db, token, booking.CONFIRM)
        if not links.verify_code(db, link, str(data.get("code") or ""), client_address(request)):
            return keep_page(request, "scheduling/public_confirm.html",
                             {"action": f"{_base(request)}/confirm/{token}", "wrong": True}, 400)
        appt = booking.confirm(db, link)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except SchedulingError:
        return keep_page(request, "scheduling/public_message.html", {"kind": "released", "base": _base(request)}, 410)
    return _done(request, db, appt, "confirmed")


def _done(request: Any, db: CarnetSession, appt: Any, kind: str) -> Template:
    lang = messages.Lang(host_of(request), "fr")
    facts = messages.appointment_facts(db, appt, lang)
    return keep_page(request, "scheduling/public_message.html", {"kind": kind, "facts": facts, "base": _base(request)})


@get("/c/{token:str}", name="scheduling.public.mail_confirm", opt=OPT, sync_to_thread=True)
def mail_confirm_page(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str],
) -> Template:
    try:
        _open(request, db, token, booking.CONFIRM_MAIL)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    context = {"action": f"{_base(request)}/c/{token}", "button": True}
    return keep_page(request, "scheduling/public_confirm.html", context)


@post("/c/{token:str}", name="scheduling.public.mail_confirm_do", opt=OPT, sync_to_thread=True)
def mail_confirm(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str]) -> Template:
    try:
        link = _open(request, db, token, booking.CONFIRM_MAIL)
        appt = booking.confirm(db, link)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except SchedulingError:
        return keep_page(request, "scheduling/public_message.html", {"kind": "released", "base": _base(request)}, 410)
    return _done(request, db, appt, "confirmed")


def _manage_context(request: Any, db: CarnetSession, link: Any, token: str, **more: Any) -> dict[str, Any]:
    appt = appts.get_appointment(db, link.subject_id)
    clinic = _clinic(request)
    lang = messages.Lang(host_of(request), "fr")
    rules = _rules(request)
    slots: list[Any] = []
    kind = appts.get_type(db, appt.appointment_type_id)
    if kind.bookable_online:
        try:
            slots = booking.public_slots(db, appt.practitioner_id, appt.appointment_type_id, rules, days=21)
        except SchedulingError:
            slots = []
    late = False
    try:
        booking.check_cutoff(appt, rules)
    except SchedulingError:
        late = True
    return {
        "facts": messages.appointment_facts(db, appt, lang), "appointment": appt, "late": late,
        "cutoff_hours": int(rules.cancel_cutoff.total_seconds() // 3600),
        "slots": _slot_rows(slots[:40], clinic.timezone, "fr"), "base": _base(request),
        "cancel_action": f"{_base(request)}/a/{token}/cancel", "move_action": f"{_base(request)}/a/{token}/move",
        "optout_action": f"{_base(request)}/a/{token}/reminders-off",
        "earlier_action": f"{_base(request)}/a/{token}/earlier",
        **more,
    }


@get("/a/{token:str}", name="scheduling.public.manage", opt=OPT, sync_to_thread=True)
def manage_page(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str]) -> Template:
    try:
        link = _open(request, db, token, booking.MANAGE)
        links.audit_access(db, link, resource_type="appointment")
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    return keep_page(request, "scheduling/public_manage.html", _manage_context(request, db, link, token))


@post("/a/{token:str}/cancel", name="scheduling.public.cancel", opt=OPT, sync_to_thread=True)
def manage_cancel(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str], data: Form,
) -> Template:
    try:
        link = _open(request, db, token, booking.MANAGE)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    try:
        appt = booking.cancel_by_patient(db, link, str(data.get("reason") or ""), _rules(request), _hooks(request))
    except links.LinkRefused as refused:
        db.rollback()
        return refusal_page(request, refused)
    except SchedulingError as exc:
        context = _manage_context(request, db, link, token, error=exc, reason=str(data.get("reason") or "")[:300])
        return page(request, "scheduling/public_manage.html", context, status_code=400)
    return _done(request, db, appt, "cancelled")


@post("/a/{token:str}/move", name="scheduling.public.move", opt=OPT, sync_to_thread=True)
def manage_move(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str], data: Form,
) -> Template:
    try:
        link = _open(request, db, token, booking.MANAGE)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    try:
        appt = booking.move_by_patient(db, link, _parse_start(str(data.get("start") or "")), _rules(request),
                                       _hooks(request))
    except links.LinkRefused as refused:
        db.rollback()
        return refusal_page(request, refused)
    except (SchedulingError, SlotTaken) as exc:
        error = exc if isinstance(exc, SchedulingError) else SchedulingError("start", "this time is not free any more")
        return page(request, "scheduling/public_manage.html", _manage_context(request, db, link, token, error=error),
                    status_code=400)
    return _done(request, db, appt, "moved")


@post("/a/{token:str}/reminders-off", name="scheduling.public.reminders_off", opt=OPT, sync_to_thread=True)
def reminders_off(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str],
) -> Template:
    """The patient opts out of reminders (every channel); staff can switch them back on."""
    from carnet_scheduling.services import reminders

    try:
        link = _open(request, db, token, booking.MANAGE)
        appt = appts.get_appointment(db, link.subject_id)
        reminders.opt_out(db, appt.patient_id)
        links.audit_access(db, link, action="update", resource_type="scheduling_reminder_switch")
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    return keep_page(request, "scheduling/public_message.html", {"kind": "optout", "base": _base(request)})


PATIENT_HANDLERS = [
    book_index, book_slots, book_form, book_request, confirm_page, confirm_code, mail_confirm_page, mail_confirm,
    manage_page, manage_cancel, manage_move, reminders_off,
]

# Messages of the errors shown on these pages (raised in English by the services, shown translated).
from carnet_core.plugin_api import N_  # noqa: E402

ERROR_MESSAGES = (
    N_("this time is not free any more; please choose another one"),
    N_("give your first name"),
    N_("give your last name"),
    N_("give a valid e-mail address: the confirmation is sent there"),
    N_("give a phone number such as 06 12 34 56 78, or leave it empty"),
    N_("too many requests for this address; please try again in a few minutes"),
    N_("this kind of appointment cannot be booked online"),
    N_("this practitioner does not offer this kind of appointment"),
    N_("choose a profession from the list"),
    N_("this kind of appointment is for patients already followed here"),
    N_("check your contact details"),
    N_("give a valid e-mail address"),
    N_("give the first name"),
    N_("give the last name"),
    N_("give the birth date (day/month/year, not in the future)"),
    N_("contact_refused"),
    N_("choose one of the proposed times"),
    N_("give the child's first name"),
    N_("give the child's last name"),
    N_("give at least one holder of parental authority"),
    N_("choose as main contact a holder whose details you gave"),
    N_("give the main contact's e-mail address: the confirmation is sent there"),
    N_("say why the appointment is cancelled"),
    N_("this appointment is not booked any more"),
    N_("this time is not free any more"),
    N_("this appointment can only be moved by the practice; please call"),
    N_("changes through the link are closed this close to the appointment; please call the practice"),
)
