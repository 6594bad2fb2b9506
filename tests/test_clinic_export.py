"""The full clinic export (issue 12): every module through `export_clinic_data` (disabled and
third-party plugins too), open formats with a manifest, FHIR R4 resources valid against the
structure, encryption for its recipient (a canary never in clear), the job with its progress, one
download only, audited."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from example_plugin import plugin as example
from sqlmodel import select

from carnet_core.export.services import ExportError

PASSPHRASE = "une phrase de passe assez longue"
CANARY = {"last_name": "Zyxwvkanari", "first_name": "Qoppatest", "email": "canari.qoppa@exemple.fr",
          "address": "17 impasse Xylocanari"}


@pytest.fixture
def inline_plugins(inline_plugins):
    return example.install(inline_plugins)


def _demo(carnet_db, carnet_settings):
    from click.testing import CliRunner

    from carnet_core.cli import main
    from carnet_core.clinics.services import get_clinic_by_slug

    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url,
           "CARNET_TESTING": "1", "CARNET_PASSWORD_HASH_MEMORY_KIB": "1024"}
    done = CliRunner().invoke(main, ["demo"], env=env)
    assert done.exit_code == 0, done.output
    with carnet_db.session(unscoped=True) as db:
        return get_clinic_by_slug(db, "cabinet-des-tilleuls")


def _disable(carnet_db, clinic, plugin_host, plugin):
    from carnet_core.clinics.services import set_plugin_enabled

    with carnet_db.session(clinic_id=clinic.id) as db:
        assert set_plugin_enabled(db, clinic.id, plugin, False, plugin_host.names)
        db.commit()


def _register(carnet_db, clinic, **fields):
    from carnet_core.plugin_api import Principal, patient_access

    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        registrar = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
        pid = patient_access(db, registrar).register(fields)
        db.commit()
        return pid


def _archive(carnet_db, plugin_host, clinic):
    from carnet_core.export.services import write_archive

    out = io.BytesIO()
    steps = []
    with carnet_db.session(clinic_id=clinic.id) as db:
        manifest = write_archive(db, plugin_host, clinic, out, lambda *step: steps.append(step))
    return zipfile.ZipFile(io.BytesIO(out.getvalue())), manifest, steps


def _lines(archive, path):
    return [json.loads(line) for line in archive.read(path).decode("utf-8").splitlines()]


def test_hook_export_clinic_data_reaches_disabled_and_third_party_modules(carnet_db, carnet_settings, plugin_host):
    clinic = _demo(carnet_db, carnet_settings)
    _disable(carnet_db, clinic, plugin_host, "billing")
    _disable(carnet_db, clinic, plugin_host, "example")
    archive, manifest, steps = _archive(carnet_db, plugin_host, clinic)
    assert example.SEEN["clinic_exported"] == [clinic.slug]
    names = set(archive.namelist())
    # the disabled module's notes and the third-party plugin's records are in it
    assert {"billing/note.jsonl", "billing/note_line.jsonl", "example/greeting.jsonl", "telecare/message.jsonl"} <= names
    assert _lines(archive, "example/greeting.jsonl") == [{"id": 1, "text": "bonjour"}, {"id": 2, "text": "au revoir"}]
    assert {"core/patient.jsonl", "core/user.jsonl", "scheduling/appointment.jsonl", "scheduling/series.jsonl",
            "consent/signature.jsonl", "csv/scheduling-agenda.csv", "csv/billing-notes.csv",
            "fhir/Patient.ndjson", "fhir/Appointment.ndjson"} <= names
    assert set(manifest["sources"]) == {"core", "scheduling", "billing", "consent", "telecare", "example"}
    # the manifest lists every file but itself, with its records, size and SHA-256
    assert {f["path"] for f in manifest["files"]} == names - {"manifest.json"}
    for entry in manifest["files"]:
        content = archive.read(entry["path"])
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
        assert len(content) == entry["size"]
    on_disk = json.loads(archive.read("manifest.json"))
    assert on_disk["format"] == "carnet-clinic-export/1" and on_disk["files"] == manifest["files"]
    # notes keep their numbers and their hash chain as stored
    notes = [n for n in _lines(archive, "billing/note.jsonl") if n["number"]]
    assert notes and all(n["chain_hash"] for n in notes if n["status"] != "draft")
    # no secret leaves: password hashes, second factors, calendar-feed tokens
    users = _lines(archive, "core/user.jsonl")
    assert users and all(set(u) == {"id", "email", "display_name", "rpps", "adeli", "disabled", "created_at"}
                         for u in users)
    text = b"".join(archive.read(n) for n in names)
    assert b"argon2" not in text and b"token_hash" not in text
    # progress: one step per source, then the encryption
    assert [s[0] for s in steps if s[3] == 0 or s[0] == "encrypt"][-1] == "encrypt"
    assert steps[-1][1:3] == (6, 6)


def test_fhir_resources_are_valid_r4(carnet_db, carnet_settings, plugin_host):
    from fhir.resources.R4B import get_fhir_model_class

    clinic = _demo(carnet_db, carnet_settings)
    archive, _manifest, _ = _archive(carnet_db, plugin_host, clinic)
    patients = _lines(archive, "core/patient.jsonl")
    counts = {}
    for name in archive.namelist():
        if not name.startswith("fhir/"):
            continue
        for resource in _lines(archive, name):
            model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)  # raises if invalid
            assert model.id == resource["id"]
            counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1
    assert counts["Patient"] == len([p for p in patients if p["erased_at"] is None])
    assert counts["RelatedPerson"] >= 1 and counts["Appointment"] >= 10
    first = next(p for p in _lines(archive, "fhir/Patient.ndjson") if p["id"] == f"patient-{patients[0]['id']}")
    assert first["name"][0]["family"] == patients[0]["last_name"]
    assert first["birthDate"] == patients[0]["birth_date"]


def test_a_resource_outside_the_r4_structure_is_refused():
    from carnet_core.export.fhir import FhirInvalid, checked

    with pytest.raises(FhirInvalid, match="birthDate"):
        checked({"resourceType": "Patient", "id": "patient-1", "birthDate": "le 3 mars"})
    with pytest.raises(FhirInvalid, match="nickname"):
        checked({"resourceType": "Patient", "id": "patient-1", "nickname": "Lulu"})
    with pytest.raises(FhirInvalid):
        checked({"resourceType": "Observation", "id": "x"})


def test_a_canary_patient_is_never_in_clear_in_the_encrypted_file_and_is_in_the_decrypted_one(
        carnet_db, carnet_settings, plugin_host, make_clinic):
    from carnet_core.export.models import READY, ClinicExport
    from carnet_core.export.services import decrypt_to, exports_dir, recipient_for, request_export, run_export

    clinic = make_clinic("canari", plugins=["scheduling", "billing", "consent"])
    _register(carnet_db, clinic, birth_date="2016-04-02", **CANARY)
    with carnet_db.session(clinic_id=clinic.id) as db:
        row = request_export(db, "system:tests", clinic, recipient_for(passphrase=PASSPHRASE), requested_by=None)
        db.commit()
        export_id = row.id
    done = run_export(carnet_settings, plugin_host, carnet_db, clinic.id, export_id)
    assert done.status == READY and done.records > 0
    path = exports_dir(carnet_settings) / done.file_name
    raw = path.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == done.sha256
    for value in CANARY.values():
        for form in (value.encode(), value.upper().encode(), value.encode("utf-16-le")):
            assert form not in raw
    with pytest.raises(ExportError, match="passphrase"):
        decrypt_to(path, io.BytesIO(), passphrase="pas la bonne phrase")
    plain = io.BytesIO()
    decrypt_to(path, plain, passphrase=PASSPHRASE)
    archive = zipfile.ZipFile(plain)
    content = b"".join(archive.read(n) for n in archive.namelist())
    for value in CANARY.values():
        assert value.encode() in content
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.get(ClinicExport, export_id).phase == "done"


def test_an_export_for_an_age_key_opens_with_its_identity_only():
    import pyrage

    from carnet_core.export.services import recipient_for

    identity = pyrage.x25519.Identity.generate()
    recipient = recipient_for(age_recipient=str(identity.to_public()))
    assert recipient.wrapped_identity is None and recipient.public == str(identity.to_public())
    with pytest.raises(ExportError, match="age public key"):
        recipient_for(age_recipient="age1pasunecle")
    with pytest.raises(ExportError, match="12 characters"):
        recipient_for(passphrase="court")
    with pytest.raises(ExportError, match="either"):
        recipient_for()


def test_the_job_writes_the_export_with_its_progress_and_it_downloads_once(
        jobs_worker, carnet_settings, make_clinic):
    from datetime import timedelta

    from carnet_core.audit.models import AuditRecord
    from carnet_core.db.base import utcnow
    from carnet_core.export.models import DOWNLOADED, EXPIRED, ClinicExport
    from carnet_core.export.services import recipient_for, request_export, take_download
    from carnet_core.jobs.testing import wait_for_jobs

    db_ = jobs_worker.db
    clinic = make_clinic("job", plugins=["scheduling"])
    _register(db_, clinic, **CANARY)
    with db_.session(clinic_id=clinic.id) as db:
        first = request_export(db, "system:tests", clinic, recipient_for(passphrase=PASSPHRASE), requested_by=None)
        second = request_export(db, "system:tests", clinic, recipient_for(passphrase=PASSPHRASE), requested_by=None)
        db.commit()
        ids = first.id, second.id
    wait_for_jobs(jobs_worker, timeout=60)
    with db_.session(clinic_id=clinic.id) as db:
        rows = [db.get(ClinicExport, i) for i in ids]
        assert [r.status for r in rows] == ["ready", "ready"]
        assert all(r.phases_done == r.phases_total == 6 and r.records > 0 for r in rows)
        path = take_download(carnet_settings, db, "system:tests", rows[0], user_id=None)
        assert path.exists()
        assert rows[0].status == DOWNLOADED
        with pytest.raises(ExportError, match="already downloaded"):
            take_download(carnet_settings, db, "system:tests", rows[0], user_id=None)
        rows[1].expires_at = utcnow() - timedelta(seconds=1)
        expired_file = path.with_name(rows[1].file_name)
        with pytest.raises(ExportError, match="expired"):
            take_download(carnet_settings, db, "system:tests", rows[1], user_id=None)
        assert rows[1].status == EXPIRED and not expired_file.exists()
        db.commit()
        actions = db.exec(select(AuditRecord.action).where(AuditRecord.resource_type == "clinic_export")).all()
    assert sorted(actions) == ["download", "export", "export", "request", "request"]


def test_an_owner_asks_for_an_export_on_the_page_follows_it_and_downloads_it_once(
        client, staff, login_as, carnet_db, carnet_settings, plugin_host, clinic):
    from carnet_core.export.models import ClinicExport
    from carnet_core.export.services import run_export
    from carnet_core.jobs.models import OutboxMessage

    _register(carnet_db, clinic, **CANARY)
    owner = staff("owner", email="owner@cabinet.test")
    token = login_as(client, owner, send_csrf=False)
    shown = client.get("/settings/export")
    assert shown.status_code == 200 and "Exporter le cabinet" in shown.text and "Aucun export" in shown.text
    differ = client.post("/settings/export", data={"_csrf_token": token, "mode": "passphrase",
                                                   "passphrase": PASSPHRASE, "passphrase_again": PASSPHRASE + "x"})
    assert differ.status_code == 422 and "Les deux phrases de passe diffèrent." in differ.text
    assert PASSPHRASE not in differ.text
    bad_key = client.post("/settings/export", data={"_csrf_token": token, "mode": "age", "age_recipient": "age1xyz"})
    assert bad_key.status_code == 422 and "pas une clé publique age" in bad_key.text
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.exec(select(ClinicExport)).all() == []  # refused: nothing recorded, nothing queued
    asked = client.post("/settings/export", data={"_csrf_token": token, "mode": "passphrase",
                                                  "passphrase": PASSPHRASE, "passphrase_again": PASSPHRASE},
                        follow_redirects=False)
    assert asked.status_code == 303
    with carnet_db.session(clinic_id=clinic.id) as db:
        row = db.exec(select(ClinicExport)).one()
        assert row.status == "queued" and row.requested_by == owner.id and row.wrapped_identity
        job = db.exec(select(OutboxMessage).where(OutboxMessage.actor == "core.export_clinic")).one()
        assert json.loads(job.args) == [row.id] and PASSPHRASE not in job.args + job.kwargs
    waiting = client.get("/settings/export", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 2s"' in waiting.text and "en attente" in waiting.text
    run_export(carnet_settings, plugin_host, carnet_db, clinic.id, row.id)
    ready = client.get("/settings/export")
    assert "Télécharger (une seule fois)" in ready.text and "every 2s" not in ready.text
    got = client.post(f"/settings/export/{row.id}/download", data={"_csrf_token": token})
    assert got.status_code == 200 and got.headers["content-disposition"].startswith("attachment")
    assert got.headers["cache-control"] == "no-store"
    plain = io.BytesIO()
    path = carnet_settings.home / "exports" / "downloaded.carnet-export"
    path.write_bytes(got.content)
    from carnet_core.export.services import decrypt_to

    decrypt_to(path, plain, passphrase=PASSPHRASE)
    assert CANARY["last_name"].encode() in zipfile.ZipFile(plain).read("core/patient.jsonl")
    with carnet_db.session(clinic_id=clinic.id) as db:
        sent = db.get(ClinicExport, row.id)
        assert sent.status == "downloaded" and sent.downloaded_by == owner.id
    assert not (carnet_settings.home / "exports" / sent.file_name).exists()  # deleted once sent
    again = client.post(f"/settings/export/{row.id}/download", data={"_csrf_token": token})
    assert again.status_code == 410 and "ne peut plus être téléchargé" in again.text


@pytest.mark.parametrize("roles", ["secretary", "practitioner"])
def test_a_secretary_or_practitioner_cannot_export_the_clinic(client, staff, login_as, roles):
    person = staff(roles, email=f"{roles}@cabinet.test")
    token = login_as(client, person, send_csrf=False)
    assert client.get("/settings/export").status_code == 403
    assert client.post("/settings/export", data={"_csrf_token": token, "mode": "passphrase",
                                                 "passphrase": PASSPHRASE,
                                                 "passphrase_again": PASSPHRASE}).status_code == 403


def test_every_table_of_every_plugin_is_in_its_export():
    """A new table must be added to its plugin's export (models(), parents first)."""
    from sqlmodel import SQLModel

    import carnet_core.models  # noqa: F401  (every core table in the metadata)
    from carnet_billing.services import archive as billing
    from carnet_consent.services import archive as consent
    from carnet_scheduling.services import archive as scheduling
    from carnet_telecare.services import archive as telecare

    for name, module in (("scheduling", scheduling), ("billing", billing), ("consent", consent),
                         ("telecare", telecare)):
        exported = [m.__tablename__ for m in module.models()]
        tables = {t for t in SQLModel.metadata.tables if t.startswith(f"{name}_")}
        assert set(exported) == tables, name
        assert len(exported) == len(set(exported))


def test_an_export_records_what_it_opened_as_it_goes_not_all_at_its_end(
        carnet_db, plugin_host, make_clinic, monkeypatch):
    """Memory stays flat: the values opened are traced batch by batch (in a transaction of their own),
    not held per patient until the export ends; every patient read is in the trail all the same."""
    from carnet_core.audit.models import AuditRecord
    from carnet_core.db.session import TRACE_OPENS
    from carnet_core.export import services

    monkeypatch.setattr(services, "TRACE_EVERY", 5)
    clinic = make_clinic("suivi", plugins=["scheduling"])
    ids = {_register(carnet_db, clinic, last_name=f"Suivi{i}", first_name="Léa") for i in range(12)}
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        services.write_archive(db, plugin_host, clinic, io.BytesIO())
        still_noted = {key[1] for key in (db.info.get(TRACE_OPENS) or {})}
        assert len(still_noted) < len(ids)  # most were recorded already
        with carnet_db.session(clinic_id=clinic.id) as other:  # committed apart, before this one ends
            written = set(other.exec(select(AuditRecord.patient_id).where(
                AuditRecord.action == "read", AuditRecord.resource_type == "core_patient")).all())
        assert written and written | still_noted >= ids
    with carnet_db.session(clinic_id=clinic.id) as db:
        reads = db.exec(select(AuditRecord).where(AuditRecord.action == "read",
                                                  AuditRecord.resource_type == "core_patient")).all()
    assert {r.patient_id for r in reads} >= ids
    assert all(json.loads(r.details)["trace"] == "open" for r in reads)
