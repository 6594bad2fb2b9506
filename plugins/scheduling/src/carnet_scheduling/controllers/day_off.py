"""Cancel a practitioner's whole day (illness): the appointments still to come that day are
cancelled with one reason, each patient is told (e-mail, else SMS with a provider) and staff get the list of
those to call; the day is recorded as an absence so nothing books it again."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.response import Template

from carnet_core.plugin_api import N_, CarnetSession, host_of, page, principal_of, record, translate
from carnet_scheduling import permissions as perm
from carnet_scheduling.controllers.common import hooks_for
from carnet_scheduling.controllers.forms import Form, FormErrors, day, flag, integer, text
from carnet_scheduling.controllers.pages import long_day, today_local
from carnet_scheduling.services import notices, people
from carnet_scheduling.services.calendar import to_local
from carnet_scheduling.services.context import clinic_tz, practitioners
from carnet_scheduling.services.errors import SchedulingError


def _context(request: Request[Any, Any, Any], db: CarnetSession, values: dict[str, Any],
             errors: FormErrors | None = None) -> dict[str, Any]:
    """The form: the day, the practitioner, and each appointment to cancel with how its patient
    will be told (opening contacts is audited per patient by core)."""
    staff = practitioners(db)
    rows: list[dict[str, Any]] = []
    the_day, practitioner_id = values.get("the_day"), values.get("practitioner_id")
    if the_day is not None and practitioner_id is not None:
        tz = clinic_tz(db)
        found = notices.day_appointments(db, practitioner_id, the_day)
        principal = principal_of(request)
        own = {a.patient_id for a in found if a.practitioner_id == principal.user_id}
        names = people.names(db, principal, (a.patient_id for a in found), own_ids=own)
        host = host_of(request)
        for a in found:
            channel, phone = notices.channel_for(host, db, a.patient_id)
            rows.append({"a": a, "start": to_local(a.starts_at, tz), "end": to_local(a.ends_at, tz),
                         "name": names.get(a.patient_id), "channel": channel, "phone": phone})
        record(db, action="list", resource_type="appointment", details={"view": "day-off", "count": len(rows)})
    return {"staff": staff, "rows": rows, "v": values, "errors": errors or {},
            "day_label": long_day(request, the_day) if the_day else "",
            "channel_labels": CHANNEL_LABELS}


CHANNEL_LABELS = {notices.EMAIL: N_("by e-mail"), notices.SMS: N_("by SMS"), notices.CALL: N_("to call")}


@get("/day-off", name="scheduling.day_off_form", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def day_off_form(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    """The form to cancel a day: `date` and `practitioner` from the today list or the agenda."""
    q = {k: request.query_params.get(k) or "" for k in ("date", "practitioner")}
    errors = FormErrors()
    the_day = day(request, q, "date", errors, required=False) or today_local(db)
    practitioner_id = integer(request, q, "practitioner", errors, required=False)
    if practitioner_id is None and not errors:
        me = principal_of(request).user_id
        staff = practitioners(db)
        practitioner_id = me if any(p.id == me for p in staff) else (staff[0].id if staff else None)
    values = {"the_day": the_day, "practitioner_id": practitioner_id, "tell": True, "absent": True, "reason": ""}
    if not errors:
        try:
            notices.check_day(db, practitioner_id, the_day)
        except SchedulingError as exc:
            errors[exc.field] = translate(request, exc.message)
    if errors:
        values["practitioner_id"] = values["practitioner_id"] if "practitioner" not in errors else None
        return page(request, "scheduling/day_off.html", _context(request, db, {**values, "the_day": None}, errors),
                    status_code=400)
    return page(request, "scheduling/day_off.html", _context(request, db, values))


@post("/day-off", name="scheduling.day_off", opt={"permission": perm.MANAGE}, sync_to_thread=True, status_code=200)
def cancel_day(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Template:
    """Cancel the day; answer the result: how many were told, and whom to call."""
    errors = FormErrors()
    the_day = day(request, data, "date", errors)
    practitioner_id = integer(request, data, "practitioner", errors)
    values = {"the_day": the_day, "practitioner_id": practitioner_id, "tell": flag(data, "tell"),
              "absent": flag(data, "absent"), "reason": text(data, "reason", 300)}
    done = None
    if not errors:
        try:
            done = notices.cancel_day(
                db, host_of(request), practitioner_id=practitioner_id, the_day=the_day, reason=values["reason"],
                tell=values["tell"], absent=values["absent"], absence_label=translate(request, "Day cancelled"),
                hooks=hooks_for(request),
            )
        except SchedulingError as exc:
            errors[exc.field if exc.field in ("date", "practitioner", "reason") else "reason"] = translate(
                request, exc.message)
    if done is None:
        return page(request, "scheduling/day_off.html",
                    _context(request, db, values if "date" not in errors else {**values, "the_day": None}, errors),
                    status_code=422)
    principal = principal_of(request)
    names = people.names(db, principal, (a.patient_id for a in done.appointments),
                         own_ids={a.patient_id for a in done.appointments if a.practitioner_id == principal.user_id})
    tz = clinic_tz(db)
    not_told = (notices.CALL, None)
    to_call = [{"a": a, "start": to_local(a.starts_at, tz), "name": names.get(a.patient_id),
                "phone": done.channels.get(a.id, not_told)[1]}  # type: ignore[arg-type]
               for a in done.appointments if done.channels.get(a.id, not_told)[0] == notices.CALL]  # type: ignore[arg-type]
    return page(request, "scheduling/day_off_done.html", {
        "done": done, "count": len(done.appointments), "emailed": done.count(notices.EMAIL),
        "texted": done.count(notices.SMS), "to_call": to_call, "told": values["tell"],
        "day_label": long_day(request, the_day), "the_day": the_day,  # type: ignore[arg-type]
        "practitioner_id": practitioner_id,
    })


DAY_OFF_HANDLERS = [day_off_form, cancel_day]
