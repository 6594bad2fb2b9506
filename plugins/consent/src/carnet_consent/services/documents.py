"""The signed consent as a PDF, and its verification.

When a request completes, the actor `consent.render_document` renders the form exactly as signed
(the version's title, text, clauses and hash), each signer's answers and an evidence page (signer,
typed name, times, channel and code check, address and browser, audit chain position) through
core's PDF service (PDF/A-3b, WeasyPrint), then signs it for the clinic with a PAdES signature
(pyHanko, ETSI.CAdES.detached, SHA-256): any later change to the file breaks it, which any PDF
reader or validator shows. The signed file is kept sealed with the patient's key.

The clinic's key: an ECDSA P-256 key pair made on first use, its private key sealed with the
clinic's data key (core encryption: it never leaves the database in clear, is rewrapped with the
clinic's keys and shredded with the clinic), its self-signed certificate in clear. There is no
public certification authority here: trust comes from the certificates the clinic holds, which
the verification page uses as its only trust anchors (no network fetch).

pyHanko (signing and validation) and `cryptography` (key and certificate) are the field libraries
for this; nothing here writes PDF structures or CMS by hand.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    Clinic,
    NotFound,
    open_,
    open_or_unreadable,
    readable,
    record,
    render_pdf,
    seal,
    utcnow,
)

from carnet_consent.labels import ROLE_LABELS
from carnet_consent.models import Document, SigningKey
from carnet_consent.models import Request as ConsentRequest
from carnet_consent.rendering import to_html
from carnet_consent.services import forms, signing

ACTOR = "consent.render_document"
TEMPLATE = "consent/pdf/signed.html"
KEY_VALID = timedelta(days=3653)  # ten years: consent evidence is kept as long as the care record
FIELD = "CarnetConsent"
MAX_UPLOAD = 10 * 1024 * 1024


# --- the clinic's key ---------------------------------------------------------------------------


def _certificate_for(clinic_name: str, key: Any, now: datetime) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, clinic_name[:64] or "Carnet"),
        x509.NameAttribute(NameOID.COMMON_NAME, (clinic_name[:40] or "Carnet") + " - consentements"),
    ])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + KEY_VALID)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def current_key(db: CarnetSession, clinic_name: str) -> SigningKey:
    """The clinic's signing key, made (and its private half sealed) the first time it is needed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    now = utcnow()
    # an imported clinic's certificates come without their private half (it never leaves an
    # instance): they verify what they signed; the next signature gets a key of this instance
    row = db.exec(select(SigningKey).where(SigningKey.not_after > now + timedelta(days=1),
                                           col(SigningKey.private_key).is_not(None))
                  .order_by(col(SigningKey.id).desc())).first()
    if row is not None:
        return row
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _certificate_for(clinic_name, key, now)
    der = certificate.public_bytes(serialization.Encoding.DER)
    row = SigningKey(certificate=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
                     fingerprint=hashlib.sha256(der).hexdigest(), not_after=now + KEY_VALID)
    db.add(row)
    db.flush()
    private = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    seal(db, row, "private_key", base64.b64encode(private).decode("ascii"))
    db.add(row)
    db.flush()
    record(db, action="create", resource_type="consent_signing_key", resource_id=row.id,
           details={"fingerprint": row.fingerprint})
    return row


def _asn1_certificate(row: SigningKey) -> Any:
    from asn1crypto import pem, x509

    _, _, der = pem.unarmor(row.certificate.encode("ascii"))
    return x509.Certificate.load(der)


def trust_anchors(db: CarnetSession) -> list[Any]:
    """Every certificate the clinic ever signed with (retired keys still verify their PDFs)."""
    return [_asn1_certificate(row) for row in db.exec(select(SigningKey).order_by(SigningKey.id))]


# --- rendering and signing ----------------------------------------------------------------------


def context(db: CarnetSession, request: ConsentRequest, clinic: Clinic) -> dict[str, Any]:
    """What the PDF prints: the version signed and each signature's answers and evidence."""
    version = forms.get_version(db, request.version_id)
    rows = []
    for sig in signing.signatures_of(db, request.id):  # type: ignore[arg-type]
        answers = readable(open_or_unreadable(db, sig, "answers"))
        evidence = readable(open_or_unreadable(db, sig, "evidence"))
        rows.append({"signature": sig, "answers": json.loads(answers) if answers else {},
                     "evidence": json.loads(evidence) if evidence else None})
    return {"clinic_name": clinic.name, "req": request, "version": version, "html": to_html(version.body),
            "clauses": forms.clauses_of(version.clauses), "rows": rows, "role_labels": ROLE_LABELS}


def sign_pdf(pdf: bytes, key_row: SigningKey, db: CarnetSession, clinic_name: str) -> bytes:
    """`pdf` with the clinic's PAdES signature (an incremental update covering the whole file)."""
    from asn1crypto import keys
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    certificate = _asn1_certificate(key_row)
    private = keys.PrivateKeyInfo.load(base64.b64decode(open_(db, key_row, "private_key") or ""))
    signer = signers.SimpleSigner(signing_cert=certificate, signing_key=private,
                                  cert_registry=SimpleCertificateStore.from_certs([certificate]))
    meta = signers.PdfSignatureMetadata(field_name=FIELD, md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES,
                                        reason="Consentement signé : preuve conservée par le cabinet",
                                        name=clinic_name)
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer)
    return out.getvalue()


def of_request(db: CarnetSession, request_id: int) -> Document | None:
    return db.exec(select(Document).where(Document.request_id == request_id)).first()


def build(db: CarnetSession, host: Any, request: ConsentRequest) -> Document:
    """Render, sign and keep the PDF of a completed request (in `db`'s transaction)."""
    clinic = db.get(Clinic, request.clinic_id)
    if clinic is None:
        raise NotFound("clinic")
    key_row = current_key(db, clinic.name)
    version = forms.get_version(db, request.version_id)
    pdf = render_pdf(host, TEMPLATE, context(db, request, clinic), locale="fr",
                     title=f"{version.title} — consentement n° {request.id}",
                     created=request.completed_at or request.created_at)
    signed = sign_pdf(pdf, key_row, db, clinic.name)
    document = Document(request_id=request.id, patient_id=request.patient_id, key_id=key_row.id,  # type: ignore[arg-type]
                        sha256=hashlib.sha256(signed).hexdigest(), size=len(signed))
    db.add(document)
    db.flush()
    seal(db, document, "body", base64.b64encode(signed).decode("ascii"))
    db.add(document)
    db.flush()
    record(db, action="create", resource_type="consent_document", resource_id=document.id,
           patient_id=request.patient_id, details={"request": request.id, "size": document.size})
    return document


def render_document(request_id: int, job: Any) -> None:
    """Actor `consent.render_document`: the signed PDF of a completed request, once (a redelivery,
    or a request that has its PDF, does nothing)."""
    from carnet_core.plugin_api import once

    with job.session() as db:
        request = db.get(ConsentRequest, request_id)
        if request is None or request.status != "complete" or of_request(db, request_id) is not None:
            return
        if not once(db, f"{ACTOR}:{request_id}"):
            return
        build(db, job.host, request)


def request_render(db: CarnetSession, request: ConsentRequest) -> None:
    """Ask the worker for the PDF of a completed request that has none (signed before PDFs)."""
    from carnet_core.plugin_api import enqueue

    if request.status == "complete" and of_request(db, request.id) is None:  # type: ignore[arg-type]
        enqueue(db, ACTOR, request.id)


def download(db: CarnetSession, request: ConsentRequest) -> bytes | None:
    """The signed PDF (its opening audited), or None while the worker has not made it."""
    document = of_request(db, request.id)  # type: ignore[arg-type]
    if document is None:
        return None
    pdf = base64.b64decode(open_(db, document, "body") or "")
    record(db, action="download", resource_type="consent_document", resource_id=document.id,
           patient_id=document.patient_id, details={"request": request.id})
    return pdf


def file_name(request: ConsentRequest) -> str:
    return f"consentement-{request.id}.pdf"


# --- verification -------------------------------------------------------------------------------


# Why a file is refused (msgids, translated on the page).
REASONS = {
    "not_pdf": N_("This file is not a PDF."),
    "too_large": N_("This file is too large to be a consent PDF (10 MB at most)."),
    "unreadable": N_("This PDF cannot be read: it is damaged or altered."),
    "unsigned": N_("This PDF carries no signature."),
    "several": N_("This PDF carries several signatures: it is not a consent PDF of this practice as issued."),
    "altered": N_("The signature does not match the content: the document was modified after it was signed."),
    "foreign": N_("The signature is intact but was not made by this practice's key."),
    "extended": N_("Content was added to the document after it was signed."),
}


@dataclass(frozen=True)
class Verdict:
    valid: bool
    reason: str | None = None  # a key of REASONS when not valid
    signed_by: str | None = None  # the certificate's subject
    signed_at: datetime | None = None  # the time the signer declared (no timestamp authority)
    fingerprint: str | None = None
    document: Document | None = None  # the stored PDF it is (a valid, unchanged copy)


def check(db: CarnetSession, data: bytes) -> Verdict:
    """Whether `data` is a consent PDF signed by this clinic and unchanged since (pyHanko's
    validator, the clinic's certificates as the only trust anchors, no network)."""
    if len(data) > MAX_UPLOAD:
        return Verdict(False, "too_large")
    if not data.startswith(b"%PDF-"):
        return Verdict(False, "not_pdf")
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    try:
        signatures = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
    except Exception:  # noqa: BLE001 - an uploaded file may break the parser in any way: it is unreadable
        return Verdict(False, "unreadable")
    if not signatures:
        return Verdict(False, "unsigned")
    if len(signatures) > 1:
        return Verdict(False, "several")
    anchors = trust_anchors(db)
    try:
        status = validate_pdf_signature(signatures[0], ValidationContext(trust_roots=anchors, allow_fetching=False))
    except (SignatureValidationError, ValueError, KeyError, TypeError):
        return Verdict(False, "altered")
    except Exception:  # noqa: BLE001 - malformed signature structures raise from deep in the parser
        return Verdict(False, "unreadable")
    cert = status.signing_cert
    who = cert.subject.human_friendly if cert is not None else None
    fingerprint = hashlib.sha256(cert.dump()).hexdigest() if cert is not None else None
    when = status.signer_reported_dt
    if not (status.intact and status.valid):
        return Verdict(False, "altered", who, when, fingerprint)
    if not status.trusted or fingerprint not in {hashlib.sha256(a.dump()).hexdigest() for a in anchors}:
        return Verdict(False, "foreign", who, when, fingerprint)
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return Verdict(False, "extended", who, when, fingerprint)
    document = db.exec(select(Document).where(Document.sha256 == hashlib.sha256(data).hexdigest())).first()
    return Verdict(True, None, who, when, fingerprint, document)


def verify_upload(db: CarnetSession, data: bytes) -> Verdict:
    """A file staff uploaded, checked and the check audited (which document it is, when known)."""
    verdict = check(db, data)
    doc = verdict.document
    record(db, action="verify", resource_type="consent_document", resource_id=doc.id if doc else None,
           patient_id=doc.patient_id if doc else None,
           details={"valid": verdict.valid, "reason": verdict.reason, "size": len(data)})
    return verdict


def verify_stored(db: CarnetSession, request: ConsentRequest) -> Verdict | None:
    """The stored PDF of a request checked again (None while it is not made yet)."""
    document = of_request(db, request.id)  # type: ignore[arg-type]
    if document is None:
        return None
    pdf = base64.b64decode(open_(db, document, "body") or "")
    verdict = check(db, pdf)
    record(db, action="verify", resource_type="consent_document", resource_id=document.id,
           patient_id=document.patient_id, details={"valid": verdict.valid, "reason": verdict.reason})
    return verdict
