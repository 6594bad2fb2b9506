"""Telecare's event hooks other plugins observe (hookspecs.py): a patient's message received (an
answer, or the first message of a conversation they started), a session started (the patient
admitted) and ended — called in the same transaction, only for plugins the clinic enabled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from telecare_world import make_world, owner_principal
from test_telecare_messaging import NOFILE, _open_as_patient, _start

from carnet_core.plugin_api import hookimpl, utcnow
from carnet_core.testing import wait_for_jobs

from carnet_telecare.models import Session
from carnet_telecare.services import sessions


class Observer:
    def __init__(self):
        self.seen: list[tuple] = []

    @hookimpl(optionalhook=True)
    def telecare_message_received(self, message, conversation, db):
        self.seen.append(("message", message.author, conversation.id, db.clinic_id))

    @hookimpl(optionalhook=True)
    def telecare_session_started(self, session, db):
        self.seen.append(("started", session.id, session.status))

    @hookimpl(optionalhook=True)
    def telecare_session_ended(self, session, db):
        self.seen.append(("ended", session.id, session.status))


OBSERVER = Observer()


@pytest.fixture
def inline_plugins(inline_plugins):
    OBSERVER.seen.clear()
    inline_plugins.add("observer", OBSERVER)
    return inline_plugins


def test_hook_telecare_message_received(app, client, login_as, carnet_db, make_clinic, staff, carnet_settings,
                                        jobs_worker):
    world = make_world(carnet_db, make_clinic, staff, plugins=("scheduling", "telecare", "observer"))
    login_as(client, world.owner)
    assert _start(client, world.patient).status_code == 303  # the practice's message: not an event
    wait_for_jobs(jobs_worker)
    patient, path, opened, token = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        assert patient.post(f"{path}/answer", data={"_csrf_token": token, "body": "Merci"}, files=NOFILE,
                            follow_redirects=False).status_code == 303
        refused = patient.post(f"{path}/answer", data={"_csrf_token": token, "body": ""}, files=NOFILE)
        assert refused.status_code == 422  # refused: nothing written, nobody told
    finally:
        patient.__exit__(None, None, None)
    assert [s[:2] for s in OBSERVER.seen] == [("message", "patient")]
    assert OBSERVER.seen[0][3] == world.clinic.id


def _waiting(db, world):
    start = utcnow().replace(second=0, microsecond=0)
    session = Session(patient_id=world.patient, practitioner_id=world.owner.id, starts_at=start,
                      ends_at=start + timedelta(minutes=30), status="waiting")
    db.add(session)
    db.flush()
    sessions.add_event(db, session, "joined", "tests")
    return session


def test_hook_telecare_session_started_and_ended(carnet_db, make_clinic, staff, plugin_host):
    world = make_world(carnet_db, make_clinic, staff, plugins=("scheduling", "telecare", "observer"))
    owner = owner_principal(world.clinic.id, world.owner.id)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        told, untold = _waiting(db, world), _waiting(db, world)
        hooks = plugin_host.for_clinic({"scheduling", "telecare", "observer"})
        sessions.admit(db, owner, plugin_host, told.id, not_initial=True, act="ortho_reeducation", hooks=hooks)
        sessions.end(db, owner, told.id, hooks=hooks)
        sessions.end(db, owner, told.id, hooks=hooks)  # already ended: not again
        quiet = plugin_host.for_clinic({"scheduling", "telecare"})  # the observer not enabled: not called
        sessions.admit(db, owner, plugin_host, untold.id, not_initial=True, act="ortho_reeducation", hooks=quiet)
        sessions.end(db, owner, untold.id, hooks=quiet)
    assert OBSERVER.seen == [("started", told.id, "started"), ("ended", told.id, "ended")]
