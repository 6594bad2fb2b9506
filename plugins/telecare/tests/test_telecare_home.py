"""The home page's messaging panel (issue 13): patient messages not read yet and today's remote
sessions, a practitioner's own, the practice's for the owner and the secretary (administrative
conversations only for her); numbers and a link, never a name or a word of a message."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from telecare_world import CANARY, make_world

from carnet_core.plugin_api import Principal, utcnow

from carnet_telecare import permissions as perm
from carnet_telecare.controllers.panels import home_panel
from carnet_telecare.models import Session
from carnet_telecare.services import messaging


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    return make_world(carnet_db, make_clinic, staff)


def _panel(html: str) -> str:
    match = re.search(r'<h2 id="home-panel-\d+">Messagerie et télésoin</h2>(.*?)</section>', html, re.S)
    return match.group(1) if match else ""


def _conversation(db, world, kind: str, practitioner_id: int, unread: int) -> None:
    conversation, _first = messaging.open_conversation(db, world.patient, kind, "Sujet", "Bonjour",
                                                       None, world.owner.id, practitioner_id)
    for n in range(unread):
        messaging.store_patient_message(db, conversation, f"{CANARY} {n}", None, None)


def test_the_home_panel_counts_unread_patient_messages_and_todays_sessions_for_each_member(
        world, carnet_db, client, login_as):
    login_as(client, world.practitioner)
    panel = _panel(client.get("/").text)
    assert "Aucun message de patient non lu." in panel and "Aucune séance de télésoin aujourd’hui." in panel
    assert 'href="/telecare/"' in panel
    now = utcnow()
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        _conversation(db, world, "clinical", world.owner.id, unread=2)  # the owner's, clinical
        _conversation(db, world, "administrative", world.practitioner.id, unread=1)  # the practitioner's
        for who, starts in ((world.owner.id, now), (world.practitioner.id, now), (world.owner.id, now + timedelta(days=2))):
            db.add(Session(patient_id=world.patient, practitioner_id=who, starts_at=starts,
                           ends_at=starts + timedelta(minutes=30)))
        db.add(Session(patient_id=world.patient, practitioner_id=world.owner.id, starts_at=now,
                       ends_at=now + timedelta(minutes=30), status="cancelled"))
    expected = [(world.practitioner, "<strong>1</strong> <a href=\"/telecare/\">message de patient non lu</a>",
                                     "<strong>1</strong> séance de télésoin aujourd’hui"),
                (world.owner, "<strong>2</strong> <a href=\"/telecare/\">messages de patients non lus</a>",
                              "<strong>1</strong> séance de télésoin aujourd’hui"),
                (world.secretary, "<strong>1</strong> <a href=\"/telecare/\">message de patient non lu</a>",
                                  "<strong>2</strong> séances de télésoin aujourd’hui")]
    for member, messages, sessions in expected:
        client.post("/logout")
        login_as(client, member)
        panel = _panel(client.get("/").text)
        assert messages in panel and sessions in panel, (member.email, panel)
        assert CANARY not in panel and "LEFÈVRE" not in panel and "Sujet" not in panel


def test_the_panel_leaves_its_counting_to_core_once_the_member_may_see_it(world):
    # a member without telecare.view still gets the panel back: core drops it before counting
    # (db=None: nothing was queried to build it)
    nobody = Principal(kind="user", user_id=world.secretary.id, clinic_id=world.clinic.id,
                       roles=frozenset({"secretary"}), permissions=frozenset())
    panels = home_panel(world.clinic, nobody, None)
    assert [p.permission for p in panels] == [perm.VIEW]
