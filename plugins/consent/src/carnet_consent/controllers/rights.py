"""Back-office pages of the RGPD requests register: the register with deadlines (overdue and
due-soon flagged), recording a request for a patient, and a request's page (extend the deadline
with a reason, send the export for an access or portability request, record the decision).
Thin: parse, call `services.rights`, render or redirect; a refused form comes back as the same
page (422, nothing written)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from carnet_core.plugin_api import (
    CarnetSession,
    FormErrors,
    Id,
    InvalidInput,
    NotFound,
    PatientErased,
    PatientNotFound,
    day,
    errors_of,
    flag,
    form_page,
    page,
    patient_access,
    principal_of,
    text,
    utcnow,
)

from carnet_consent import permissions as perm
from carnet_consent.controllers.common import DB, FormData, labels
from carnet_consent.models import RIGHTS_CHECKS, RIGHTS_KINDS, RIGHTS_REQUESTERS
from carnet_consent.services import rights


def _common(request: Request[Any, Any, Any], **context: Any) -> dict[str, Any]:
    return {"principal": principal_of(request), "perm": perm, "errors": FormErrors(), "v": {}, **labels(),
            "kinds": RIGHTS_KINDS, "requesters": RIGHTS_REQUESTERS, "checks": RIGHTS_CHECKS, **context}


@get("/rights", name="consent.rights", opt={"permission": perm.RIGHTS}, sync_to_thread=True)
def register_page(request: Request[Any, Any, Any], db: DB) -> Template:
    clinic = principal_of(request).clinic
    return page(request, "consent/rights.html", _common(
        request, rows=rights.register(db, principal_of(request)), warnings=rights.warnings(db),
        public_page=f"/p/{clinic.slug}/consent/rights" if clinic is not None else None))


def _patient_name(request: Request[Any, Any, Any], db: CarnetSession, patient_id: int) -> str | None:
    patients = patient_access(db, principal_of(request))
    try:
        patients.get(patient_id)
    except (PatientNotFound, PatientErased):
        raise NotFoundException() from None
    return patients.name(patient_id)


@get("/patients/{patient_id:int}/rights", name="consent.rights_new", opt={"permission": perm.RIGHTS},
     sync_to_thread=True)
def new_page(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id]) -> Template:
    return page(request, "consent/rights_new.html", _common(
        request, patient_id=patient_id, patient_name=_patient_name(request, db, patient_id),
        v={"received_on": utcnow().date().isoformat()}))


@post("/patients/{patient_id:int}/rights", name="consent.rights_create", opt={"permission": perm.RIGHTS},
      sync_to_thread=True)
def create(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id], data: FormData) -> Any:
    name = _patient_name(request, db, patient_id)
    values = {k: text(data, k, 20) for k in ("kind", "requester", "identity_check", "received_on")}
    values["details"] = text(data, "details", rights.TEXT_LIMIT + 1)  # longer is refused, never cut
    values["old_data"] = flag(data, "old_data")
    errors = FormErrors()
    received = day(request, data, "received_on", errors, required=False)
    context = _common(request, patient_id=patient_id, patient_name=name, v=values)
    if errors:
        return form_page(request, "consent/rights_new.html", context, errors)
    if received is not None:
        values["received_at"] = datetime.combine(received, time(12, 0), tzinfo=UTC)
    try:
        row = rights.create(db, principal_of(request), patient_id, values)
    except InvalidInput as exc:
        return form_page(request, "consent/rights_new.html", context, errors_of(request, exc))
    return Redirect(f"/consent/rights/{row.id}", status_code=303)


def _request_or_404(request: Request[Any, Any, Any], db: CarnetSession, request_id: int) -> Any:
    try:
        found = rights.get(db, request_id)
        patient_access(db, principal_of(request)).get(found.patient_id)
    except (NotFound, PatientNotFound, PatientErased):
        raise NotFoundException() from None
    return found


def _detail(request: Request[Any, Any, Any], db: CarnetSession, found: Any, **more: Any) -> dict[str, Any]:
    return _common(request, req=found, state=rights.state_of(found), texts=rights.texts(db, found),
                   patient_name=patient_access(db, principal_of(request)).name(found.patient_id),
                   exporting=found.kind in rights.EXPORTING, **more)


@get("/rights/{request_id:int}", name="consent.rights_request", opt={"permission": perm.RIGHTS},
     sync_to_thread=True)
def detail_page(request: Request[Any, Any, Any], db: DB, request_id: FromPath[Id]) -> Template:
    found = _request_or_404(request, db, request_id)
    return page(request, "consent/rights_request.html", _detail(request, db, found))


def _act(request: Request[Any, Any, Any], db: CarnetSession, request_id: int, action: Any) -> Any:
    found = _request_or_404(request, db, request_id)
    try:
        action(found)
    except InvalidInput as exc:
        return form_page(request, "consent/rights_request.html", _detail(request, db, found),
                         errors_of(request, exc))
    return Redirect(f"/consent/rights/{found.id}", status_code=303)


@post("/rights/{request_id:int}/extend", name="consent.rights_extend", opt={"permission": perm.RIGHTS_DECIDE},
      sync_to_thread=True)
def extend(request: Request[Any, Any, Any], db: DB, request_id: FromPath[Id], data: FormData) -> Any:
    return _act(request, db, request_id, lambda found: rights.extend(
        db, principal_of(request), found.id, text(data, "reason", rights.TEXT_LIMIT + 1)))


@post("/rights/{request_id:int}/decide", name="consent.rights_decide", opt={"permission": perm.RIGHTS_DECIDE},
      sync_to_thread=True)
def decide(request: Request[Any, Any, Any], db: DB, request_id: FromPath[Id], data: FormData) -> Any:
    return _act(request, db, request_id, lambda found: rights.decide(
        db, principal_of(request), found.id, text(data, "decision", 12),
        text(data, "decision_reason", rights.TEXT_LIMIT + 1)))


@post("/rights/{request_id:int}/deliver", name="consent.rights_deliver", opt={"permission": perm.RIGHTS_DECIDE},
      sync_to_thread=True)
def deliver(request: Request[Any, Any, Any], db: DB, request_id: FromPath[Id]) -> Any:
    return _act(request, db, request_id, lambda found: rights.deliver(db, principal_of(request), found.id))


RIGHTS_HANDLERS = [register_page, new_page, create, detail_page, extend, decide, deliver]
