"""A patient's RGPD request from the clinic's public page, without an account.

1. The person gives the patient's last name and the e-mail address the practice has on file
   (the patient's own, or for a minor a holder of parental authority's). The page answers the
   same whether or not it matches a file, so it tells nobody who is a patient; it is rate-limited
   per address of the visitor and per e-mail address (core's link counters).
2. When it matches, a job e-mails a personal link (24 hours, single use) to that address on file:
   never to an address only the visitor typed. Opening it, the person asks for a one-time code
   sent to the same address.
3. With the code they choose the request (access, rectification, erasure, objection,
   portability, restriction) and may describe it; the request lands in the clinic's register,
   its identity "checked through a personal link", received now, with its legal deadline.

URLs carry the link's token only; messages carry the clinic's name and the link only.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    FieldError,
    InvalidInput,
    Principal,
    enqueue,
    links,
    patient_access,
    record,
    text_problem,
    utcnow,
)

from carnet_consent.models import RIGHTS_KINDS, RightsRequest
from carnet_consent.services import rights

ASK = "consent.rights_ask"  # link purpose: confirm one's identity, then file the request
ASK_VALID = timedelta(hours=24)
LINK_ACTOR = "consent.send_rights_ask"
CODE_ACTOR = "consent.send_rights_ask_code"
FORM_ACTOR = "online-rights-form"
PATIENT, GUARDIAN = "core_patient", "core_patient_guardian"  # what a link stands for
NAME_LIMIT, EMAIL_LIMIT = links.NAME_LIMIT, links.EMAIL_LIMIT


Throttled = links.Throttled  # too many requests from this visitor or for this address


def ask(db: CarnetSession, values: dict[str, Any], address: str | None) -> bool:
    """Send a personal link to the address on file when the name and address match a patient (or
    a holder of parental authority of one). True when a link goes out; the page must not say so."""
    holder = links.find_holder(db, values, address, form_actor=FORM_ACTOR)
    if holder is None:
        return False
    enqueue(db, LINK_ACTOR, holder.patient_id, holder.guardian_id, secrets.token_hex(8))
    record(db, action="request_link", resource_type="consent_rights_request", patient_id=holder.patient_id,
           details={"by": holder.by}, actor=f"anonymous:{FORM_ACTOR}")
    return True


def issue_link(db: CarnetSession, patient_id: int, guardian_id: int) -> Any:
    subject = (GUARDIAN, guardian_id) if guardian_id else (PATIENT, patient_id)
    return links.issue(db, purpose=ASK, subject_type=subject[0], subject_id=subject[1], patient_id=patient_id,
                       expires_in=ASK_VALID, max_uses=1, code_required=True)


def address_on_file(db: CarnetSession, patient_id: int, guardian_id: int) -> str | None:
    """The holder's e-mail address on file, or the patient's own (None: erased or removed)."""
    patients = patient_access(db)
    if guardian_id:
        return next((g.email for g in patients.guardians(patient_id) if g.id == guardian_id), None)
    contact = patients.contact(patient_id, "email")
    return contact.email if contact is not None else None


def recipient(db: CarnetSession, link: Any) -> str | None:
    """The address on file the link stands for."""
    return address_on_file(db, link.patient_id, link.subject_id if link.subject_type == GUARDIAN else 0)


def request_code(db: CarnetSession, link: Any) -> None:
    if link.codes_sent >= links.MAX_CODES_SENT:
        raise links.LinkRefused(links.THROTTLED, link)
    links.audit_access(db, link, action="request_code", resource_type="consent_rights_request")
    enqueue(db, CODE_ACTOR, link.id, link.codes_sent + 1)


def clean_request(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, FieldError] = {}
    kind = str(values.get("kind") or "")
    if kind not in RIGHTS_KINDS:
        errors["kind"] = FieldError("invalid", N_("choose what you ask for"))
    details = str(values.get("details") or "").strip()
    if len(details) > rights.TEXT_LIMIT or (details and text_problem(details) is not None):
        errors["details"] = FieldError("invalid", N_("2,000 characters at most, plain text"))
    if errors:
        raise InvalidInput(errors)
    return {"kind": kind, "details": details, "old_data": bool(values.get("old_data")) and kind == "access"}


def submit(db: CarnetSession, link: Any, values: dict[str, Any], code: str,
           address: str | None) -> RightsRequest | None:
    """Record the request once the code is right (the link is then used up); None for a wrong
    code. The request's fields are checked before the code, so a mistake costs no try."""
    clean = clean_request(values)
    if not links.verify_code(db, link, code, address):
        return None
    requester = "patient"
    if link.subject_type == GUARDIAN:
        relation = next((g.relation for g in patient_access(db).guardians(link.patient_id)
                         if g.id == link.subject_id), "other")
        requester = "guardian" if relation == "guardian" else "parent"
    principal = Principal(kind="patient_link", clinic_id=db.clinic_id,
                          extra={"patient_id": link.patient_id, "actor_id": f"patient_link:{link.id}"})
    try:
        row = rights.create(db, principal, link.patient_id,
                            {**clean, "requester": requester, "identity_check": "signed_link",
                             "received_at": utcnow()}, actor=f"patient_link:{link.id}")
    except InvalidInput as exc:
        if "patient_id" in exc.errors:  # erased since the link was sent
            raise links.LinkRefused(links.REVOKED, link) from None
        raise
    links.use(db, link, action="create", resource_type="consent_rights_request", details={"request": row.id})
    return row
