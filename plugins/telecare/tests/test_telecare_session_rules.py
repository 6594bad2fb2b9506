"""The profession's excluded acts refuse a session with their reason; a télésoin appointment booked
in scheduling gets its session through scheduling's hooks (moved and cancelled with it), and its
rules are checked when the practitioner admits the patient."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from litestar.testing import TestClient
from sqlmodel import select
from telecare_world import make_world
from test_telecare_sessions import _join_link, _plan

from carnet_core.plugin_api import open_, utcnow
from carnet_core.testing import wait_for_jobs

from carnet_telecare.models import Profile, Session
from carnet_telecare.services import acts


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    return make_world(carnet_db, make_clinic, staff)


def test_every_profession_lists_acts_and_those_needing_touch_or_equipment_are_excluded():
    assert {"orthophoniste", "kinesitherapeute", "psychologue"} <= set(acts.professions())
    kine = {a["code"]: a["remote"] for a in acts.acts_of("kinesitherapeute")}
    assert kine["kine_reeducation_membre"] and not kine["kine_drainage"] and not kine["kine_balneo"]
    with pytest.raises(acts.InvalidInput) as excluded:
        acts.require_remote("kinesitherapeute", "kine_drainage")
    assert excluded.value.errors["act"].code == "excluded"
    with pytest.raises(acts.InvalidInput) as other:  # another profession's act
        acts.require_remote("kinesitherapeute", "ortho_reeducation")
    assert other.value.errors["act"].code == "unknown"


def test_an_excluded_act_or_none_refuses_the_session_and_writes_nothing(client, login_as, world, carnet_db):
    login_as(client, world.owner)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.add(Profile(user_id=world.owner.id, profession="kinesitherapeute"))
    page = client.get(f"/telecare/patients/{world.patient}").text
    assert "Drainage lymphatique manuel — en présentiel seulement" in unescape(page)
    assert "Séance de rééducation orthophonique" not in page  # another profession's acts are not offered
    excluded = _plan(client, world.patient, act="kine_drainage")
    assert excluded.status_code == 422
    assert "Drainage lymphatique manuel ne peut pas se faire à distance" in unescape(excluded.text)
    missing = _plan(client, world.patient, act="")
    assert missing.status_code == 422 and "choisissez l’acte" in unescape(missing.text)
    assert _plan(client, world.patient, act="kine_reeducation_membre").status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        session = db.exec(select(Session)).one()
        assert open_(db, session, "act") == "kine_reeducation_membre" and b"kine" not in bytes(session.act)


def _hooks(plugin_host):
    """What scheduling's pages pass: the hooks of the plugins the clinic enabled."""
    return plugin_host.for_clinic(frozenset({"scheduling", "telecare"}))


def _book_telesoin(carnet_db, world, plugin_host, minutes_from_now=5):
    from carnet_scheduling.services import appointments, setup
    from carnet_scheduling.services.booking_rules import Overrides

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        kind = setup.create_appointment_type(db, "Séance en télésoin", 30, "telesoin")
        start = (utcnow() + timedelta(minutes=minutes_from_now)).replace(second=0, microsecond=0)
        appt = appointments.book(db, practitioner_id=world.owner.id, patient_id=world.patient,
                                 appointment_type_id=kind.id, starts_at=start,
                                 overrides=Overrides(outside_hours=True), hooks=_hooks(plugin_host))
        return appt.id


def test_a_telesoin_appointment_gets_its_session_moves_and_is_cancelled_with_it(
        client, login_as, world, carnet_db, carnet_settings, jobs_worker, plugin_host):
    from carnet_scheduling.services import appointments

    appointment_id = _book_telesoin(carnet_db, world, plugin_host, minutes_from_now=60 * 24)
    wait_for_jobs(jobs_worker)
    first, text = _join_link(carnet_settings, "elodie@example.org")
    assert "télésoin" in text and "Lefèvre" not in text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        session = db.exec(select(Session)).one()
        assert session.appointment_id == appointment_id and session.status == "scheduled" and session.act is None
        from carnet_scheduling.models import Appointment
        from carnet_scheduling.services.booking_rules import Overrides

        appt = db.get(Appointment, appointment_id)
        appointments.move(db, appt, appt.starts_at + timedelta(hours=2), hooks=_hooks(plugin_host),
                          overrides=Overrides(outside_hours=True))
    wait_for_jobs(jobs_worker)
    moved, _ = _join_link(carnet_settings, "elodie@example.org")
    assert moved != first  # a new link for the new time; the old one stops
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        from carnet_scheduling.models import Appointment

        session = db.exec(select(Session)).one()
        assert session.starts_at == db.get(Appointment, appointment_id).starts_at
        appointments.cancel(db, db.get(Appointment, appointment_id), reason="empêchement", hooks=_hooks(plugin_host))
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Session)).one().status == "cancelled"


def test_a_booked_session_is_admitted_only_once_its_rules_are_confirmed(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker, plugin_host):
    _book_telesoin(carnet_db, world, plugin_host)
    wait_for_jobs(jobs_worker)
    path, _ = _join_link(carnet_settings, "elodie@example.org")
    login_as(client, world.owner)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        session_id = db.exec(select(Session)).one().id
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        page = patient.get(path)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
        assert patient.post(path, data={"_csrf_token": token}).status_code == 200
    url = f"/telecare/sessions/{session_id}"
    shown = unescape(client.get(url).text)
    assert 'name="act"' in shown and 'name="not_initial"' in shown
    initial = client.post(f"{url}/admit", data={"act": "ortho_reeducation"})
    assert initial.status_code == 422 and "bilan initial" in unescape(initial.text)
    excluded = client.post(f"{url}/admit", data={"act": "ortho_deglutition_essais", "not_initial": "1"})
    assert excluded.status_code == 422 and "ne peut pas se faire à distance" in unescape(excluded.text)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.get(Session, session_id).status == "waiting"
    admitted = client.post(f"{url}/admit", data={"act": "ortho_reeducation", "not_initial": "1"},
                           follow_redirects=False)
    assert admitted.status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        session = db.get(Session, session_id)
        assert session.status == "started" and open_(db, session, "act") == "ortho_reeducation"
    assert "Acte : Séance de rééducation orthophonique." in unescape(client.get(url).text)
