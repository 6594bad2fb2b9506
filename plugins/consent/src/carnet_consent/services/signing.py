"""Sending a form and signing it without an account.

Staff send a form's current version to a patient, or for a patient with holders of parental
authority recorded in core, to each of them (rule "one": the first signature completes the
request; "both": every holder must sign). Each signer gets their own signed, expiring patient link
(core's links: hashed token, single use, a one-time code sent to the same channel): by e-mail, and
where the clinic enabled it also by SMS (a second link of its own, `SIGN_SMS`, whose code goes by
SMS). The links and codes are issued by the sending jobs, so no token or code is stored in clear.

A signature stores its evidence: the version's hash, the clause answers, the signer (patient or
which parent), the time, the channel and when the code was verified, the client's address and
user agent, and the sequence number of its record in core's audit chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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

from carnet_consent.models import Request, Signature, Signer, Template, Version
from carnet_consent.services import decisions, forms

SIGN = "consent.sign"  # link purpose: open the form, get a code, sign (the link and code by e-mail)
SIGN_SMS = "consent.sign_sms"  # the same, the link and its code by SMS
SIGN_PURPOSES = (SIGN, SIGN_SMS)
CHANNEL_OF = {SIGN: "email", SIGN_SMS: "sms"}  # the channel a signing link came through, its code goes to
WITHDRAW = "consent.withdraw"  # link purpose: the withdrawal page (in every message)
SIGN_VALID = timedelta(days=14)
WITHDRAW_VALID = timedelta(days=365)
WITHDRAW_USES = 50
SEND_ACTOR = "consent.send_invitation"
CODE_ACTOR = "consent.send_code"
DOCUMENT_ACTOR = "consent.render_document"
NAME_LIMIT = 120


class VersionChanged(Exception):
    """The form was republished while the signer was reading: show them the new version."""


class WrongCode(Exception):
    """The code typed is not the one sent (counted; locked after a few tries)."""


class AlreadySigned(Exception):
    """This signer (or the request) has already signed, or the request is closed."""


@dataclass(frozen=True)
class SignerView:
    signer: Signer
    request: Request
    version: Version
    template: Template


def _refuse(field: str, code: str, message: str, **params: Any) -> InvalidInput:
    return InvalidInput({field: FieldError(code, message, **params)})


def send(db: CarnetSession, principal: Any, template_id: int, patient_id: int) -> Request:
    """Send the form's current version to the patient or to their holders of parental authority."""
    try:
        template = forms.get_template(db, template_id)
    except NotFound:
        raise _refuse("template_id", "unknown", N_("choose one of the clinic's forms")) from None
    if template.current_version_id is None or template.archived:
        raise _refuse("template_id", "unpublished", N_("this form has no published version yet"))
    patients = patient_access(db, principal)
    try:
        patients.get(patient_id)
    except (PatientNotFound, PatientErased):
        raise _refuse("patient_id", "unknown", N_("choose a patient of the clinic")) from None
    pending = db.exec(select(Request.id).where(Request.patient_id == patient_id, Request.template_id == template.id,
                                               Request.status == "pending")).first()
    if pending is not None:
        raise _refuse("template_id", "pending", N_("this form is already waiting for a signature from this patient"))
    guardians = patients.guardians(patient_id)
    people: list[dict[str, Any]] = []
    if guardians:
        rule = template.signers
        for g in guardians:
            if not g.email:
                raise _refuse("patient_id", "no_email", N_("%(name)s, holder of parental authority, has no e-mail "
                                                           "address on file: add it on the patient's page"),
                              name=g.display_name or g.relation)
            people.append({"role": "guardian", "guardian_id": g.id, "relation": g.relation,
                           "name": g.display_name, "email": g.email, "phone": g.phone})
    else:
        rule = "patient"
        contact = patients.contact(patient_id)
        if contact is None or not contact.email:
            raise _refuse("patient_id", "no_email", N_("the patient has no e-mail address on file: add it on the "
                                                       "patient's page"))
        people.append({"role": "patient", "guardian_id": None, "relation": None, "name": contact.display_name,
                       "email": contact.email, "phone": contact.phone})
    request, signers = create_request(db, principal, patient_id, template.id, template.current_version_id,  # type: ignore[arg-type]
                                      rule, people)
    for signer in signers:
        enqueue(db, SEND_ACTOR, signer.id)
    record(db, action="send", resource_type="consent_request", resource_id=request.id, patient_id=patient_id,
           details={"template": template.id, "version": request.version_id, "signers": len(people), "rule": rule})
    return request


def create_request(db: CarnetSession, principal: Any, patient_id: int, template_id: int, version_id: int, rule: str,
                   people: list[dict[str, Any]]) -> tuple[Request, list[Signer]]:
    """A request for the version and its signers (`people`: role, guardian_id, relation, name, and
    where messages go, email and phone, when they are sent any), their contact sealed with the
    patient's key. Shared by e-mailed, paper and tablet consents."""
    request = Request(patient_id=patient_id, template_id=template_id, version_id=version_id, rule=rule,
                      created_by=getattr(principal, "user_id", None))
    db.add(request)
    db.flush()
    signers = []
    for person in people:
        signer = Signer(request_id=request.id, patient_id=patient_id, role=person["role"],
                        guardian_id=person["guardian_id"], relation=person["relation"])
        db.add(signer)
        seal(db, signer, "name", person["name"] or "")
        for field in ("email", "phone"):
            if person.get(field):
                seal(db, signer, field, person[field])
        db.flush()
        signers.append(signer)
    return request, signers


def revoke_sign_links(db: CarnetSession, signer_id: int) -> None:
    """The signer's signing links stop working, whichever channel they came through."""
    for purpose in SIGN_PURPOSES:
        links.revoke(db, ("consent_signer", signer_id), purpose=purpose)


def cancel(db: CarnetSession, request_id: int) -> Request:
    request = get_request(db, request_id)
    if request.status != "pending":
        raise _refuse("request", "closed", N_("this request is not waiting for a signature any more"))
    request.status = "cancelled"
    request.cancelled_at = utcnow()
    db.add(request)
    for signer in signers_of(db, request.id):
        if signer.status == "pending":
            signer.status = "cancelled"
            db.add(signer)
    for signer in signers_of(db, request.id):
        revoke_sign_links(db, signer.id)  # type: ignore[arg-type]
    db.flush()
    record(db, action="cancel", resource_type="consent_request", resource_id=request.id, patient_id=request.patient_id)
    return request


def resend(db: CarnetSession, request_id: int) -> int:
    """Send each signer who has not signed yet a fresh link (their old one stops working); the
    number of signers reached."""
    request = get_request(db, request_id)
    if request.status != "pending":
        raise _refuse("request", "closed", N_("this request is not waiting for a signature any more"))
    waiting = [s for s in signers_of(db, request.id) if s.status == "pending"]  # type: ignore[arg-type]
    for signer in waiting:
        enqueue(db, SEND_ACTOR, signer.id)
    record(db, action="resend", resource_type="consent_request", resource_id=request.id,
           patient_id=request.patient_id, details={"signers": len(waiting)})
    return len(waiting)


def get_request(db: CarnetSession, request_id: int) -> Request:
    found = db.exec(select(Request).where(Request.id == request_id)).first()
    if found is None:
        raise NotFound("consent request")
    return found


def signers_of(db: CarnetSession, request_id: int) -> list[Signer]:
    return list(db.exec(select(Signer).where(Signer.request_id == request_id).order_by(Signer.id)))


def requests_of(db: CarnetSession, patient_id: int) -> list[Request]:
    return list(db.exec(select(Request).where(Request.patient_id == patient_id).order_by(col(Request.id).desc())))


def signatures_of(db: CarnetSession, request_id: int) -> list[Signature]:
    return list(db.exec(select(Signature).where(Signature.request_id == request_id).order_by(Signature.id)))


def signer_name(db: CarnetSession, signer: Signer) -> str:
    return readable(open_or_unreadable(db, signer, "name")) or ""


# --- the signer's side (through their link) -------------------------------------------------------


def view_for(db: CarnetSession, link: Any) -> SignerView:
    """What the link shows: its signer, request, the request's current version and form."""
    signer = db.exec(select(Signer).where(Signer.id == link.subject_id)).first()
    if signer is None:
        raise NotFound("consent signer")
    request = get_request(db, signer.request_id)
    return SignerView(signer, request, forms.get_version(db, request.version_id),
                      forms.get_template(db, request.template_id))


def check_open(view: SignerView) -> None:
    if view.signer.status == "signed" or view.request.status == "complete":
        raise AlreadySigned()
    if view.request.status != "pending" or view.signer.status != "pending":
        raise AlreadySigned()


def clean_answers(version: Version, form: dict[str, Any]) -> dict[str, bool]:
    """Every clause answered yes or no (`clause_<key>` = "accept" / "refuse")."""
    answers: dict[str, bool] = {}
    errors: dict[str, FieldError] = {}
    for clause in forms.clauses_of(version.clauses):
        value = str(form.get(f"clause_{clause.key}") or "")
        if value not in ("accept", "refuse"):
            errors[f"clause_{clause.key}"] = FieldError("required", N_("accept or refuse this clause"))
        else:
            answers[clause.key] = value == "accept"
    if errors:
        raise InvalidInput(errors)
    return answers


def clean_name(value: str) -> str:
    name = " ".join((value or "").split())
    if not name:
        raise _refuse("full_name", "required", N_("type your first and last name"))
    if len(name) > NAME_LIMIT or text_problem(name) is not None:
        raise _refuse("full_name", "invalid", N_("type your first and last name"))
    return name


def clean_submission(version: Version, form: dict[str, Any]) -> tuple[dict[str, bool], str]:
    """The clause answers and the typed name, every problem reported at once."""
    errors: dict[str, FieldError] = {}
    answers: dict[str, bool] = {}
    name = ""
    try:
        answers = clean_answers(version, form)
    except InvalidInput as exc:
        errors.update(exc.errors)
    try:
        name = clean_name(str(form.get("full_name") or ""))
    except InvalidInput as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    return answers, name


def channel_of(link: Any) -> str:
    """The channel a signing link came through, "email" or "sms" (its code goes there too)."""
    return CHANNEL_OF[link.purpose]


def request_code(db: CarnetSession, link: Any, view: SignerView) -> None:
    """Have a fresh one-time code sent to the signer, through the channel the link came through."""
    check_open(view)
    if link.codes_sent >= links.MAX_CODES_SENT:
        raise links.LinkRefused(links.THROTTLED, link)
    links.audit_access(db, link, action="request_code", resource_type="consent_signer")
    enqueue(db, CODE_ACTOR, view.signer.id, link.codes_sent + 1, link.id)


def sign(db: CarnetSession, link: Any, *, version_id: int, answers_form: dict[str, Any], full_name: str,
         code: str, address: str | None, user_agent: str | None, hooks: Any = None) -> Signature:
    """Record the signer's signature of the version they read, after their code is verified."""
    view = view_for(db, link)
    check_open(view)
    if version_id != view.version.id:
        raise VersionChanged()
    answers, name = clean_submission(view.version, {**answers_form, "full_name": full_name})
    if not links.verify_code(db, link, code, address):
        raise WrongCode()
    verified_at = link.code_verified_at or utcnow()
    links.use(db, link, action="sign", resource_type="consent_signer")
    signer, request, version = view.signer, view.request, view.version
    event = record(db, action="sign", resource_type="consent_request", resource_id=request.id,
                   patient_id=request.patient_id,
                   details={"signer": signer.id, "role": signer.role, "version": version.id,
                            "accepted": sum(answers.values()), "refused": len(answers) - sum(answers.values())},
                   actor=f"patient_link:{link.id}")
    channel = channel_of(link)
    evidence = evidence_of(db, signer, version, event, typed_name=name, channel=channel,
                           code_verified_at=verified_at.isoformat(), link=link.id, address=address,
                           user_agent=(user_agent or "")[:300])
    signature = Signature(request_id=request.id, signer_id=signer.id, patient_id=request.patient_id,
                          version_id=version.id, version_hash=version.content_hash, channel=channel,
                          code_verified_at=verified_at, audit_seq=event.seq)
    db.add(signature)
    seal(db, signature, "answers", json.dumps(answers, sort_keys=True))
    seal(db, signature, "evidence", json.dumps(evidence, ensure_ascii=False, sort_keys=True))
    db.flush()
    signer.status = "signed"
    signer.signed_at = signature.signed_at
    db.add(signer)
    db.flush()
    complete_if_done(db, request, version, hooks)
    return signature


def evidence_of(db: CarnetSession, signer: Signer, version: Version, event: Any, **facts: Any) -> dict[str, Any]:
    """A signature's evidence: the signer as recorded, the version signed, the position of its
    audit record, and what the channel adds (typed name, code check, address and browser, scan)."""
    return {
        "signer": {"role": signer.role, "relation": signer.relation, "guardian_id": signer.guardian_id,
                   "name_on_file": signer_name(db, signer)},
        "version": {"id": version.id, "number": version.number, "hash": version.content_hash},
        "audit": {"seq": event.seq, "hash": event.hash}, **facts,
    }


def complete_if_done(db: CarnetSession, request: Request, version: Version, hooks: Any) -> None:
    everyone = signers_of(db, request.id)
    signed = [s for s in everyone if s.status == "signed"]
    needed = len(everyone) if request.rule == "both" else 1
    if len(signed) < needed:
        return
    request.status = "complete"
    request.completed_at = utcnow()
    db.add(request)
    for s in everyone:
        if s.status == "pending":  # rule "one": the other holders need not sign any more
            s.status = "cancelled"
            db.add(s)
            revoke_sign_links(db, s.id)  # type: ignore[arg-type]
    sigs = signatures_of(db, request.id)
    per_clause: dict[str, bool] = {}
    for sig in sigs:
        answers = json.loads(readable(open_or_unreadable(db, sig, "answers")) or "{}")
        for key, value in answers.items():
            per_clause[key] = per_clause.get(key, True) and bool(value)  # "both": each must accept
    last = sigs[-1]
    for key, allowed in per_clause.items():
        decisions.add(db, request.patient_id, key, allowed, "signature", f"signature:{last.id}",
                      signature_id=last.id, version_id=version.id)
    db.flush()
    record(db, action="complete", resource_type="consent_request", resource_id=request.id,
           patient_id=request.patient_id, details={"signatures": len(sigs), "clauses": len(per_clause)})
    enqueue(db, DOCUMENT_ACTOR, request.id)  # the signed PDF, rendered by the worker
    if hooks is not None:
        hooks.consent_signed(clinic_id=db.clinic_id, patient_id=request.patient_id, request_id=request.id,
                             accepted=sorted(k for k, v in per_clause.items() if v),
                             refused=sorted(k for k, v in per_clause.items() if not v), db=db)


def withdrawable(db: CarnetSession, patient_id: int) -> list[decisions.Current]:
    return [c for c in decisions.current(db, patient_id) if c.allowed]
