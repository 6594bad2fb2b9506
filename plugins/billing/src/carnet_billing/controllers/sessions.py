"""The batch page: a week of honoured sessions not invoiced yet; choose them and the act, review
in a dialog (htmx, or a page without JavaScript), create the drafts and, for one's own sessions
(or as an owner), issue them at once. Thin: parse, call `services.sessions`, render."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from carnet_billing import permissions as perm
from carnet_billing.controllers.pages import GROUPING_LABELS, _common, _staff
from carnet_billing.models import GROUPINGS
from carnet_billing.services import acts, notes, profiles, sessions
from carnet_billing.services.errors import BillingInvalid
from carnet_core.plugin_api import (
    CarnetSession,
    Form,
    FormErrors,
    clinic_hooks,
    errors_of,
    form_page,
    page,
    patient_access,
    principal_of,
    translate,
)

DB = NamedDependency[CarnetSession]


def _monday(raw: str | None, today: date) -> date:
    try:
        day = date.fromisoformat((raw or "")[:10])
    except ValueError:
        day = today
    if not date(2000, 1, 3) <= day <= date(2099, 12, 28):
        day = today
    return day - timedelta(days=day.weekday())


def _practitioner(request: Request[Any, Any, Any], raw: Any) -> int | None:
    principal = principal_of(request)
    if not sessions.may_choose_practitioner(principal):
        return principal.user_id
    try:
        value = int(str(raw or "").strip()[:12])
    except ValueError:
        return None
    return value if value > 0 else None


def _refs(data: dict[str, Any]) -> list[str]:
    raw = data.get("sessions", [])
    values = raw if isinstance(raw, list) else [raw]
    return [str(v)[:64] for v in values if v][: sessions.MAX_BATCH + 1]


def _act_id(raw: Any) -> int | None:
    try:
        value = int(str(raw or "").strip()[:12])
    except ValueError:
        return None
    return value if value > 0 else None


def _acts(data: dict[str, Any]) -> dict[str, int]:
    """Each session's own act, from its row's `act:<ref>` field (left empty: the act for all)."""
    found = {}
    for key, raw in data.items():
        if isinstance(key, str) and key.startswith("act:") and len(found) <= sessions.MAX_BATCH:
            value = _act_id(raw[0] if isinstance(raw, list) and raw else raw)
            if value is not None:
                found[key[4:][:64]] = value
    return found


def _context(request: Request[Any, Any, Any], db: CarnetSession, week: date, practitioner_id: int | None,
             values: dict[str, Any] | None = None) -> dict[str, Any]:
    principal = principal_of(request)
    hooks = clinic_hooks(request)
    found = sessions.to_invoice(db, principal, hooks, week, week + timedelta(days=7), practitioner_id)
    own = {s.patient_id for s in found if s.practitioner_id == principal.user_id}
    names = patient_access(db, principal).names({s.patient_id for s in found}, cared_for=own)
    staff = {u.id: u.display_name or u.email for u in _staff(db)}
    catalogue = acts.listing(db, active_only=True)
    if values is None:
        values = {"sessions": [s.ref for s in found],
                  **{f"act:{ref}": str(act_id) for ref, act_id in sessions.proposals(db, found, catalogue).items()}}
    chosen = set(_refs(values))
    return _common(
        request, week=week, previous=week - timedelta(days=7), following=week + timedelta(days=7),
        sessions=found, names=names, staff=staff, practitioner_id=practitioner_id, catalogue=catalogue,
        chosen=chosen, own_acts=_acts(values), may_choose=sessions.may_choose_practitioner(principal),
        scheduling="scheduling" in (principal.enabled_plugins or ()), v=values,
        grouping_labels=GROUPING_LABELS, groupings=GROUPINGS,
    )


@get("/sessions", name="billing.sessions", opt={"permission": perm.PREPARE}, sync_to_thread=True)
def sessions_page(request: Request[Any, Any, Any], db: DB) -> Template:
    """A week of honoured sessions not invoiced yet (`?week=YYYY-MM-DD&practitioner=ID`)."""
    week = _monday(request.query_params.get("week"), notes.clinic_today(db))
    practitioner_id = _practitioner(request, request.query_params.get("practitioner"))
    return page(request, "billing/sessions.html", _context(request, db, week, practitioner_id))


def _review_context(request: Request[Any, Any, Any], db: CarnetSession, data: dict[str, Any]) -> dict[str, Any]:
    week = _monday(str(data.get("week", "")), notes.clinic_today(db))
    context = _context(request, db, week, _practitioner(request, data.get("practitioner")), dict(data))
    chosen = [s for s in context["sessions"] if s.ref in context["chosen"]]
    principal = principal_of(request)
    who = {s.practitioner_id for s in chosen}
    by_id = {a.id: a for a in context["catalogue"]}
    for_all = by_id.get(_act_id(data.get("act_id")))  # type: ignore[arg-type]
    plan = [(s, by_id.get(context["own_acts"].get(s.ref)) or for_all) for s in chosen]  # type: ignore[arg-type]
    counts: dict[int, int] = {}
    for _, act in plan:
        if act is not None:
            counts[act.id] = counts.get(act.id, 0) + 1  # type: ignore[index]
    context.update(
        picked=chosen, act=for_all, plan=plan, act_counts=[(by_id[i], n) for i, n in counts.items()],
        patients=len({s.patient_id for s in chosen}),
        preferences={p: getattr(profiles.get(db, p), "session_grouping", "session") for p in who},
        may_issue=principal.can(perm.ISSUE) and all(p == principal.user_id or "owner" in principal.roles for p in who),
    )
    return context


def _checked(request: Request[Any, Any, Any], context: dict[str, Any]) -> FormErrors:
    errors = FormErrors()
    if not context["picked"]:
        errors["sessions"] = translate(request, "Select at least one session.")
    if any(act is None for _, act in context["plan"]):
        errors["act_id"] = translate(request, "Choose an act for each session: in its row, or below for the others.")
    return errors


@post("/sessions/review", name="billing.sessions_review", opt={"permission": perm.PREPARE}, sync_to_thread=True,
      status_code=200)
def review(request: Request[Any, Any, Any], db: DB, data: Form) -> Template:
    """What the batch will do, to confirm: in the page's dialog (htmx) or as a page."""
    context = _review_context(request, db, data)
    errors = _checked(request, context)
    if errors:
        return form_page(request, "billing/sessions.html", context, errors, partial="billing/_sessions_review.html")
    return page(request, "billing/sessions_review.html", context, partial="billing/_sessions_review.html")


@post("/sessions/invoice", name="billing.sessions_invoice", opt={"permission": perm.PREPARE}, sync_to_thread=True)
def invoice(request: Request[Any, Any, Any], db: DB, data: Form) -> Any:
    """Create the drafts of the chosen sessions (and issue them when asked): one transaction."""
    week = _monday(str(data.get("week", "")), notes.clinic_today(db))
    practitioner_id = _practitioner(request, data.get("practitioner"))
    try:
        done = sessions.invoice(db, principal_of(request), clinic_hooks(request), start=week,
                                end=week + timedelta(days=7), practitioner_id=practitioner_id, refs=_refs(data),
                                act_id=_act_id(data.get("act_id")), acts=_acts(data),
                                issue=str(data.get("issue", "")) == "1")
    except BillingInvalid as exc:
        db.rollback()
        return form_page(request, "billing/sessions.html", _context(request, db, week, practitioner_id, dict(data)),
                         errors_of(request, exc))
    if len(done) == 1:
        return Redirect(f"/billing/notes/{done[0].id}", status_code=303)
    return Redirect("/billing/", status_code=303)


SESSION_HANDLERS = [sessions_page, review, invoice]
