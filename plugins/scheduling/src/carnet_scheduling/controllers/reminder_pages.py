"""Reminder settings under /scheduling/setup/reminders: the clinic's rules (channel and delay),
reminders switched off per practitioner and per appointment type, and, from the patient page,
per patient. Every change is audited by the service and re-plans the booked appointments."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    host_of,
    page,
    principal_of,
    sms_transport,
    translate,
    translate_plural,
)
from carnet_scheduling import permissions as perm
from carnet_scheduling.controllers.forms import Form, FormErrors, integer, text
from carnet_scheduling.controllers.pages import CHANNEL_LABELS
from carnet_scheduling.services import people, reminders, setup
from carnet_scheduling.services.context import practitioners
from carnet_scheduling.services.errors import NotFound, SchedulingError

UNITS = {"days": 24 * 60, "hours": 60}
UNIT_LABELS = {"days": N_("days before"), "hours": N_("hours before")}
# The services' messages, shown translated.
SHOWN_MESSAGES = (
    N_("choose e-mail or SMS"), N_("between 30 minutes and 30 days before the appointment"),
    N_("this reminder exists already"), N_("choose a practitioner or an appointment type of this practice"),
    N_("reminders were already planned with this rule: switch it off instead"),
    N_("the practice keeps at least one reminder rule: switch it off instead"),
)
FIELDS = {"minutes_before": "delay", "rule": "rule", "channel": "channel", "subject": "subject"}


def delay_text(request: Request[Any, Any, Any], minutes: int) -> str:
    """"7 days before", "36 hours before", "90 minutes before" in the page's language."""
    if minutes % (24 * 60) == 0:
        n = minutes // (24 * 60)
        return translate_plural(request, "%(num)s day before", "%(num)s days before", n)
    if minutes % 60 == 0:
        return translate_plural(request, "%(num)s hour before", "%(num)s hours before", minutes // 60)
    return translate_plural(request, "%(num)s minute before", "%(num)s minutes before", minutes)


def reminders_context(request: Request[Any, Any, Any], db: CarnetSession, errors: FormErrors | None = None,
                      values: dict[str, Any] | None = None) -> dict[str, Any]:
    staff = practitioners(db)
    types = setup.list_types(db, active_only=False)
    staff_off = reminders.switched_off_ids(db, "practitioner", [p.id for p in staff])
    types_off = reminders.switched_off_ids(db, "appointment_type", [t.id for t in types])
    usage = reminders.rule_usage(db)
    return {
        "rules": [{"rule": r, "when": delay_text(request, r.minutes_before), "used": usage.get(r.id, 0)}
                  for r in reminders.rules(db)],
        "staff": [{"person": p, "on": p.id not in staff_off} for p in staff],
        "types": [{"type": t, "on": t.reminders and t.id not in types_off} for t in types],
        "channels": reminders.CHANNELS, "channel_labels": CHANNEL_LABELS, "units": UNITS, "unit_labels": UNIT_LABELS,
        "errors": errors or {}, "v": values or {},
        # without an SMS transport plugin, SMS reminders are only written to the server's folder
        "sms_ready": sms_transport(host_of(request)) is not None,
    }


def _page(request: Request[Any, Any, Any], db: CarnetSession, errors: FormErrors | None = None,
          values: dict[str, Any] | None = None) -> Template:
    status = 422 if errors else 200
    return page(request, "scheduling/reminders.html", reminders_context(request, db, errors, values),
                status_code=status)


def _back(section: str = "rules") -> Redirect:
    return Redirect(f"/scheduling/setup/reminders#{section}", status_code=303)


def _error(request: Request[Any, Any, Any], db: CarnetSession, exc: SchedulingError,
           values: dict[str, Any] | None = None) -> Template:
    db.rollback()
    return _page(request, db, FormErrors({FIELDS.get(exc.field, "rule"): translate(request, exc.message)}), values)


@get("/setup/reminders", name="scheduling.reminders", opt={"permission": perm.CONFIGURE}, sync_to_thread=True)
def reminders_page(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    return _page(request, db)


@post("/setup/reminders/rules", name="scheduling.reminders.add", opt={"permission": perm.CONFIGURE},
      sync_to_thread=True)
def add_rule(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    """A rule "send on <channel> <delay> <unit> before": 30 minutes to 30 days, no twin."""
    values = {k: text(data, k, 12) for k in ("channel", "delay", "unit")}
    errors = FormErrors()
    delay = integer(request, data, "delay", errors, high=10_000)
    unit = values["unit"] or "days"
    if unit not in UNITS:
        errors["delay"] = translate(request, "Choose days or hours.")
    if not errors:
        try:
            reminders.add_rule(db, values["channel"], delay * UNITS[unit])  # type: ignore[operator]
        except SchedulingError as exc:
            return _error(request, db, exc, values)
    if errors:
        return _page(request, db, errors, values)
    return _back()


@post("/setup/reminders/defaults", name="scheduling.reminders.defaults", opt={"permission": perm.CONFIGURE},
      sync_to_thread=True)
def default_rules(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Redirect:
    """The usual rules (e-mail 7 days and 1 day before, SMS 2 days before) for a clinic with none."""
    reminders.ensure_default_rules(db, actor=None)
    return _back()


@post("/setup/reminders/rules/{rule_id:int}", name="scheduling.reminders.rule", opt={"permission": perm.CONFIGURE},
      sync_to_thread=True)
def change_rule(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], rule_id: FromPath[int], data: Form,
) -> Any:
    """`action` = off (pending messages cancelled), on, or remove (a rule that never sent anything)."""
    action = text(data, "action", 8)
    try:
        if action in ("on", "off"):
            reminders.set_rule_active(db, rule_id, action == "on")
        elif action == "remove":
            reminders.remove_rule(db, rule_id)
        else:
            return _page(request, db, FormErrors({"rule": translate(request, "Choose an action from the list.")}))
    except NotFound:
        raise NotFoundException() from None
    except SchedulingError as exc:
        return _error(request, db, exc)
    return _back()


@post("/setup/reminders/switches", name="scheduling.reminders.switch", opt={"permission": perm.CONFIGURE},
      sync_to_thread=True)
def switch(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    """Reminders on or off for one practitioner or one appointment type."""
    errors = FormErrors()
    scope = text(data, "scope", 24)
    subject = integer(request, data, "subject", errors)
    if scope not in ("practitioner", "appointment_type"):
        errors["subject"] = translate(request, reminders.SUBJECT_ERROR)
    if errors:
        return _page(request, db, errors)
    try:
        reminders.switch(db, scope, subject, text(data, "enabled", 1) == "1")  # type: ignore[arg-type]
    except SchedulingError as exc:
        return _error(request, db, exc)
    return _back("practitioners" if scope == "practitioner" else "types")


@post("/patients/{patient_id:int}/reminders", name="scheduling.reminders.patient", opt={"permission": perm.MANAGE},
      sync_to_thread=True)
def patient_switch(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], patient_id: FromPath[int], data: Form,
) -> Redirect:
    """Reminders on or off for one patient (from the patient page; the patient can also stop them
    with the link in each message)."""
    if people.one(db, principal_of(request), patient_id) is None:
        raise NotFoundException()  # not this clinic's, or not a patient this person may see
    reminders.switch(db, "patient", patient_id, text(data, "enabled", 1) == "1")
    return Redirect(f"/patients/{patient_id}", status_code=303)


REMINDER_HANDLERS = [reminders_page, add_rule, default_rules, change_rule, switch, patient_switch]
