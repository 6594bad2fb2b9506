"""The owners' audit trail page: filter by dates, actor, patient and action; paginated."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from carnet_core.audit import words
from carnet_core.audit.services import ACTIONS, ACTOR_KINDS, TrailFilter, record, search_trail
from carnet_core.db.session import CarnetSession
from carnet_core.web.guards import principal_of
from carnet_core.web.render import page, translate
from carnet_core.web.state import host_of

PAGE_SIZE = 50


def _clinic_tz(request: Request[Any, Any, Any]) -> ZoneInfo:
    clinic = principal_of(request).clinic
    try:
        return ZoneInfo(getattr(clinic, "timezone", None) or "Europe/Paris")
    except (KeyError, ValueError):
        return ZoneInfo("Europe/Paris")


def parse_filters(request: Request[Any, Any, Any]) -> tuple[TrailFilter, int | None, dict[str, str], dict[str, str]]:
    """(filters, before_seq, the raw values to show again, errors by field)."""
    q = request.query_params
    raw = {k: (q.get(k) or "").strip() for k in ("since", "until", "actor", "patient", "action", "before")}
    errors: dict[str, str] = {}
    tz = _clinic_tz(request)
    bounds: dict[str, datetime | None] = {"since": None, "until": None}
    for name in ("since", "until"):
        if raw[name]:
            try:
                day = date.fromisoformat(raw[name])
            except ValueError:
                errors[name] = translate(request, "Enter a date such as 2026-03-31.")
                continue
            if name == "until":
                day += timedelta(days=1)
            bounds[name] = datetime.combine(day, time.min, tzinfo=tz)
    actor_kind = actor_id = None
    actor_user_id: int | None = None
    if raw["actor"].startswith("person:"):  # a member chosen from the list: pages and API tokens alike
        ident = raw["actor"].removeprefix("person:")
        if ident.isdigit() and len(ident) <= 12:
            actor_user_id = int(ident)
        else:
            errors["actor"] = translate(request, "Choose a person from the list.")
    elif raw["actor"]:
        kind, _, ident = raw["actor"].partition(":")
        if kind not in ACTOR_KINDS or len(ident) > 128:
            errors["actor"] = translate(request, "Choose an actor such as user:12 or job:reminders.")
        else:
            actor_kind, actor_id = kind, ident or None
    patient_id = None
    if raw["patient"]:
        if raw["patient"].isdigit() and len(raw["patient"]) <= 12:
            patient_id = int(raw["patient"])
        else:
            errors["patient"] = translate(request, "A patient number is made of digits.")
    action = None
    if raw["action"]:
        if raw["action"] in ACTIONS:
            action = raw["action"]
        else:
            errors["action"] = translate(request, "Choose an action from the list.")
    before = None
    if raw["before"]:
        if raw["before"].isdigit() and len(raw["before"]) <= 12:
            before = int(raw["before"])
        else:
            errors["before"] = translate(request, "Invalid page.")
    filters = TrailFilter(since=bounds["since"], until=bounds["until"], actor_kind=actor_kind,
                          actor_id=actor_id, patient_id=patient_id, action=action, actor_user_id=actor_user_id)
    return filters, before, raw, errors


def _actor_choices(db: CarnetSession) -> list[tuple[str, str]]:
    """The actor filter's list: each member of the clinic by name, then the kinds that are not a
    person (patients through their links, automatic tasks, the system)."""
    from sqlmodel import select

    from carnet_core.identity.models import Membership, User

    members = db.exec(select(User.id, User.display_name, User.email).join(Membership, Membership.user_id == User.id)
                      .where(Membership.clinic_id == db.clinic_id)).all()
    people = sorted(((f"person:{uid}", name or email) for uid, name, email in members), key=lambda p: p[1].casefold())
    return [*people, *((kind, words.actor_word(kind)) for kind in ("patient_link", "job", "system"))]


def _patient_names(request: Request[Any, Any, Any], db: CarnetSession, ids: set[int]) -> dict[int, str]:
    """Names of the patients the records are about (core's patient access: audited as reads)."""
    from carnet_core.patients.patient_access import access

    return access(db, principal_of(request)).names(ids) if ids else {}


def _in_words(request: Request[Any, Any, Any], db: CarnetSession, rows: list[Any]) -> list[dict[str, Any]]:
    """Each record with the actor's and patient's names and the action, record kind and outcome in
    words."""
    from sqlmodel import select

    from carnet_core.identity.models import User

    host = host_of(request)
    ids = {r.actor_user_id for r in rows if r.actor_user_id}
    names = {u.id: (u.display_name or u.email) for u in db.exec(select(User).where(User.id.in_(ids)))} if ids else {}
    patients = _patient_names(request, db, {r.patient_id for r in rows if r.patient_id is not None})
    return [{
        "seq": r.seq, "occurred_at": r.occurred_at, "address": r.address, "patient_id": r.patient_id,
        "patient": patients.get(r.patient_id) if r.patient_id is not None else None,
        "actor": names.get(r.actor_user_id) if r.actor_user_id else None, "actor_kind": words.actor_word(r.actor_kind),
        "actor_id": r.actor_id,
        "action": words.action_word(r.action), "resource": words.resource_word(host, r.resource_type),
        "resource_id": r.resource_id, "outcome": words.outcome_word(r.outcome), "ok": r.outcome == "success",
    } for r in rows]


class AuditController(Controller):
    path = "/audit"
    opt = {"permission": "core.audit.view"}

    @get("/", name="core.audit", sync_to_thread=True)
    def trail(self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
        filters, before, raw, errors = parse_filters(request)
        context: dict[str, Any] = {
            "f": raw, "errors": errors, "actions": [(a, words.action_word(a)) for a in ACTIONS],
            "actor_kinds": ACTOR_KINDS, "actor_choices": _actor_choices(db),
            "rows": [], "next_before": None, "tz": str(_clinic_tz(request)),
            "filter_patient": None, "other_filters": "",
        }
        if errors:
            return page(request, "core/audit.html", context, partial="core/_audit_rows.html", status_code=400)
        rows, next_before = search_trail(db, filters, before_seq=before, limit=PAGE_SIZE)
        # Reading the trail is itself traced (it tells who looked at which patient's accesses).
        record(db, action="read", resource_type="audit_trail", patient_id=filters.patient_id,
               details={"shown": len(rows), "filtered": any(v for k, v in raw.items() if k != "before")})
        next_query = None
        if next_before is not None:
            from urllib.parse import urlencode

            next_query = urlencode({**{k: v for k, v in raw.items() if v and k != "before"}, "before": next_before})
        if filters.patient_id is not None:
            context["filter_patient"] = _patient_names(request, db, {filters.patient_id}).get(filters.patient_id)
        from urllib.parse import urlencode as _urlencode

        others = _urlencode({k: v for k, v in raw.items() if v and k not in ("patient", "before")})
        context.update(rows=_in_words(request, db, rows), next_before=next_before, next_query=next_query,
                       other_filters=others)
        return page(request, "core/audit.html", context, partial="core/_audit_rows.html")
