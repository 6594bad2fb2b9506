"""The owners' retention page (confirm a destruction batch, legal holds, rules, the register) and
the operator page (backups and their restore test, retention ahead, jobs in progress), in French."""

from __future__ import annotations

from datetime import date

import pytest
from example_plugin import plugin as example
from sqlmodel import select

from carnet_core.retention import services as retention


@pytest.fixture
def inline_plugins(inline_plugins):
    return example.install(inline_plugins)


def _register(carnet_db, clinic, last_name):
    from carnet_core.plugin_api import Principal, patient_access

    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        registrar = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
        return patient_access(db, registrar).register({"last_name": last_name, "first_name": "Élodie",
                                                       "birth_date": "1960-02-03"})


@pytest.fixture
def due(carnet_db, clinic, plugin_host):
    """Two records whose last care (the example module) was in 1990: due for destruction."""
    ids = [_register(carnet_db, clinic, "Ancien"), _register(carnet_db, clinic, "Vieux")]
    example.LAST_CARE[clinic.slug] = {pid: date(1990, 5, 4) for pid in ids}
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "job:core.retention_daily"
        assert retention.run_daily(db, plugin_host, clinic, retention.clinic_today(clinic)) == (2, 2, 0)
    return ids


def test_an_owner_confirms_a_destruction_batch_only_with_the_box_ticked(client, staff, login_as, carnet_db,
                                                                         clinic, due):
    from carnet_core.patients.models import Patient
    from carnet_core.retention.models import DestructionEntry

    owner = staff("owner", email="owner@cabinet.test")
    token = login_as(client, owner, send_csrf=False)
    shown = client.get("/settings/retention")
    assert shown.status_code == 200
    assert "À détruire" in shown.text and "Ancien Élodie" in shown.text and 'class="table-wrap"' in shown.text
    with carnet_db.session(clinic_id=clinic.id) as db:
        proposals = [p.id for p in retention.open_proposals(db)]
    refused = client.post("/settings/retention/destroy", data={"_csrf_token": token, "proposal": proposals})
    assert refused.status_code == 422 and "Cochez la case pour confirmer la destruction." in refused.text
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert all(db.get(Patient, pid).erased_at is None for pid in due)
    done = client.post("/settings/retention/destroy", data={"_csrf_token": token, "proposal": proposals[:1],
                                                            "confirm": "1"}, follow_redirects=False)
    assert done.status_code == 303
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.get(Patient, due[0]).erased_at is not None and db.get(Patient, due[1]).erased_at is None
        assert [(e.patients, e.confirmed_by) for e in db.exec(select(DestructionEntry))] == [(1, owner.id)]
    page = client.get("/settings/retention").text
    assert "Registre des destructions" in page and "Après les derniers soins" in page


def test_a_legal_hold_from_the_page_withdraws_the_proposal(client, staff, login_as, carnet_db, clinic, due):
    owner = staff("owner", email="owner@cabinet.test")
    token = login_as(client, owner, send_csrf=False)
    bad = client.post("/settings/retention/holds", data={"_csrf_token": token, "patient_id": due[1], "reason": "?"})
    assert bad.status_code == 422 and "Choisissez un motif dans la liste." in bad.text
    placed = client.post("/settings/retention/holds", data={"_csrf_token": token, "patient_id": due[1],
                                                            "reason": "litigation"}, follow_redirects=False)
    assert placed.status_code == 303
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert [p.patient_id for p in retention.open_proposals(db)] == [due[0]]
        hold = retention.active_holds(db)[0]
    assert "Litige ou réclamation en cours" in client.get("/settings/retention").text
    released = client.post(f"/settings/retention/holds/{hold.id}/release", data={"_csrf_token": token},
                           follow_redirects=False)
    assert released.status_code == 303
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert retention.active_holds(db) == []


def test_rules_form_refuses_values_below_the_law_in_french(client, staff, login_as, carnet_db, clinic):
    owner = staff("owner", email="owner@cabinet.test")
    token = login_as(client, owner, send_csrf=False)
    bad = client.post("/settings/retention/rules", data={
        "_csrf_token": token, "archive_after_years": "5", "destroy_after_years": "12", "minor_until_age": "28",
        "invoice_years": "abc"})
    assert bad.status_code == 422
    assert "Entre 20 et 40." in bad.text and "Indiquez un nombre entier d’années." in bad.text
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert retention.rules_of(db).id is None  # nothing written


def test_the_operator_page_shows_the_last_backup_its_restore_test_and_retention_ahead(
    client, staff, login_as, carnet_db, clinic, due
):
    from carnet_core.backup.models import BackupRun
    from carnet_core.db.base import utcnow

    owner = staff("owner", email="owner@cabinet.test")
    login_as(client, owner, send_csrf=False)
    empty = client.get("/operator").text
    assert "Aucune sauvegarde pour l" in empty and "lancez `carnet backup`" in empty
    with carnet_db.session(unscoped=True) as db:
        db.add(BackupRun(name="carnet-backup-x", database="sqlite", size_bytes=2_097_152, manifest_sha256="0" * 64,
                         trigger="job", restore_tested_at=utcnow(), restore_test_ok=True))
    page = client.get("/operator").text
    assert "Dernière sauvegarde" in page and "Dernier test de restauration" in page and "réussi" in page
    assert "2 dossiers attendent votre confirmation." in page and 'class="table-wrap"' in page
    assert client.get("/operator").status_code == 200


def test_an_archived_record_opens_only_with_a_recorded_reason(client, staff, login_as, carnet_db, clinic, due):
    from carnet_core.audit.models import AuditRecord

    owner = staff("owner", email="owner@cabinet.test")
    token = login_as(client, owner, send_csrf=False)
    gate = client.get(f"/patients/{due[0]}")
    assert gate.status_code == 200 and "Dossier archivé" in gate.text
    assert "ANCIEN" not in gate.text.upper()  # nothing of the record before the reason
    with carnet_db.session(clinic_id=clinic.id) as db:
        opened = db.exec(select(AuditRecord).where(AuditRecord.patient_id == due[0],
                                                   AuditRecord.actor_user_id == owner.id)).all()
    assert opened == []
    bad = client.post(f"/patients/{due[0]}/archive-access", data={"_csrf_token": token, "reason": "curiosity"})
    assert bad.status_code == 422 and "Choisissez un motif dans la liste." in bad.text
    done = client.post(f"/patients/{due[0]}/archive-access", data={"_csrf_token": token,
                                                                   "reason": "patient_request"},
                       follow_redirects=False)
    assert done.status_code == 303
    shown = client.get(f"/patients/{due[0]}")
    assert "ANCIEN Élodie" in shown.text
    with carnet_db.session(clinic_id=clinic.id) as db:
        reasons = [r.details for r in db.exec(select(AuditRecord).where(
            AuditRecord.patient_id == due[0], AuditRecord.action == "read_archived"))]
    assert len(reasons) == 1 and "patient_request" in str(reasons[0])
    assert "Dossier archivé" in client.get(f"/patients/{due[1]}").text  # another archived record: its own reason


def test_through_the_api_an_archived_record_answers_403_until_a_reason_is_recorded(
        client, staff, login_as, carnet_db, clinic, due):
    from carnet_core.audit.models import AuditRecord

    owner = staff("owner", email="owner@cabinet.test")
    login_as(client, owner)
    gate = client.get(f"/api/v1/patients/{due[0]}")
    assert gate.status_code == 403 and gate.json()["errors"]["code"] == "archived"
    assert "continuity_of_care" in gate.json()["errors"]["reasons"]
    assert "ANCIEN" not in gate.text.upper()  # nothing of the record before the reason
    assert client.patch(f"/api/v1/patients/{due[0]}", json={"phone": None}).status_code == 403
    bad = client.post(f"/api/v1/patients/{due[0]}/archive-access", json={"reason": "curiosity"})
    assert bad.status_code == 400
    missing = client.post("/api/v1/patients/999999/archive-access", json={"reason": "patient_request"})
    assert missing.status_code == 404
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.exec(select(AuditRecord).where(AuditRecord.action == "read_archived")).all() == []
    done = client.post(f"/api/v1/patients/{due[0]}/archive-access", json={"reason": "continuity_of_care"})
    assert done.status_code == 204
    shown = client.get(f"/api/v1/patients/{due[0]}")
    assert shown.status_code == 200 and shown.json()["last_name"] == "Ancien" and shown.json()["archived"] is True
    assert client.get(f"/api/v1/patients/{due[1]}").status_code == 403  # another record: its own reason
    with carnet_db.session(clinic_id=clinic.id) as db:
        (record,) = db.exec(select(AuditRecord).where(AuditRecord.action == "read_archived")).all()
    assert record.patient_id == due[0] and record.actor_user_id == owner.id
    assert "continuity_of_care" in record.details
