"""The signed consent as a PDF: rendered by the worker once the request completes, signed by the
clinic (PAdES), validated here by pyHanko's validator against the clinic's certificate; a byte
changed, content appended or a foreign key fails; the private key is sealed; staff check a file
on the verification page."""

from __future__ import annotations

import base64
import io
import re

import pytest
from consent_world import send_form, sign_through_mail
from sqlmodel import select

from carnet_core.plugin_api import open_
from carnet_core.testing import AuditRecord, csrf_token, wait_for_jobs

from carnet_consent.models import Document, SigningKey
from carnet_consent.models import Request as ConsentRequest
from carnet_consent.services import documents

pytestmark = pytest.mark.pdf


def _signed_request(client, carnet_db, world, settings, jobs) -> int:
    request_id = send_form(carnet_db, world, "telesoin", world.minor)
    wait_for_jobs(jobs)
    for address, name in (("camille@example.org", "Camille Garnier"), ("thomas@example.org", "Thomas Garnier")):
        done = sign_through_mail(client, settings, jobs, address, {"clause_telesoin": "accept"}, name)
        assert done.status_code == 200, done.text
    wait_for_jobs(jobs)
    return request_id


def _stored_pdf(carnet_db, world, request_id: int) -> bytes:
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        document = documents.of_request(db, request_id)
        assert document is not None, "the worker made no PDF for the completed request"
        return base64.b64decode(open_(db, document, "body"))


def _pyhanko_status(pdf: bytes, certificate_pem: str):
    """pyHanko's own validator, the clinic's certificate as the only trust anchor, no network."""
    from asn1crypto import pem, x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    _, _, der = pem.unarmor(certificate_pem.encode())
    signatures = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures
    assert len(signatures) == 1
    return validate_pdf_signature(signatures[0], ValidationContext(trust_roots=[x509.Certificate.load(der)],
                                                                   allow_fetching=False))


def _flip_byte_inside_signed_content(pdf: bytes) -> bytes:
    """Change one letter of the page content range covered by the signature (not the signature)."""
    start = pdf.index(b"/Contents <")
    target = pdf.index(b"/Type", 200)  # a name in an object signed by /ByteRange, well before the signature
    assert target < start
    changed = bytearray(pdf)
    changed[target + 1] = ord("X")  # /Type -> /Xype
    return bytes(changed)


def test_a_completed_request_has_a_pdf_signed_by_the_clinic_that_validates_and_a_changed_byte_fails(
        client, world, carnet_db, carnet_settings, jobs_worker, login_as):
    request_id = _signed_request(client, carnet_db, world, carnet_settings, jobs_worker)
    pdf = _stored_pdf(carnet_db, world, request_id)
    assert pdf.startswith(b"%PDF-")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        key = db.exec(select(SigningKey)).one()
        certificate, sealed_key = key.certificate, key.private_key
        document = documents.of_request(db, request_id)
        assert document.sha256 and document.size == len(pdf)
    # the private key is sealed (core encryption), never stored in clear
    assert b"PRIVATE KEY" not in sealed_key and sealed_key[:4] != b"MIGH"

    status = _pyhanko_status(pdf, certificate)
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert "consentements" in status.signing_cert.subject.human_friendly

    # the PDF holds the form as signed and an evidence page with both parents
    from pypdf import PdfReader
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Camille Garnier" in text and "Thomas Garnier" in text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        version_hash = db.get(ConsentRequest, request_id)
        from carnet_consent.services import forms
        content_hash = forms.get_version(db, version_hash.version_id).content_hash
    assert content_hash[:32] in text.replace("\n", "")

    tampered = _flip_byte_inside_signed_content(pdf)
    broken = _pyhanko_status(tampered, certificate)
    assert not broken.intact and not broken.bottom_line
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert documents.check(db, pdf).valid
        verdict = documents.check(db, tampered)
        assert not verdict.valid and verdict.reason in ("altered", "unreadable")
        appended = documents.check(db, pdf + b"\n%% appended after signing\n")
        assert not appended.valid and appended.reason == "extended"


def test_a_redelivered_render_job_makes_no_second_document(client, world, carnet_db, carnet_settings, jobs_worker):
    request_id = _signed_request(client, carnet_db, world, carnet_settings, jobs_worker)
    first = _stored_pdf(carnet_db, world, request_id)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        documents.request_render(db, db.get(ConsentRequest, request_id))  # nothing: it has its PDF
        from carnet_core.plugin_api import enqueue
        enqueue(db, documents.ACTOR, request_id)  # a redelivery
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert len(db.exec(select(Document)).all()) == 1
        assert len(db.exec(select(SigningKey)).all()) == 1
    assert _stored_pdf(carnet_db, world, request_id) == first


def test_a_pdf_signed_with_another_key_is_refused(client, world, carnet_db, carnet_settings, jobs_worker):
    request_id = _signed_request(client, carnet_db, world, carnet_settings, jobs_worker)
    pdf = _stored_pdf(carnet_db, world, request_id)
    from cryptography.hazmat.primitives.asymmetric import ec

    from carnet_consent.services.documents import _certificate_for
    key = ec.generate_private_key(ec.SECP256R1())
    forged = _certificate_for(world.clinic.name, key, documents.utcnow())
    from asn1crypto import keys, x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    # a fresh unsigned rendering with a forger's signature claiming the same clinic name
    unsigned = pdf[:pdf.rindex(b"%%EOF", 0, pdf.index(b"/ByteRange")) + 5]
    signer = signers.SimpleSigner(
        signing_cert=x509.Certificate.load(forged.public_bytes(serialization.Encoding.DER)),
        signing_key=keys.PrivateKeyInfo.load(key.private_bytes(serialization.Encoding.DER,
                                                               serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption())),
        cert_registry=None)
    other = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(unsigned)),
                             signers.PdfSignatureMetadata(field_name="Forged"), signer=signer).getvalue()
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        verdict = documents.check(db, other)
    assert not verdict.valid and verdict.reason == "foreign"


def _verify_page_post(client, name: str, content: bytes, token: str):
    return client.post("/consent/verify", data={"_csrf_token": token},
                       files={"file": (name, content, "application/pdf")})


def test_staff_check_a_pdf_on_the_verification_page(client, world, carnet_db, carnet_settings, jobs_worker, login_as):
    request_id = _signed_request(client, carnet_db, world, carnet_settings, jobs_worker)
    login_as(client, world.secretary)
    page = client.get(f"/consent/requests/{request_id}")
    assert page.status_code == 200 and f"/consent/requests/{request_id}/pdf" in page.text
    download = client.get(f"/consent/requests/{request_id}/pdf")
    assert download.status_code == 200 and download.headers["content-type"] == "application/pdf"
    assert "attachment" in download.headers["content-disposition"]
    pdf = download.content
    token = csrf_token(client, "/consent/verify")
    ok = _verify_page_post(client, "consentement.pdf", pdf, token)
    assert ok.status_code == 200 and "Valide" in ok.text, ok.text
    assert f"/consent/requests/{request_id}" in ok.text  # the document it is
    bad = _verify_page_post(client, "consentement.pdf", _flip_byte_inside_signed_content(pdf), token)
    assert bad.status_code == 200 and "Non valide" in bad.text
    not_pdf = _verify_page_post(client, "notes.pdf", b"hello, not a pdf", token)
    assert not_pdf.status_code == 200 and "n’est pas un PDF" in not_pdf.text
    missing = client.post("/consent/verify", data={"_csrf_token": token}, files={"other": ("x", b"", "text/plain")})
    assert missing.status_code == 422
    by_reference = client.get(f"/consent/requests/{request_id}/verify")
    assert by_reference.status_code == 200 and "Valide" in by_reference.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        checks = db.exec(select(AuditRecord).where(AuditRecord.action == "verify",
                                                   AuditRecord.resource_type == "consent_document")).all()
        assert len(checks) == 4 and sum(1 for c in checks if c.patient_id == world.minor) == 2
        downloads = db.exec(select(AuditRecord).where(AuditRecord.action == "download",
                                                      AuditRecord.resource_type == "consent_document")).all()
        assert len(downloads) == 1 and downloads[0].patient_id == world.minor


def test_the_pdf_of_another_clinics_request_is_not_found(client, world, carnet_db, carnet_settings, jobs_worker, login_as,
                                                        make_clinic, staff):
    request_id = _signed_request(client, carnet_db, world, carnet_settings, jobs_worker)
    other = staff(("owner", "practitioner"), clinic=make_clinic("autre-cabinet", plugins=["consent"]))
    login_as(client, other)
    assert client.get(f"/consent/requests/{request_id}/pdf").status_code == 404
    assert client.get(f"/consent/requests/{request_id}/verify").status_code == 404
    pdf = _stored_pdf(carnet_db, world, request_id)
    token = csrf_token(client, "/consent/verify")
    foreign = _verify_page_post(client, "consentement.pdf", pdf, token)
    assert foreign.status_code == 200 and "Non valide" in foreign.text
    assert f"/consent/requests/{request_id}" not in foreign.text
    assert re.search(r"/consent/requests/\d+", foreign.text) is None
