"""The module on core's contract: models and migrations agree; versions, signatures and decisions
cannot be changed in the database; the owner edits a form with a preview and publishes versions
with a content hash; a secretary sends forms and sees status; a clinic without the module sees
none of it; the API and its OpenAPI document; the patient's export and erasure (reaching the
module even when the clinic disabled it); Markdown rendered without script."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from consent_world import CANARY, owner_principal
from sqlmodel import select

from carnet_core.testing import AuditRecord, migrations

from carnet_consent.models import Decision, Request, Signature, Version
from carnet_consent.rendering import to_html
from carnet_consent.services import forms, signing
from carnet_consent.testing import sign_form


def test_models_and_migrations_agree(carnet_db, plugin_host):
    assert [migrations.describe(d) for d in migrations.drift(carnet_db, plugin_host)] == []


def test_published_versions_signatures_and_decisions_cannot_be_changed_in_the_database(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.adult, "telesoin")
    for table in ("consent_version", "consent_signature", "consent_decision"):
        for statement in (f"UPDATE {table} SET clinic_id = clinic_id", f"DELETE FROM {table}"):
            with pytest.raises(sa.exc.DBAPIError), carnet_db.session(clinic_id=world.clinic.id) as db:
                db.execute(sa.text(statement))
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert len(db.exec(select(Signature)).all()) == 1 and len(db.exec(select(Decision)).all()) == 1


def test_markdown_is_rendered_without_script_or_dangerous_links():
    html = str(to_html("# Titre\n\n**gras** <script>alert(1)</script> <img src=x onerror=alert(1)>\n\n"
                       "[a](javascript:alert(1)) [b](https://example.org)"))
    assert "<h2>Titre</h2>" in html and "<strong>gras</strong>" in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert 'href="https://example.org"' in html


def test_the_owner_previews_edits_and_publishes_a_new_version(client, world, login_as, carnet_db):
    token = login_as(client, world.owner)
    template_id = world.forms["sms_reminders"]
    page = client.get(f"/consent/forms/{template_id}")
    assert page.status_code == 200 and "Rappels de rendez-vous par SMS" in page.text
    form = {"_csrf_token": token, "title": "Rappels SMS", "body": "## Nouveau\n\n<script>x</script>Texte **revu**.",
            "signers": "one", "clauses": "sms_reminders: J'accepte les rappels par SMS."}
    preview = client.post(f"/consent/forms/{template_id}", data={**form, "action": "preview"})
    assert preview.status_code == 200 and "<strong>revu</strong>" in preview.text and "<script>x" not in preview.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert forms.get_template(db, template_id).title != "Rappels SMS"  # a preview saves nothing
    bad = client.post(f"/consent/forms/{template_id}", data={**form, "clauses": "pas de code", "action": "save"})
    assert bad.status_code == 422 and "ligne 1" in bad.text and 'value="Rappels SMS"' in bad.text
    done = client.post(f"/consent/forms/{template_id}", data={**form, "action": "publish"}, follow_redirects=False)
    assert done.status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        versions = forms.versions(db, template_id)
        assert [v.number for v in versions] == [2, 1]
        assert versions[0].content_hash == forms.content_hash(versions[0].title, versions[0].body,
                                                              versions[0].clauses, versions[0].signers)
        assert versions[0].content_hash != versions[1].content_hash
    again = client.post(f"/consent/forms/{template_id}", data={**form, "action": "publish"})
    assert again.status_code == 422 and "déjà la version publiée" in again.text


def test_a_secretary_sends_a_form_and_sees_status_but_cannot_edit_forms(client, world, login_as, carnet_db):
    token = login_as(client, world.secretary)
    assert client.get(f"/consent/forms/{world.forms['care']}").status_code == 403
    sent = client.post(f"/consent/patients/{world.minor}/send",
                       data={"_csrf_token": token, "template_id": str(world.forms["telesoin"])}, follow_redirects=False)
    assert sent.status_code == 303
    page = client.get(f"/consent/patients/{world.minor}")
    assert page.status_code == 200 and "Consentement au télésoin" in page.text
    assert "Camille Garnier" in page.text and "Thomas Garnier" in page.text and CANARY not in page.text
    twice = client.post(f"/consent/patients/{world.minor}/send",
                        data={"_csrf_token": token, "template_id": str(world.forms["telesoin"])})
    assert twice.status_code == 422 and "attend déjà une signature" in twice.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert len(db.exec(select(Request)).all()) == 1


def test_a_clinic_without_the_module_sees_none_of_it(client, make_clinic, staff, login_as, plugin_host):
    other = make_clinic("sans-module", plugins=[p for p in plugin_host.names if p != "consent"])
    owner = staff(("owner", "practitioner"), clinic=other)
    login_as(client, owner)
    assert client.get("/consent/").status_code == 404
    assert client.get("/api/v1/consent/forms").status_code == 404
    assert "/consent/" not in client.get("/patients").text
    assert client.get(f"/p/{other.slug}/consent/s/{'x' * 43}").status_code == 404


def test_the_api_lists_forms_sends_answers_the_question_and_records_withdrawals(client, world, login_as, carnet_db,
                                                                                 csrf_headers):
    login_as(client, world.owner)
    headers = csrf_headers(client)
    listed = client.get("/api/v1/consent/forms").json()
    assert {f["key"] for f in listed} >= {"information", "care", "telesoin", "recording", "sms_reminders"}
    assert all(len(f["version"]["content_hash"]) == 64 for f in listed)
    sent = client.post("/api/v1/consent/requests", json={"template_id": world.forms["telesoin"],
                                                         "patient_id": world.minor}, headers=headers)
    assert sent.status_code == 201 and sent.json()["rule"] == "both" and len(sent.json()["signers"]) == 2
    refused = client.post("/api/v1/consent/requests", json={"template_id": 999999, "patient_id": world.minor},
                          headers=headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "template_id"
    answer = client.get(f"/api/v1/consent/patients/{world.adult}/allows/telesoin").json()
    assert answer["allowed"] is False
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.adult, "telesoin")
    assert client.get(f"/api/v1/consent/patients/{world.adult}/allows/telesoin").json()["allowed"] is True
    withdrawn = client.post(f"/api/v1/consent/patients/{world.adult}/withdrawals", json={"purpose": "telesoin"},
                            headers=headers)
    assert withdrawn.status_code == 201 and withdrawn.json()["allowed"] is False
    assert client.get(f"/api/v1/consent/patients/{world.adult}/allows/telesoin").json()["allowed"] is False
    status = client.get(f"/api/v1/consent/patients/{world.adult}").json()
    assert status["decisions"] == [{**status["decisions"][0], "purpose": "telesoin", "allowed": False}]
    schema = client.get("/schema/openapi.json").json()
    assert "/api/v1/consent/requests" in schema["paths"]
    assert "/api/v1/consent/patients/{patient_id}/allows/{purpose}" in schema["paths"]


def test_the_patients_export_includes_consents_even_when_the_module_is_disabled_and_erasure_clears_contacts(
        client, world, login_as, carnet_db, plugin_host):
    from carnet_core.plugin_api import KeyDestroyed, open_

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.adult, "telesoin")
        signing.send(db, owner_principal(world.clinic.id, world.owner.id), world.forms["care"], world.adult)
    token = login_as(client, world.owner)
    client.post("/settings/modules/consent", data={"_csrf_token": token, "enabled": "0"})
    assert client.get("/consent/").status_code == 404  # disabled: invisible, data kept
    document = client.post(f"/patients/{world.adult}/export", data={"_csrf_token": token}).json()
    exported = document["plugins"]["consent"]
    signed = next(r for r in exported["requests"] if r["status"] == "complete")
    assert signed["form"] == "Consentement au télésoin" and len(signed["content_hash"]) == 64
    assert signed["signatures"][0]["answers"] == {"telesoin": True}
    assert exported["decisions"][0]["purpose"] == "telesoin"
    erased = client.post(f"/patients/{world.adult}/erase", data={"_csrf_token": token, "reason": "patient_request",
                                                                  "confirm_last_name": "Lefèvre"},
                         follow_redirects=False)
    assert erased.status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        requests = db.exec(select(Request).where(Request.patient_id == world.adult)).all()
        assert "pending" not in {r.status for r in requests}
        for sig in db.exec(select(Signature)).all():
            with pytest.raises(KeyDestroyed):  # the patient's key is gone: answers and evidence too
                open_(db, sig, "answers")
        assert db.exec(select(AuditRecord).where(AuditRecord.resource_type == "consent_request",
                                                 AuditRecord.action == "cancel")).first() is not None


def test_versions_keep_the_exact_text_signed(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.adult, "care")
        template = forms.get_template(db, world.forms["care"])
        forms.save_draft(db, template.id, {"title": template.title, "body": "Texte modifié.",
                                           "signers": template.signers, "clauses": json.loads(template.clauses)})
        forms.publish(db, template.id, world.owner.id)
        signature = db.exec(select(Signature)).one()
        version = db.get(Version, signature.version_id)
        assert version.number == 1 and "projet thérapeutique" in version.body
        assert signature.version_hash == version.content_hash
