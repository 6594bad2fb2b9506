"""The home page's consent panel (issue 13): how many forms sent are still waiting for a
signature, with a link to the consent page; a number, never a name."""

from __future__ import annotations

import re

from consent_world import owner_principal
from sqlmodel import select

from carnet_consent.models import Request
from carnet_consent.services import signing


def _panel(html: str) -> str:
    match = re.search(r'<h2 id="home-panel-\d+">Consentements</h2>(.*?)</section>', html, re.S)
    return match.group(1) if match else ""


def test_home_counts_the_forms_waiting_for_signature_for_every_member(world, carnet_db, client, login_as):
    login_as(client, world.secretary)
    panel = _panel(client.get("/").text)
    assert "Aucun formulaire en attente de signature." in panel and 'href="/consent/"' in panel
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        who = owner_principal(world.clinic.id, world.owner.id)
        for patient in (world.adult, world.minor):
            signing.send(db, who, world.forms["care"], patient)
        assert len(list(db.exec(select(Request).where(Request.status == "pending")))) == 2
    for member in (world.secretary, world.practitioner):
        client.post("/logout")
        login_as(client, member)
        panel = _panel(client.get("/").text)
        assert "<strong>2</strong> formulaires en attente de signature" in panel
        assert "Lefèvre".upper() not in panel and "GARNIER" not in panel
