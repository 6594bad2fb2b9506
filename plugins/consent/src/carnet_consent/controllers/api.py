"""JSON API under /api/v1/consent (in the OpenAPI document): forms, a patient's status, sending a
form, recording a withdrawal, and the question "does the patient allow this purpose now?".
Refusals follow core's convention: 422 with field errors (nothing written), 404 for what this
person may not see."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from carnet_core.plugin_api import (
    PURPOSES,
    CarnetSession,
    Id,
    PatientErased,
    PatientNotFound,
    clinic_hooks,
    host_of,
    patient_access,
    principal_of,
    purpose_allowed,
)

from carnet_consent import permissions as perm
from carnet_consent.controllers.common import DB
from carnet_consent.schemas import RequestIn, WithdrawalIn
from carnet_consent.services import decisions, forms, signing


def _patient(db: CarnetSession, request: Request[Any, Any, Any], patient_id: int) -> None:
    try:
        patient_access(db, principal_of(request)).get(patient_id)
    except (PatientNotFound, PatientErased):
        raise NotFoundException() from None


def _request_out(r: Any, signers: list[Any]) -> dict[str, Any]:
    return {"id": r.id, "patient_id": r.patient_id, "template_id": r.template_id, "version_id": r.version_id,
            "rule": r.rule, "status": r.status, "created_at": r.created_at.isoformat(),
            "completed_at": r.completed_at.isoformat() if r.completed_at else None,
            "signers": [{"id": s.id, "role": s.role, "relation": s.relation, "status": s.status,
                         "signed_at": s.signed_at.isoformat() if s.signed_at else None} for s in signers]}


class ConsentApi(Controller):
    path = "/"
    tags = ["consent"]
    opt = {"error_statuses": (422,)}

    @get("/forms", opt={"permission": perm.VIEW}, sync_to_thread=True)
    def list_forms(self, db: DB) -> list[dict[str, Any]]:
        """The clinic's forms with their current version (number and content hash)."""
        out = []
        for t in forms.templates(db):
            version = forms.get_version(db, t.current_version_id) if t.current_version_id else None
            out.append({"id": t.id, "key": t.key, "title": t.title, "signers": t.signers,
                        "clauses": [c.key for c in forms.clauses_of(t.clauses)],
                        "version": None if version is None else {"id": version.id, "number": version.number,
                                                                 "content_hash": version.content_hash}})
        return out

    @get("/patients/{patient_id:int}", opt={"permission": perm.VIEW}, sync_to_thread=True)
    def patient_status(self, request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id]) -> dict[str, Any]:
        """Current decision per clause, and the requests sent with each signer's status."""
        _patient(db, request, patient_id)
        return {
            "patient_id": patient_id,
            "decisions": [{"purpose": c.purpose, "allowed": c.allowed, "source": c.source, "at": c.at.isoformat(),
                           "version_id": c.version_id} for c in decisions.current(db, patient_id)],
            "requests": [_request_out(r, signing.signers_of(db, r.id))  # type: ignore[arg-type]
                         for r in signing.requests_of(db, patient_id)],
        }

    @get("/patients/{patient_id:int}/allows/{purpose:str}", opt={"permission": perm.VIEW}, sync_to_thread=True)
    def allows(self, request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id],
               purpose: FromPath[str]) -> dict[str, Any]:
        """The platform's answer to "does the patient allow this purpose now?" (core's question)."""
        _patient(db, request, patient_id)
        if purpose not in PURPOSES:
            raise NotFoundException()
        return {"patient_id": patient_id, "purpose": purpose,
                "allowed": purpose_allowed(host_of(request), db, patient_id, purpose)}

    @post("/requests", opt={"permission": perm.SEND}, sync_to_thread=True, status_code=201)
    def send(self, request: Request[Any, Any, Any], db: DB, data: JSONBody[RequestIn]) -> dict[str, Any]:
        """Send a form's current version to the patient, or to each holder of parental authority."""
        sent = signing.send(db, principal_of(request), data.template_id, data.patient_id)
        return _request_out(sent, signing.signers_of(db, sent.id))  # type: ignore[arg-type]

    @post("/patients/{patient_id:int}/withdrawals", opt={"permission": perm.SEND}, sync_to_thread=True,
          status_code=201)
    def withdraw(self, request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id],
                 data: JSONBody[WithdrawalIn]) -> dict[str, Any]:
        """Record a withdrawal the patient expressed to the practice: immediate, audited."""
        _patient(db, request, patient_id)
        decision = decisions.withdraw(db, patient_id, data.purpose, source="staff",
                                      actor=f"user:{principal_of(request).user_id}", hooks=clinic_hooks(request))
        return {"id": decision.id, "purpose": decision.purpose, "allowed": decision.allowed,
                "at": decision.at.isoformat()}


API_HANDLERS = [ConsentApi]
