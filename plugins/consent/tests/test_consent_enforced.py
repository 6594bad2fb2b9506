"""Withdrawal enforced everywhere: the question "does patient P allow purpose X now?" answered
by consent where the clinic enabled it and by core's documented default elsewhere; télésoin and
recording (the contract the telecare plugin reuses); scheduling's pending SMS reminders stop when
the patient withdraws "SMS reminders" through the link in a message."""

from __future__ import annotations

import re

import pytest
from consent_world import link_in, make_world
from sqlmodel import select

from carnet_core.plugin_api import PURPOSES, purpose_allowed
from carnet_core.testing import AuditRecord, OutboxMessage, csrf_token, wait_for_jobs

from carnet_consent.models import Decision
from carnet_consent.services import decisions
from carnet_consent.testing import check_purpose_contract, sign_form


@pytest.mark.parametrize("purpose", ["telesoin", "recording"])
def test_the_contract_telecare_relies_on(plugin_host, carnet_db, world, purpose):
    check_purpose_contract(plugin_host, carnet_db, world.clinic.id, world.owner.id, world.adult, purpose)


def test_a_minors_telesoin_needs_every_parent_before_it_answers_yes(plugin_host, carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        assert purpose_allowed(plugin_host, db, world.minor, "telesoin") is False
        sign_form(db, world.clinic.id, world.owner.id, world.minor, "telesoin")
        assert purpose_allowed(plugin_host, db, world.minor, "telesoin") is True


def test_without_consent_enabled_the_documented_default_answers(plugin_host, carnet_db, make_clinic, staff):
    other = make_world(carnet_db, make_clinic, staff, slug="sans-consent",
                       plugins=[p for p in plugin_host.names if p != "consent"])
    with carnet_db.session(clinic_id=other.clinic.id) as db:
        answers = {p: purpose_allowed(plugin_host, db, other.adult, p) for p in PURPOSES}
    assert answers == {p: p not in ("recording", "photos") for p in PURPOSES}
    with carnet_db.session(clinic_id=other.clinic.id) as db, pytest.raises(ValueError):
        purpose_allowed(plugin_host, db, other.adult, "newsletter")


def test_a_withdrawal_never_deletes_history_and_is_audited(plugin_host, carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.adult, "photos")
        decisions.withdraw(db, world.adult, "photos", source="staff", actor=f"user:{world.owner.id}")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        rows = db.exec(select(Decision).where(Decision.patient_id == world.adult, Decision.purpose == "photos")
                       .order_by(Decision.id)).all()
        assert [(d.allowed, d.source) for d in rows] == [(True, "signature"), (False, "staff")]
        assert db.exec(select(AuditRecord).where(AuditRecord.action == "withdraw",
                                                 AuditRecord.patient_id == world.adult)).one()
    # withdrawing what is not given is refused, nothing written
    with carnet_db.session(clinic_id=world.clinic.id) as db, pytest.raises(Exception, match="no agreement"):
        decisions.withdraw(db, world.adult, "photos", source="staff", actor="user:1")


scheduling = pytest.importorskip("carnet_scheduling")


@pytest.fixture
def appointment(carnet_db, world, plugin_host):
    """Élodie (who accepted SMS reminders) has an appointment in 8+ days with the usual reminders
    (two e-mails, one SMS) planned."""
    from datetime import UTC, datetime, timedelta

    from carnet_scheduling.services import appointments as appts
    from carnet_scheduling.services import reminders, setup

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.adult, "sms_reminders")
        place = setup.create_place(db, "Cabinet", "cabinet", "1 rue des Tilleuls")
        room = setup.create_room(db, place.id, "Salle 1")
        kind = setup.create_appointment_type(db, "Séance", 45)
        reminders.ensure_default_rules(db)
        start = (datetime.now(UTC) + timedelta(days=9)).replace(hour=9, minute=0, second=0, microsecond=0)
        appt = appts.book(db, practitioner_id=world.owner.id, patient_id=world.adult, appointment_type_id=kind.id,
                          starts_at=start, ends_at=start + timedelta(minutes=45), room_id=room.id,
                          hooks=plugin_host.for_clinic(set(plugin_host.names)))
    return appt


def _states(carnet_db, world, appointment_id):
    from carnet_scheduling.services import reminders

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return sorted((r.channel, r.status, r.detail) for r in reminders.for_appointment(db, appointment_id))


def _all_due(carnet_db):
    with carnet_db.session(unscoped=True) as db:
        for row in db.exec(select(OutboxMessage)).all():
            row.not_before = None
            db.add(row)


def test_withdrawing_sms_reminders_through_the_link_stops_the_pending_sms(
        client, carnet_db, world, appointment, carnet_settings, jobs_worker):
    from pathlib import Path

    states = _states(carnet_db, world, appointment.id)
    assert ("sms", "scheduled", None) in states
    # the withdrawal link of a message (sent with the invitation of any form)
    from consent_world import owner_principal

    from carnet_consent.services import signing

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        signing.send(db, owner_principal(world.clinic.id, world.owner.id), world.forms["care"], world.adult)
    wait_for_jobs(jobs_worker)
    path = link_in(carnet_settings, "elodie@example.org", "w")
    page = client.get(path)
    assert page.status_code == 200 and "Rappels par SMS" in page.text
    done = client.post(path, data={"_csrf_token": csrf_token(client, path), "purpose": "sms_reminders"})
    assert done.status_code == 200 and "est retiré" in done.text
    # at once: the SMS reminder is cancelled, the e-mails stay planned
    states = _states(carnet_db, world, appointment.id)
    assert [s for s in states if s[0] == "sms"] == [("sms", "cancelled", "no consent to SMS reminders")]
    assert [s[1] for s in states if s[0] == "email"] == ["scheduled", "scheduled"]
    _all_due(carnet_db)
    wait_for_jobs(jobs_worker)
    assert list(Path(carnet_settings.sms_dir).glob("*.sms")) == []
    assert not re.search("Rappel", "".join(p.read_text() for p in Path(carnet_settings.sms_dir).glob("*")))


def test_the_reminder_job_asks_the_question_at_sending_time(carnet_db, world, appointment, carnet_settings,
                                                            jobs_worker):
    """Even without the hook (a decision recorded by another path), the SMS job asks first."""
    from pathlib import Path

    # the re-planning the booking's default rules asked for runs first, as it does right after a
    # booking: run alongside the send jobs, it could find the SMS reminder just cancelled for want
    # of consent and plan it again (a new job, due in days), which failed this test under load
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        decisions.add(db, world.adult, "sms_reminders", False, "staff", f"user:{world.owner.id}")
    _all_due(carnet_db)
    wait_for_jobs(jobs_worker)
    assert list(Path(carnet_settings.sms_dir).glob("*.sms")) == []
    states = _states(carnet_db, world, appointment.id)
    assert ("sms", "cancelled", "no consent to SMS reminders") in states
    assert [s[1] for s in states if s[0] == "email"] == ["sent", "sent"]


def test_hook_patient_allows_answers_only_for_clinics_that_enabled_consent(plugin_host, carnet_db, world, client,
                                                                          login_as):
    """The decisions stay when a clinic disables the module, but the hook no longer answers there:
    the documented default does (télésoin allowed, recording not)."""
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.adult, "telesoin", accept=False)
        assert plugin_host.for_clinic({"consent"}).patient_allows(
            clinic_id=world.clinic.id, patient_id=world.adult, purpose="telesoin", db=db) is False
        assert plugin_host.for_clinic(set()).patient_allows(
            clinic_id=world.clinic.id, patient_id=world.adult, purpose="telesoin", db=db) is None
        assert purpose_allowed(plugin_host, db, world.adult, "telesoin") is False
    token = login_as(client, world.owner)
    client.post("/settings/modules/consent", data={"_csrf_token": token, "enabled": "0"})
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert purpose_allowed(plugin_host, db, world.adult, "telesoin") is True
        assert purpose_allowed(plugin_host, db, world.adult, "recording") is False


def test_planning_again_never_revives_a_reminder_the_patient_refused(carnet_db, world, appointment, jobs_worker):
    """A rule or a switch changed later: the re-planning job plans every booked appointment again.
    It used to take an SMS reminder cancelled for want of consent for one "wanted again" and put it
    back (with a new job), so the patient's page said an SMS was planned that would never leave."""
    from carnet_scheduling.services import reminders

    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        decisions.add(db, world.adult, "sms_reminders", False, "staff", f"user:{world.owner.id}")
        reminders.cancel_channel_for_patient(db, world.adult, "sms", reminders.CONSENT_WITHDRAWN)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        reminders.replan(db)
    states = _states(carnet_db, world, appointment.id)
    assert ("sms", "cancelled", "no consent to SMS reminders") in states
    assert [s[1] for s in states if s[0] == "email"] == ["scheduled", "scheduled"]
