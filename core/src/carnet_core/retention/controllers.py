"""Owners' pages: retention (rules, destruction proposals to confirm, legal holds, the register)
and the operator overview (backups and their restore drills, retention ahead, jobs in progress)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlmodel import select

from carnet_core.retention import services
from carnet_core.retention.models import HOLD_REASONS
from carnet_core.web.guards import principal_of
from carnet_core.web.render import page, translate
from carnet_core.web.state import carnet_state

FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
MANAGE = "core.retention.manage"
RULE_FIELDS = tuple(services.BOUNDS)


def _one(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if isinstance(value, list):
        value = value[-1] if value else ""
    return value if isinstance(value, str) else ""


def _many_ids(data: dict[str, Any], name: str) -> list[int] | None:
    raw = data.get(name)
    values = raw if isinstance(raw, list) else ([] if raw is None else [raw])
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        return None


def _hold_labels(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    labels = {
        "litigation": translate(request, "Litigation or claim in progress"),
        "investigation": translate(request, "Inquiry by an authority"),
        "insurer_claim": translate(request, "Insurer's or professional body's request"),
        "other": translate(request, "Another legal ground"),
    }
    return [(code, labels[code]) for code in HOLD_REASONS]


def _retention_context(request: Request[Any, Any, Any], db: Any) -> dict[str, Any]:
    from carnet_core.patients.services import names_of

    state = carnet_state(request)
    clinic = principal_of(request).clinic
    today = services.clinic_today(clinic)
    proposals = services.open_proposals(db)
    holds = services.active_holds(db)
    ahead = services.forecast(db, state.host, clinic, today)
    names = names_of(db, [p.patient_id for p in proposals] + [h.patient_id for h in holds]
                     + [d.patient_id for d in ahead.destroy])
    rule = services.rules_of(db)
    return {
        "rule": {name: getattr(rule, name) for name in RULE_FIELDS}, "bounds": services.BOUNDS,
        "proposals": proposals, "holds": holds, "register": services.register(db),
        "forecast": ahead, "names": {pid: f"{last} {first}".strip() for pid, (last, first) in names.items()},
        "hold_reasons": _hold_labels(request), "today": today,
        "audit_days": state.settings.audit_retention_days, "errors": {}, "values": {},
    }


class RetentionPages(Controller):
    path = "/settings/retention"
    include_in_schema = False
    opt = {"permission": MANAGE}

    @get("/", sync_to_thread=True, name="retention.show")
    def show(self, request: Request[Any, Any, Any], db: NamedDependency[Any]) -> Template:
        return page(request, "core/retention.html", _retention_context(request, db))

    def _invalid(self, request: Request[Any, Any, Any], db: Any, errors: dict[str, str],
                 values: dict[str, Any]) -> Template:
        context = _retention_context(request, db)
        context.update(errors=errors, values=values)
        return page(request, "core/retention.html", context, status_code=422)

    @post("/rules", sync_to_thread=True, name="retention.rules")
    def save_rules(
        self, request: Request[Any, Any, Any], db: NamedDependency[Any], data: FormBody,
    ) -> Template | Redirect:
        values = {name: _one(data, name) for name in RULE_FIELDS}
        try:
            services.set_rules(db, principal_of(request), values)
        except services.RetentionInvalid as exc:
            errors = {k: translate(request, e.message, **e.params) for k, e in exc.errors.items()}
            db.rollback()
            return self._invalid(request, db, errors, values)
        return Redirect("/settings/retention", status_code=303)

    @post("/destroy", sync_to_thread=True, name="retention.destroy")
    def destroy(
        self, request: Request[Any, Any, Any], db: NamedDependency[Any], data: FormBody,
    ) -> Template | Redirect:
        """Confirm a batch of destruction proposals (checked, and the confirmation box ticked)."""
        state = carnet_state(request)
        principal = principal_of(request)
        ids = _many_ids(data, "proposal")
        errors: dict[str, str] = {}
        if not ids:
            errors["proposal"] = translate(request, "Choose at least one record.")
        if _one(data, "confirm") != "1":
            errors["confirm"] = translate(request, "Tick the box to confirm the destruction.")
        if errors:
            return self._invalid(request, db, errors, {})
        try:
            services.confirm_destruction(db, state.host, principal.clinic, principal, ids or [],
                                         services.clinic_today(principal.clinic))
        except services.RetentionNotFound:
            db.rollback()
            return self._invalid(request, db, {"proposal": translate(
                request, "A chosen record is no longer proposed; reload the page.")}, {})
        return Redirect("/settings/retention", status_code=303)

    @post("/holds", sync_to_thread=True, name="retention.hold")
    def hold(
        self, request: Request[Any, Any, Any], db: NamedDependency[Any], data: FormBody,
    ) -> Template | Redirect:
        reason = _one(data, "reason")
        try:
            patient_id = int(_one(data, "patient_id"))
        except ValueError:
            raise NotFoundException() from None
        try:
            services.place_hold(db, principal_of(request), patient_id, reason)
        except services.RetentionInvalid:
            db.rollback()
            return self._invalid(request, db, {"reason": translate(request, "Choose a reason from the list.")},
                                 {"hold_patient": patient_id})
        except services.RetentionNotFound:
            raise NotFoundException() from None
        return Redirect("/settings/retention", status_code=303)

    @post("/holds/{hold_id:int}/release", sync_to_thread=True, name="retention.release")
    def release(self, request: Request[Any, Any, Any], db: NamedDependency[Any], hold_id: FromPath[int]) -> Redirect:
        try:
            services.release_hold(db, principal_of(request), hold_id)
        except services.RetentionNotFound:
            raise NotFoundException() from None
        return Redirect("/settings/retention", status_code=303)


@get("/operator", name="core.operator", opt={"permission": "core.operator"}, sync_to_thread=True)
def operator_overview(request: Request[Any, Any, Any], db: NamedDependency[Any]) -> Template:
    """Owners: the last backups and their restore drills, retention in the next 90 days, jobs in progress."""
    import sqlalchemy as sa

    from carnet_core.backup.models import BackupRun
    from carnet_core.db.base import utcnow
    from carnet_core.jobs.models import PENDING, PUBLISHED, OutboxMessage

    state = carnet_state(request)
    principal = principal_of(request)
    today = services.clinic_today(principal.clinic)
    backups = list(db.exec(select(BackupRun).order_by(BackupRun.created_at.desc()).limit(5)).all())
    drilled = next((b for b in backups if b.restore_tested_at is not None), None)
    ahead = services.forecast(db, state.host, principal.clinic, today)
    t = OutboxMessage.__table__.c
    mine = sa.or_(t.clinic_id == principal.clinic_id, t.clinic_id.is_(None))
    due = sa.or_(t.not_before.is_(None), t.not_before <= utcnow())
    jobs = db.execute(
        sa.select(t.actor, t.status, sa.func.count(), sa.func.min(t.created_at))
        .where(t.status.in_((PENDING, PUBLISHED)), mine, due)
        .group_by(t.actor, t.status).order_by(t.actor, t.status)).all()
    later = db.execute(sa.select(sa.func.count()).where(t.status == PENDING, mine, sa.not_(due))).scalar() or 0
    return page(request, "core/operator.html", {
        "backups": backups, "last_backup": backups[0] if backups else None, "drilled": drilled,
        "every_hours": state.settings.backup_every_hours, "keep": state.settings.backup_keep,
        "forecast": ahead, "proposals": len(services.open_proposals(db)), "until": today + timedelta(days=90),
        "jobs": [{"actor": a, "status": st, "count": n, "since": since} for a, st, n, since in jobs],
        "later": later,
    })


HANDLERS = [RetentionPages, operator_overview]
