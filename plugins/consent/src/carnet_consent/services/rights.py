"""The register of patients' RGPD requests (access, rectification, erasure, objection,
portability, restriction).

Deadlines, computed when the request is recorded, from the day it was received:
- access to the health record (Code de la santé publique, art. L1111-7): 8 days, or 2 months
  when the data is older than 5 years;
- every other right, and portability (RGPD art. 12.3): 1 month;
- any of them may be extended once, by 2 more months after the first month (art. 12.3), with a
  reason the patient is told: the deadline becomes 3 months after receipt.
Months are calendar months (python-dateutil's relativedelta: 31 January + 1 month = 28 or 29
February). A request is "due soon" within 3 days of its deadline, "overdue" past it.

An access or portability request is answered with core's patient export, built by the worker
(`consent.build_rights_export`), kept sealed with the patient's key and delivered through a patient
link: expiring (7 days), single use, with a one-time code sent to the same address. An erasure
request goes through core's reviewed erasure (the patient's page); the register records the
decision. A care record is kept unless inaccurate or unlawfully kept (a refusal needs its reason).
Every step is audited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlmodel import col, select

from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    FieldError,
    InvalidInput,
    NotFound,
    PatientErased,
    PatientNotFound,
    enqueue,
    links,
    open_or_unreadable,
    patient_access,
    readable,
    record,
    seal,
    text_problem,
    utcnow,
)

from carnet_consent.models import RIGHTS_CHECKS, RIGHTS_KINDS, RIGHTS_REQUESTERS, RightsRequest

ACCESS_DAYS = timedelta(days=8)
OLD_ACCESS = relativedelta(months=2)
OTHER = relativedelta(months=1)
EXTENDED = relativedelta(months=3)  # 1 month + 2 months of extension
DUE_SOON = timedelta(days=3)
EXPORTING = ("access", "portability")
EXPORT_ACTOR = "consent.build_rights_export"
CODE_ACTOR = "consent.send_rights_code"
DELIVERY = "consent.rights_export"  # link purpose
DELIVERY_VALID = timedelta(days=7)
TEXT_LIMIT = 2000
DECISIONS = ("answered", "refused")


def legal_deadline(kind: str, received_at: datetime, old_data: bool = False) -> datetime:
    if kind == "access":
        return received_at + (OLD_ACCESS if old_data else ACCESS_DAYS)
    return received_at + OTHER


@dataclass(frozen=True)
class Row:
    request: RightsRequest
    patient_name: str | None
    state: str  # "closed", "overdue", "due_soon", "open"


def state_of(request: RightsRequest, now: datetime | None = None) -> str:
    now = now or utcnow()
    if request.status != "open":
        return "closed"
    if request.due_at < now:
        return "overdue"
    if request.due_at - now <= DUE_SOON:
        return "due_soon"
    return "open"


def _refuse(field: str, code: str, message: str) -> InvalidInput:
    return InvalidInput({field: FieldError(code, message)})


def _clean_text(value: str, field: str, required: bool) -> str:
    clean = (value or "").strip()
    if required and not clean:
        raise _refuse(field, "required", N_("write the reason"))
    if len(clean) > TEXT_LIMIT or (clean and text_problem(clean) is not None):
        raise _refuse(field, "invalid", N_("2,000 characters at most, plain text"))
    return clean


def get(db: CarnetSession, request_id: int) -> RightsRequest:
    found = db.exec(select(RightsRequest).where(RightsRequest.id == request_id)).first()
    if found is None:
        raise NotFound("RGPD request")
    return found


def create(db: CarnetSession, principal: Any, patient_id: int, values: dict[str, Any],
           actor: str | None = None) -> RightsRequest:
    """Record a request received on `received_on` (a date, default today), every field checked
    first: nothing is written when one is wrong. `actor`: who filed it when not the session's
    principal (a patient through the public page's link)."""
    errors: dict[str, FieldError] = {}
    kind, requester, check = (str(values.get(k) or "") for k in ("kind", "requester", "identity_check"))
    if kind not in RIGHTS_KINDS:
        errors["kind"] = FieldError("invalid", N_("choose the kind of request"))
    if requester not in RIGHTS_REQUESTERS:
        errors["requester"] = FieldError("invalid", N_("choose who made the request"))
    if check not in RIGHTS_CHECKS:
        errors["identity_check"] = FieldError("invalid", N_("choose how the person's identity was checked"))
    received_at = values.get("received_at") or utcnow()
    if received_at > utcnow() + timedelta(minutes=5):
        errors["received_on"] = FieldError("future", N_("the day received cannot be in the future"))
    elif received_at < utcnow() - timedelta(days=366):
        errors["received_on"] = FieldError("too_old", N_("the day received is more than a year ago"))
    details = ""
    try:
        details = _clean_text(str(values.get("details") or ""), "details", required=False)
    except InvalidInput as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    try:
        patient_access(db, principal).get(patient_id)
    except (PatientNotFound, PatientErased):
        raise _refuse("patient_id", "unknown", N_("choose a patient of the clinic")) from None
    old_data = bool(values.get("old_data")) and kind == "access"
    row = RightsRequest(patient_id=patient_id, kind=kind, requester=requester, identity_check=check,
                        old_data=old_data, received_at=received_at,
                        due_at=legal_deadline(kind, received_at, old_data),
                        created_by=getattr(principal, "user_id", None))
    db.add(row)
    db.flush()
    if details:
        seal(db, row, "details", details)
        db.add(row)
    db.flush()
    record(db, action="create", resource_type="consent_rights_request", resource_id=row.id, patient_id=patient_id,
           details={"kind": kind, "requester": requester, "identity_check": check,
                    "due_at": row.due_at.isoformat()}, actor=actor)
    return row


def _open_or_refuse(request: RightsRequest) -> None:
    if request.status != "open":
        raise _refuse("request", "closed", N_("this request is already answered"))


def extend(db: CarnetSession, principal: Any, request_id: int, reason: str) -> RightsRequest:
    """Extend the deadline by 2 months (3 months after receipt), once, with the reason given."""
    request = get(db, request_id)
    _open_or_refuse(request)
    if request.extended_at is not None:
        raise _refuse("reason", "extended", N_("the deadline was already extended once"))
    clean = _clean_text(reason, "reason", required=True)
    request.due_at = max(request.due_at, request.received_at + EXTENDED)
    request.extended_at = utcnow()
    seal(db, request, "extension_reason", clean)
    db.add(request)
    db.flush()
    record(db, action="extend", resource_type="consent_rights_request", resource_id=request.id,
           patient_id=request.patient_id, details={"due_at": request.due_at.isoformat()})
    return request


def decide(db: CarnetSession, principal: Any, request_id: int, decision: str, reason: str) -> RightsRequest:
    """Close the request: answered (done), or refused (a reason is required)."""
    request = get(db, request_id)
    _open_or_refuse(request)
    if decision not in DECISIONS:
        raise _refuse("decision", "invalid", N_("choose the decision"))
    clean = _clean_text(reason, "decision_reason", required=decision == "refused")
    request.status = decision
    request.answered_at = utcnow()
    request.handled_by = getattr(principal, "user_id", None)
    if clean:
        seal(db, request, "decision_reason", clean)
    db.add(request)
    db.flush()
    record(db, action="decide", resource_type="consent_rights_request", resource_id=request.id,
           patient_id=request.patient_id,
           details={"decision": decision, "late": request.answered_at > request.due_at})
    return request


def deliver(db: CarnetSession, principal: Any, request_id: int) -> RightsRequest:
    """Have the worker build core's export and e-mail the patient a link to it."""
    request = get(db, request_id)
    _open_or_refuse(request)
    if request.kind not in EXPORTING:
        raise _refuse("request", "no_export", N_("only an access or portability request is answered with an export"))
    if request.delivered_at is not None and request.downloaded_at is None:
        raise _refuse("request", "delivered", N_("the link was already sent and not used yet"))
    contact = patient_access(db, principal).contact(request.patient_id)
    if contact is None or not contact.email:
        raise _refuse("request", "no_email", N_("the patient has no e-mail address on file: add it on the "
                                                "patient's page"))
    request.handled_by = getattr(principal, "user_id", None)
    request.delivered_at = utcnow()  # asked now: a second click waits for this round's link to be used
    request.downloaded_at = None
    db.add(request)
    record(db, action="deliver", resource_type="consent_rights_request", resource_id=request.id,
           patient_id=request.patient_id)
    enqueue(db, EXPORT_ACTOR, request.id, request.delivered_at.isoformat())
    return request


def register(db: CarnetSession, principal: Any, include_closed: bool = True) -> list[Row]:
    """The clinic's requests, open ones first by deadline, then the answered ones (newest)."""
    rows = list(db.exec(select(RightsRequest).order_by(col(RightsRequest.due_at))))
    open_rows = [r for r in rows if r.status == "open"]
    closed = sorted((r for r in rows if r.status != "open"), key=lambda r: r.answered_at or r.created_at,
                    reverse=True)
    chosen = open_rows + (closed[:50] if include_closed else [])
    names = patient_access(db, principal).names({r.patient_id for r in chosen})
    now = utcnow()
    return [Row(r, names.get(r.patient_id), state_of(r, now)) for r in chosen]


def warnings(db: CarnetSession) -> dict[str, int]:
    """How many open requests are overdue or due within 3 days (no names: a banner)."""
    now = utcnow()
    rows = db.exec(select(RightsRequest.due_at).where(RightsRequest.status == "open",
                                                      RightsRequest.due_at < now + DUE_SOON)).all()
    return {"overdue": sum(1 for due in rows if due < now), "due_soon": sum(1 for due in rows if due >= now)}


def texts(db: CarnetSession, request: RightsRequest) -> dict[str, str | None]:
    return {name: readable(open_or_unreadable(db, request, name))
            for name in ("details", "extension_reason", "decision_reason")}


# --- the worker and the patient's side ------------------------------------------------------------


def build_export(db: CarnetSession, host: Any, request: RightsRequest) -> None:
    """Core's export of the patient, kept sealed with the patient's key (idempotent: once built)."""
    if request.export is not None:
        return
    document = patient_access(db).export(request.patient_id, host)
    seal(db, request, "export", json.dumps(document, ensure_ascii=False, sort_keys=True))
    db.add(request)
    db.flush()


def issue_link(db: CarnetSession, request: RightsRequest) -> Any:
    links.revoke(db, ("consent_rights_request", request.id), purpose=DELIVERY)  # type: ignore[arg-type]
    issued = links.issue(db, purpose=DELIVERY, subject_type="consent_rights_request", subject_id=request.id,  # type: ignore[arg-type]
                         patient_id=request.patient_id, expires_in=DELIVERY_VALID, max_uses=1, code_required=True)
    request.export_link_id = issued.link.id
    db.add(request)
    return issued


def request_of(db: CarnetSession, link: Any) -> RightsRequest:
    return get(db, link.subject_id)


def request_code(db: CarnetSession, link: Any) -> None:
    if link.codes_sent >= links.MAX_CODES_SENT:
        raise links.LinkRefused(links.THROTTLED, link)
    links.audit_access(db, link, action="request_code", resource_type="consent_rights_request")
    enqueue(db, CODE_ACTOR, link.id, link.codes_sent + 1)


def download(db: CarnetSession, link: Any, code: str, address: str | None) -> bytes | None:
    """The export as JSON once the code is right (the link is then used up, audited), else None."""
    if not links.verify_code(db, link, code, address):
        return None
    request = request_of(db, link)
    text = readable(open_or_unreadable(db, request, "export"))
    if text is None:
        raise NotFound("export")
    request.downloaded_at = utcnow()
    db.add(request)
    links.use(db, link, action="download", resource_type="consent_rights_request", details={"request": request.id})
    return text.encode("utf-8")
