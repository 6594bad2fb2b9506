"""A consent given on paper survives the clinic's export and import (`carnet export clinic` /
`carnet import clinic`, through core's archive functions they call): its scan travels as a file of
the archive, is sealed again with the new instance's keys, opens byte for byte, still matches the
fingerprint printed in the signature's evidence, and the patient's RGPD export of the imported
clinic carries it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from datetime import date

import pypdf
from consent_world import owner_principal
from sqlmodel import select

from carnet_core.plugin_api import open_, patient_access

from carnet_consent.models import Scan, Signature
from carnet_consent.services import forms, paper


def _scan_pdf() -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": "Feuille signée"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_paper_scan_round_trips_through_the_clinic_export_and_import_and_the_patients_export(
        world, carnet_db, carnet_settings, plugin_host, empty_instance):
    from carnet_core.testing import check_archive, import_archive, write_archive

    scan = _scan_pdf()
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        template = forms.get_template(db, world.forms["care"])
        request = paper.record_paper(db, owner_principal(world.clinic.id, world.owner.id), world.adult,
                                     template_id=template.id, version_id=template.current_version_id, signers=[],
                                     answers_form={"clause_care": "accept"}, signed_on=date.today(), scan=scan)
        request_id = request.id
    out = io.BytesIO()
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        write_archive(db, plugin_host, world.clinic, out)
    archive = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    assert archive.read(f"files/consent/paper/{request_id}.pdf") == scan  # the scan, as a file
    scans = [json.loads(line) for line in archive.read("consent/scan.jsonl").decode().splitlines()]
    assert [s["sha256"] for s in scans] == [hashlib.sha256(scan).hexdigest()] and "body" not in scans[0]

    done = import_archive(carnet_settings, plugin_host, empty_instance, check_archive(io.BytesIO(out.getvalue())))
    assert done["written"]["consent"]["scan"] == 1
    with empty_instance.session(unscoped=True) as db:
        clinic_id = db.exec(select(Scan.clinic_id)).one()
    with empty_instance.session(clinic_id=clinic_id) as db:
        db.info["principal"] = "system:tests"
        stored = db.exec(select(Scan)).one()
        assert base64.b64decode(open_(db, stored, "body")) == scan  # sealed with the new keys, intact
        signature = db.exec(select(Signature).where(Signature.request_id == stored.request_id)).one()
        evidence = json.loads(open_(db, signature, "evidence"))
        assert signature.channel == "paper" and evidence["scan"]["sha256"] == hashlib.sha256(scan).hexdigest()
        document = patient_access(db).export(stored.patient_id, plugin_host)
    (exported,) = [r for r in document["plugins"]["consent"]["requests"] if r["paper_scan"]]
    assert base64.b64decode(exported["paper_scan"]["pdf_base64"]) == scan
    assert exported["paper_scan"]["sha256"] == hashlib.sha256(scan).hexdigest()
    assert exported["signatures"][0]["channel"] == "paper"
