"""Answer templates: each member keeps their own, owners and the secretariat the practice's; title
and text sealed; one is inserted into a reply on the conversation page (htmx gets the form alone,
without JavaScript the page comes back), after what was already typed; another person's template
is a 404 everywhere; bad input comes back with its French message and writes nothing."""

from __future__ import annotations

from html import unescape
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlmodel import select
from telecare_world import make_world
from test_telecare_messaging import NOFILE, _start

from carnet_core.plugin_api import open_
from carnet_core.testing import AuditRecord

from carnet_telecare.models import Conversation, Message, Template

SECRET = "Exercices-de-deglutition-Canari-4412"


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    return make_world(carnet_db, make_clinic, staff)


def _templates(carnet_db, clinic_id):
    with carnet_db.session(clinic_id=clinic_id) as db:
        return [(t.user_id, open_(db, t, "title"), open_(db, t, "body")) for t in db.exec(select(Template))]


def test_a_practitioner_keeps_a_sealed_template_and_inserts_it_after_what_they_typed(
        client, login_as, world, carnet_db):
    login_as(client, world.owner)
    created = client.post("/telecare/templates", data={"title": "Exercices", "body": f"Faites les {SECRET}."},
                          follow_redirects=False)
    assert created.status_code == 303
    assert _templates(carnet_db, world.clinic.id) == [(world.owner.id, "Exercices", f"Faites les {SECRET}.")]
    listed = unescape(client.get("/telecare/templates").text)
    assert "Modèles de réponse" in listed and SECRET in listed
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        template_id = db.exec(select(Template.id)).one()
        assert db.exec(select(AuditRecord).where(AuditRecord.resource_type == "telecare_template",
                                                 AuditRecord.action == "create")).first() is not None
    database = Path(str(carnet_db.engine.url.database or ""))
    if database.is_file():  # sealed at rest
        raw = database.read_bytes() + (Path(f"{database}-wal").read_bytes() if Path(f"{database}-wal").exists() else b"")
        assert SECRET.encode() not in raw
    # the conversation page offers it; htmx gets the answer form back with the text after the draft
    assert _start(client, world.patient).status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        conversation_id = db.exec(select(Conversation.id)).one()
    shown = unescape(client.get(f"/telecare/conversations/{conversation_id}").text)
    assert "Insérer un modèle" in shown and f'<option value="{template_id}"' in shown
    swapped = client.post(f"/telecare/conversations/{conversation_id}/reply", headers={"HX-Request": "true"},
                          data={"template": str(template_id), "body": "Bonjour,"}, files=NOFILE)
    assert swapped.status_code == 200
    text = unescape(swapped.text)
    assert text.lstrip().startswith('<form method="post" action="/telecare/conversations/')
    assert f"Bonjour,\n\nFaites les {SECRET}.</textarea>" in text and "<html" not in text
    # without JavaScript the whole page comes back, the text in the box
    full = unescape(client.post(f"/telecare/conversations/{conversation_id}/reply",
                                data={"template": str(template_id), "body": ""}, files=NOFILE).text)
    assert "<html" in full and f">Faites les {SECRET}.</textarea>" in full
    with carnet_db.session(clinic_id=world.clinic.id) as db:  # inserting sends nothing
        assert len(db.exec(select(Message)).all()) == 1


def test_changing_and_deleting_a_template(client, login_as, world, carnet_db):
    login_as(client, world.owner)
    client.post("/telecare/templates", data={"title": "Absence", "body": "Je suis absente."})
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        template_id = db.exec(select(Template.id)).one()
    assert "Je suis absente." in unescape(client.get(f"/telecare/templates/{template_id}").text)
    changed = client.post(f"/telecare/templates/{template_id}", data={"title": "Absence", "body": "De retour lundi."},
                          follow_redirects=False)
    assert changed.status_code == 303
    assert _templates(carnet_db, world.clinic.id) == [(world.owner.id, "Absence", "De retour lundi.")]
    refused = client.post(f"/telecare/templates/{template_id}", data={"title": "", "body": "a\x00b"})
    assert refused.status_code == 422
    assert _templates(carnet_db, world.clinic.id) == [(world.owner.id, "Absence", "De retour lundi.")]
    assert client.post(f"/telecare/templates/{template_id}/delete", follow_redirects=False).status_code == 303
    assert _templates(carnet_db, world.clinic.id) == []


def test_bad_templates_are_refused_with_their_message_and_nothing_is_written(client, login_as, world, carnet_db):
    login_as(client, world.practitioner)
    refused = client.post("/telecare/templates", data={"title": "", "body": "x" * 5001})
    assert refused.status_code == 422
    text = unescape(refused.text)
    assert "écrivez un message" in text and "5000 caractères au plus" in text
    bidi = client.post("/telecare/templates", data={"title": "Titre\u202e", "body": "Texte"})
    assert bidi.status_code == 422
    # a practitioner does not keep the practice's templates
    shared = client.post("/telecare/templates", data={"title": "Horaires", "body": "Le cabinet ouvre à 9 h.",
                                                      "shared": "1"})
    assert shared.status_code == 422 and "secrétariat" in unescape(shared.text)
    assert _templates(carnet_db, world.clinic.id) == []


def test_another_persons_template_is_not_found_and_the_practices_are_offered_to_all(
        app, client, login_as, world, carnet_db):
    login_as(client, world.owner)
    client.post("/telecare/templates", data={"title": "Le mien", "body": "Texte de la titulaire."})
    assert _start(client, world.patient).status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        mine = db.exec(select(Template.id)).one()
        conversation_id = db.exec(select(Conversation.id)).one()
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as secretary:
        login_as(secretary, world.secretary)
        assert secretary.post("/telecare/templates", data={"title": "Horaires", "body": "Le cabinet ouvre à 9 h.",
                                                           "shared": "1"}, follow_redirects=False).status_code == 303
        assert secretary.get(f"/telecare/templates/{mine}").status_code == 404
        assert secretary.post(f"/telecare/templates/{mine}/delete").status_code == 404
        # a clinical conversation stays closed to the secretary, template or not
        assert secretary.post(f"/telecare/conversations/{conversation_id}/reply",
                              data={"template": str(mine), "body": ""}, files=NOFILE).status_code == 404
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        shared = db.exec(select(Template).where(Template.user_id.is_(None))).one().id  # type: ignore[union-attr]
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as colleague:
        login_as(colleague, world.practitioner)
        listed = unescape(colleague.get("/telecare/templates").text)
        assert "Horaires" in listed and "Le mien" not in listed
        assert colleague.get(f"/telecare/templates/{shared}").status_code == 404  # offered, not theirs to change
        assert colleague.post(f"/telecare/templates/{mine}", data={"title": "x", "body": "y"}).status_code == 404
    # the owner inserts the practice's template; another person's own is a 404
    inserted = client.post(f"/telecare/conversations/{conversation_id}/reply", headers={"HX-Request": "true"},
                           data={"template": str(shared), "body": ""}, files=NOFILE)
    assert inserted.status_code == 200 and "Le cabinet ouvre à 9 h." in unescape(inserted.text)
    missing = client.post(f"/telecare/conversations/{conversation_id}/reply", headers={"HX-Request": "true"},
                          data={"template": "", "body": "Brouillon"}, files=NOFILE)
    assert missing.status_code == 422 and "Brouillon</textarea>" in missing.text
    assert "choisissez un modèle" in unescape(missing.text)
    assert len(_templates(carnet_db, world.clinic.id)) == 2
