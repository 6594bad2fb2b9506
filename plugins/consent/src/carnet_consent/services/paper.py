"""Consents given in the cabinet: on paper (staff record the answers with the signed sheet's
scan), or on a tablet handed to the patient (a kiosk link, no staff session on the device).

Paper: the form's current version, who signed (the patient, or the holders of parental authority
recorded in core: each of them for a form that needs both), each clause's answer, the day it was
signed and the scan. The scan must be a PDF, decided from its content with the `filetype` library
(magic numbers; the name and the browser's type are never trusted), that pyHanko's parser opens,
with nothing active inside (scripts, launch actions, embedded files), 10 MB at most; it is kept
sealed with the patient's key and its SHA-256 goes into each signature's evidence. Everything is
checked before anything is written.

Tablet: staff start it for the patient (or a holder); a kiosk link (30 minutes, single use) is
shown to them as a QR code and an address to open on the cabinet's tablet, which needs no
account. The kiosk page shows the form, the clauses, the typed name and "Je signe"; a device
signed in as staff is refused (the kiosk never runs inside a staff session).

Either way the request completes as an e-mailed one does: decisions, the signed PDF, the hook.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import filetype
from sqlmodel import select

from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    FieldError,
    InvalidInput,
    NotFound,
    PatientErased,
    PatientNotFound,
    links,
    open_,
    patient_access,
    record,
    seal,
    utcnow,
)

from carnet_consent.models import Request, Scan, Signature, Signer
from carnet_consent.services import forms, signing

MAX_SCAN = 10 * 1024 * 1024
PDF_ACTIVE = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFile|RichMedia|XFA)\b")
KIOSK = "consent.kiosk"  # link purpose: sign on the cabinet's tablet
KIOSK_VALID = timedelta(minutes=30)


def _refuse(field: str, code: str, message: str, **params: Any) -> InvalidInput:
    return InvalidInput({field: FieldError(code, message, **params)})


def check_scan(data: bytes) -> bytes:
    """The scan as it will be kept, or `InvalidInput` on the field `scan`."""
    if not data:
        raise _refuse("scan", "required", N_("attach the scan of the signed sheet (a PDF)"))
    if len(data) > MAX_SCAN:
        raise _refuse("scan", "too_large", N_("the scan is larger than %(limit)s MB"), limit=MAX_SCAN // (1024 * 1024))
    kind = filetype.guess(data)
    if kind is None or kind.mime != "application/pdf":
        raise _refuse("scan", "not_pdf", N_("the scan must be a PDF file (scan the sheet to PDF)"))
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        pages = int(reader.root["/Pages"]["/Count"])
    except Exception:  # noqa: BLE001 - an uploaded file may break the parser in any way: it is unreadable
        raise _refuse("scan", "unreadable", N_("this PDF cannot be read: scan the sheet again")) from None
    if pages < 1:
        raise _refuse("scan", "unreadable", N_("this PDF cannot be read: scan the sheet again"))
    if PDF_ACTIVE.search(data):
        raise _refuse("scan", "active", N_("this PDF contains active content (scripts or embedded files): scan the "
                                           "sheet again as a plain PDF"))
    return data


def _published(db: CarnetSession, template_id: int, version_id: int) -> tuple[Any, Any]:
    try:
        template = forms.get_template(db, template_id)
    except NotFound:
        raise _refuse("template_id", "unknown", N_("choose one of the clinic's forms")) from None
    if template.current_version_id is None or template.archived:
        raise _refuse("template_id", "unpublished", N_("this form has no published version yet"))
    if version_id != template.current_version_id:
        raise _refuse("template_id", "changed", N_("the form was published again meanwhile: check the clauses of "
                                                   "its new version"))
    return template, forms.get_version(db, version_id)


def _people(db: CarnetSession, principal: Any, template: Any, patient_id: int,
            chosen: list[str]) -> tuple[str, list[dict[str, Any]]]:
    """The rule and the signers: the patient, or the holders of parental authority chosen (each of
    them when the form needs both); a holder who is not recorded is refused."""
    patients = patient_access(db, principal)
    try:
        patients.get(patient_id)
    except (PatientNotFound, PatientErased):
        raise _refuse("patient_id", "unknown", N_("choose a patient of the clinic")) from None
    guardians = {str(g.id): g for g in patients.guardians(patient_id)}
    if not guardians:
        contact = patients.contact(patient_id)
        name = contact.display_name if contact is not None else ""
        return "patient", [{"role": "patient", "guardian_id": None, "relation": None, "name": name}]
    unknown = [c for c in chosen if c not in guardians]
    if unknown:
        raise _refuse("signers", "not_holder", N_("only a holder of parental authority recorded on the patient's "
                                                  "page can sign for a minor"))
    if not chosen:
        raise _refuse("signers", "required", N_("tick who signed the sheet"))
    if template.signers == "both" and set(chosen) != set(guardians):
        raise _refuse("signers", "both", N_("this form needs the signature of each holder of parental authority"))
    return template.signers, [{"role": "guardian", "guardian_id": g.id, "relation": g.relation,
                               "name": g.display_name} for key, g in guardians.items() if key in chosen]


def _signed_on(value: date | None) -> datetime:
    today = utcnow().date()
    if value is None:
        raise _refuse("signed_on", "required", N_("give the day the sheet was signed"))
    if value > today:
        raise _refuse("signed_on", "future", N_("the day signed cannot be in the future"))
    if value < today - timedelta(days=366):
        raise _refuse("signed_on", "too_old", N_("the day signed is more than a year ago"))
    return datetime.combine(value, time(12, 0), tzinfo=UTC)


def _close_pending(db: CarnetSession, patient_id: int, template_id: int) -> None:
    """An e-mailed request of the same form still waiting is cancelled: the paper one answers it."""
    pending = db.exec(select(Request).where(Request.patient_id == patient_id, Request.template_id == template_id,
                                            Request.status == "pending")).all()
    for request in pending:
        signing.cancel(db, request.id)  # type: ignore[arg-type]


def record_paper(db: CarnetSession, principal: Any, patient_id: int, *, template_id: int, version_id: int,
                 signers: list[str], answers_form: dict[str, Any], signed_on: date | None, scan: bytes,
                 hooks: Any = None) -> Request:
    """Record a consent signed on paper; every field is checked first, nothing written if one is wrong."""
    errors: dict[str, FieldError] = {}
    template = version = None
    rule, people, when, pdf = "patient", [], None, b""
    answers: dict[str, bool] = {}
    for step in ("form", "people", "answers", "day", "scan"):
        try:
            if step == "form":
                template, version = _published(db, template_id, version_id)
            elif step == "people" and template is not None:
                rule, people = _people(db, principal, template, patient_id, signers)
            elif step == "answers" and version is not None:
                answers = signing.clean_answers(version, answers_form)
            elif step == "day":
                when = _signed_on(signed_on)
            elif step == "scan":
                pdf = check_scan(scan)
        except InvalidInput as exc:
            errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    assert template is not None and version is not None and when is not None
    _close_pending(db, patient_id, template.id)  # type: ignore[arg-type]
    user_id = getattr(principal, "user_id", None)
    request, signers = signing.create_request(db, principal, patient_id, template.id, version.id, rule, people)  # type: ignore[arg-type]
    digest = hashlib.sha256(pdf).hexdigest()
    stored = Scan(request_id=request.id, patient_id=patient_id, sha256=digest, size=len(pdf), created_by=user_id)
    db.add(stored)
    seal(db, stored, "body", base64.b64encode(pdf).decode("ascii"))
    db.flush()
    now = utcnow()
    for signer in signers:
        event = record(db, action="sign", resource_type="consent_request", resource_id=request.id,
                       patient_id=patient_id,
                       details={"signer": signer.id, "role": signer.role, "version": version.id, "channel": "paper",
                                "accepted": sum(answers.values()), "refused": len(answers) - sum(answers.values())})
        evidence = signing.evidence_of(db, signer, version, event, typed_name=None, channel="paper",
                                       code_verified_at=now.isoformat(), recorded_by=user_id,
                                       signed_on=when.date().isoformat(), scan={"sha256": digest, "size": len(pdf)},
                                       address=None, user_agent=None)
        _signature(db, request, signer, version, answers, evidence, "paper", when, now, event.seq)
    db.flush()
    signing.complete_if_done(db, request, version, hooks)
    return request


def _signature(db: CarnetSession, request: Request, signer: Signer, version: Any, answers: dict[str, bool],
               evidence: dict[str, Any], channel: str, signed_at: datetime, verified_at: datetime,
               seq: int | None) -> Signature:
    signature = Signature(request_id=request.id, signer_id=signer.id, patient_id=request.patient_id,
                          version_id=version.id, version_hash=version.content_hash, channel=channel,
                          code_verified_at=verified_at, signed_at=signed_at, audit_seq=seq)
    db.add(signature)
    seal(db, signature, "answers", json.dumps(answers, sort_keys=True))
    seal(db, signature, "evidence", json.dumps(evidence, ensure_ascii=False, sort_keys=True))
    db.flush()
    signer.status = "signed"
    signer.signed_at = signed_at
    db.add(signer)
    return signature


def scan_of(db: CarnetSession, request_id: int) -> Scan | None:
    return db.exec(select(Scan).where(Scan.request_id == request_id)).first()


def download_scan(db: CarnetSession, request: Request) -> bytes | None:
    """The scan's bytes, its opening audited (None when the request has none)."""
    stored = scan_of(db, request.id)  # type: ignore[arg-type]
    if stored is None:
        return None
    content = base64.b64decode(open_(db, stored, "body") or "")
    record(db, action="download", resource_type="consent_scan", resource_id=stored.id, patient_id=stored.patient_id)
    return content


# --- on the cabinet's tablet ------------------------------------------------------------------------


def start_tablet(db: CarnetSession, principal: Any, patient_id: int, template_id: int, who: str) -> tuple[Request, str]:
    """A kiosk link for one signer (`who`: "patient" or a recorded holder's id) of the form's
    pending request (made now, without e-mail, when none waits); returns the request and the
    link's token, shown once to the staff member (only its hash is kept)."""
    try:
        template = forms.get_template(db, template_id)
    except NotFound:
        raise _refuse("template_id", "unknown", N_("choose one of the clinic's forms")) from None
    if template.current_version_id is None or template.archived:
        raise _refuse("template_id", "unpublished", N_("this form has no published version yet"))
    rule, people = _people(db, principal, template, patient_id,
                           [g for g in _holder_ids(db, principal, patient_id)])
    wanted = [p for p in people if (p["role"] == "patient" and who == "patient")
              or (p["guardian_id"] is not None and str(p["guardian_id"]) == who)]
    if not wanted:
        raise _refuse("signer", "not_holder", N_("choose who signs: the patient, or a holder of parental authority "
                                                 "recorded on the patient's page"))
    request = db.exec(select(Request).where(Request.patient_id == patient_id, Request.template_id == template.id,
                                            Request.status == "pending")).first()
    if request is None:
        request, _signers = signing.create_request(db, principal, patient_id, template.id,  # type: ignore[arg-type]
                                                   template.current_version_id, rule, people)  # type: ignore[arg-type]
    person = wanted[0]
    signer = next((s for s in signing.signers_of(db, request.id)  # type: ignore[arg-type]
                   if s.role == person["role"] and s.guardian_id == person["guardian_id"]), None)
    if signer is None or signer.status != "pending":
        raise _refuse("signer", "signed", N_("this person has already signed this form"))
    links.revoke(db, ("consent_signer", signer.id), purpose=KIOSK)  # type: ignore[arg-type]
    issued = links.issue(db, purpose=KIOSK, subject_type="consent_signer", subject_id=signer.id,  # type: ignore[arg-type]
                         patient_id=patient_id, expires_in=KIOSK_VALID, max_uses=1)
    record(db, action="start_tablet", resource_type="consent_request", resource_id=request.id, patient_id=patient_id,
           details={"signer": signer.id, "link": issued.link.id})
    return request, issued.token


def _holder_ids(db: CarnetSession, principal: Any, patient_id: int) -> list[str]:
    try:
        return [str(g.id) for g in patient_access(db, principal).guardians(patient_id)]
    except (PatientNotFound, PatientErased):
        return []


def sign_on_tablet(db: CarnetSession, link: Any, *, version_id: int, answers_form: dict[str, Any], full_name: str,
                   address: str | None, user_agent: str | None, hooks: Any = None) -> Signature:
    """The signer's signature on the kiosk: the version they read, their answers and typed name;
    their identity vouched for by the staff member who handed over the tablet (no code)."""
    view = signing.view_for(db, link)
    signing.check_open(view)
    if version_id != view.version.id:
        raise signing.VersionChanged()
    answers, name = signing.clean_submission(view.version, {**answers_form, "full_name": full_name})
    links.use(db, link, action="sign", resource_type="consent_signer")
    signer, request, version = view.signer, view.request, view.version
    now = utcnow()
    event = record(db, action="sign", resource_type="consent_request", resource_id=request.id,
                   patient_id=request.patient_id,
                   details={"signer": signer.id, "role": signer.role, "version": version.id, "channel": "tablet",
                            "accepted": sum(answers.values()), "refused": len(answers) - sum(answers.values())},
                   actor=f"patient_link:{link.id}")
    evidence = signing.evidence_of(db, signer, version, event, typed_name=name, channel="tablet",
                                   code_verified_at=now.isoformat(), link=link.id, address=address,
                                   user_agent=(user_agent or "")[:300])
    signature = _signature(db, request, signer, version, answers, evidence, "tablet", now, now, event.seq)
    db.flush()
    signing.complete_if_done(db, request, version, hooks)
    return signature
