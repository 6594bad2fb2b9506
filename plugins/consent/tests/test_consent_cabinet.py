"""Consents given in the cabinet. On paper: staff record the answers with the scan of the signed
sheet, a PDF decided from its content (a disguised, oversized, unreadable or active file is
refused with nothing written), kept sealed, its fingerprint in the evidence; a minor's form that
needs both parents needs both recorded holders. On a tablet: a kiosk link shown once to staff as a
QR code, refused on a device signed in as staff, single use; the request completes as an e-mailed
one does."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import date, timedelta

import pypdf
from consent_world import owner_principal, send_form
from litestar.testing import TestClient
from sqlmodel import select

from carnet_core.plugin_api import patient_access
from carnet_core.testing import AuditRecord, csrf_token

from carnet_consent.models import Decision, Request, Scan, Signature
from carnet_consent.services import paper


def _pdf(extra: bytes = b"") -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue() + extra


def _post(client, patient_id: int, template_id: int, version_id: int, scan: bytes, **fields):
    token = csrf_token(client, f"/consent/patients/{patient_id}/paper?template_id={template_id}")
    data = {"_csrf_token": token, "template_id": str(template_id), "version_id": str(version_id), **fields}
    return client.post(f"/consent/patients/{patient_id}/paper", data=data,
                       files={"scan": ("feuille.pdf", scan, "application/pdf")}, follow_redirects=False)


def _version(client, patient_id: int, template_id: int) -> int:
    page = client.get(f"/consent/patients/{patient_id}/paper?template_id={template_id}")
    assert page.status_code == 200, page.text
    return int(re.search(r'name="version_id" value="(\d+)"', page.text).group(1))


def _count(carnet_db, world, model) -> int:
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return len(db.exec(select(model)).all())


def test_a_paper_consent_is_recorded_with_its_scan_and_completes_the_request(client, world, carnet_db, login_as):
    pending = send_form(carnet_db, world, "care", world.adult)  # an e-mailed request still waiting
    login_as(client, world.secretary)  # secretaries record consents (no clinical content involved)
    care = world.forms["care"]
    version = _version(client, world.adult, care)
    scan = _pdf()
    made = _post(client, world.adult, care, version, scan, clause_care="accept", signed_on="2026-12-01")
    assert made.status_code == 303, made.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        requests = {r.id: r for r in db.exec(select(Request))}
        assert requests[pending].status == "cancelled"  # the paper sheet answers it
        [done] = [r for r in requests.values() if r.status == "complete"]
        [signature] = db.exec(select(Signature)).all()
        assert (signature.channel, signature.signed_at.date().isoformat()) == ("paper", "2026-12-01")
        [stored] = db.exec(select(Scan)).all()
        assert stored.sha256 == hashlib.sha256(scan).hexdigest() and b"%PDF" not in stored.body  # sealed
        assert [(d.purpose, d.allowed) for d in db.exec(select(Decision))] == [("care", True)]
    page = client.get(f"/consent/requests/{done.id}")
    assert page.status_code == 200 and "papier, signé le 2026-12-01" in page.text and stored.sha256 in page.text
    downloaded = client.get(f"/consent/requests/{done.id}/scan")
    assert downloaded.status_code == 200 and downloaded.content == scan
    assert downloaded.headers["content-type"].startswith("application/pdf")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(AuditRecord).where(AuditRecord.resource_type == "consent_scan",
                                                 AuditRecord.action == "download")).one()


def test_a_bad_scan_or_a_missing_parent_is_refused_and_nothing_is_written(client, world, carnet_db, login_as):
    login_as(client, world.owner)
    care, telesoin = world.forms["care"], world.forms["telesoin"]
    version = _version(client, world.adult, care)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    cases = [
        (png, {"clause_care": "accept"}, "doit être un fichier PDF"),
        (b"%PDF-1.7\n" + b"0" * paper.MAX_SCAN, {"clause_care": "accept"}, "dépasse 10 Mo"),
        (b"%PDF-1.7\nnot really a pdf", {"clause_care": "accept"}, "illisible"),
        (_pdf(b"\n/JavaScript (app.alert(1))\n"), {"clause_care": "accept"}, "contenu actif"),
        (b"", {"clause_care": "accept"}, "joignez le scan"),
        (_pdf(), {}, "Acceptez ou refusez ce point"),
        (_pdf(), {"clause_care": "accept", "signed_on": (date.today() + timedelta(days=3)).isoformat()}, "futur"),
        (_pdf(), {"clause_care": "accept", "signed_on": "pas une date"}, "signed_on"),
    ]
    for scan, fields, message in cases:
        refused = _post(client, world.adult, care, version, scan, **{"signed_on": "2026-12-01", **fields})
        assert refused.status_code == 422 and message in refused.text, (message, refused.text[-2000:])
    stale = _post(client, world.adult, care, version + 1000, _pdf(), clause_care="accept", signed_on="2026-12-01")
    assert stale.status_code == 422 and "republié" in stale.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        holders = [str(g.id) for g in patient_access(db, owner_principal(world.clinic.id, world.owner.id))
                   .guardians(world.minor)]
    tv = _version(client, world.minor, telesoin)
    one = _post(client, world.minor, telesoin, tv, _pdf(), clause_telesoin="accept", signed_on="2026-12-01",
                signers=holders[0])
    assert one.status_code == 422 and "chaque titulaire" in one.text
    stranger = _post(client, world.minor, telesoin, tv, _pdf(), clause_telesoin="accept", signed_on="2026-12-01",
                     signers=["999999", *holders])
    assert stranger.status_code == 422 and "seul un titulaire" in stranger.text
    for model in (Request, Signature, Scan, Decision):
        assert _count(carnet_db, world, model) == 0
    both = _post(client, world.minor, telesoin, tv, _pdf(), clause_telesoin="accept", signed_on="2026-12-01",
                 signers=holders)
    assert both.status_code == 303, both.text
    assert _count(carnet_db, world, Signature) == 2


def test_a_tablet_signature_in_kiosk_mode_never_runs_in_a_staff_session(client, world, carnet_db, login_as, app):
    token = login_as(client, world.owner)
    started = client.post(f"/consent/patients/{world.adult}/tablet",
                          data={"_csrf_token": token, "template_id": str(world.forms["care"]), "signer": "patient"})
    assert started.status_code == 200 and "data:image/svg+xml" in started.text  # the QR code, from our origin
    url = re.search(r"http://\S+/consent/k/[A-Za-z0-9_-]{40,64}", started.text).group(0)
    path = url.split("://", 1)[1].split("/", 1)[1]
    path = "/" + path
    on_staff_device = client.get(path)
    assert on_staff_device.status_code == 403 and "connecté au compte du cabinet" in on_staff_device.text
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as tablet:
        page = tablet.get(path)
        assert page.status_code == 200 and "Je signe" in page.text and "Se déconnecter" not in page.text
        version_id = re.search(r'name="version_id" value="(\d+)"', page.text).group(1)
        csrf = csrf_token(tablet, path)
        no_name = tablet.post(path, data={"_csrf_token": csrf, "version_id": version_id, "clause_care": "accept"})
        assert no_name.status_code == 422
        signed = tablet.post(path, data={"_csrf_token": csrf, "version_id": version_id, "clause_care": "accept",
                                         "full_name": "Élodie Lefèvre"})
        assert signed.status_code == 200 and "rendre la tablette" in signed.text
        again = tablet.post(path, data={"_csrf_token": csrf, "version_id": version_id, "clause_care": "accept",
                                        "full_name": "Élodie Lefèvre"})
        assert again.status_code == 410
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        [request] = db.exec(select(Request)).all()
        [signature] = db.exec(select(Signature)).all()
        assert request.status == "complete" and signature.channel == "tablet"
        assert [(d.purpose, d.allowed) for d in db.exec(select(Decision))] == [("care", True)]
