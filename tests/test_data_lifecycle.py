"""Data-lifecycle hooks (a patient's RGPD export and erasure) reach every installed plugin, also the
modules a clinic has disabled: disabling keeps a module's data, so its export and erasure must run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from example_plugin import plugin as example
from sqlmodel import select

from carnet_core.hookspecs import DATA_LIFECYCLE_HOOKS
from carnet_core.plugins import PluginError


@pytest.fixture
def inline_plugins(inline_plugins):
    return example.install(inline_plugins)


def _scheduling_history(carnet_db, clinic, patient_id, practitioner_id):
    """A patient's scheduling history: a honoured and a cancelled visit (with a reminder and an
    online booking), a prescription and its series, a waiting-list file and a reminder opt-out."""
    from carnet_core.encryption import seal
    from carnet_scheduling.models import Appointment, AppointmentType, Prescription, Series
    from carnet_scheduling.patient_models import (
        OnlineBooking,
        Reminder,
        ReminderRule,
        ReminderSwitch,
        WaitingEntry,
        WaitingListing,
    )

    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with carnet_db.session(clinic_id=clinic.id) as db:
        kind = AppointmentType(name="Bilan orthophonique", duration_minutes=60)
        rule = ReminderRule(channel="email", minutes_before=1440)
        db.add_all([kind, rule])
        db.flush()
        prescription = Prescription(patient_id=patient_id, practitioner_id=practitioner_id,
                                    prescribed_on=date(2026, 2, 20), sessions_prescribed=20)
        db.add(prescription)
        db.flush()
        seal(db, prescription, "prescriber", "Dr Roux")
        seal(db, prescription, "acts", "AMO 10.1")
        series = Series(prescription_id=prescription.id, patient_id=patient_id, practitioner_id=practitioner_id,
                        appointment_type_id=kind.id, rule='{"slots": [[0, "09:00"]], "every_weeks": 1}',
                        sessions_target=20, first_day=date(2026, 3, 2))
        db.add(series)
        db.flush()
        visits = []
        for days, status, reason in ((0, "honoured", None), (7, "cancelled", "Hospitalisation")):
            visit = Appointment(practitioner_id=practitioner_id, patient_id=patient_id, appointment_type_id=kind.id,
                                series_id=series.id, starts_at=start + timedelta(days=days),
                                ends_at=start + timedelta(days=days, hours=1),
                                local_day=date(2026, 3, 2) + timedelta(days=days), status=status)
            db.add(visit)
            db.flush()
            seal(db, visit, "cancel_reason", reason)
            seal(db, visit, "notes", f"séance {days}: progrès")
            visits.append(visit)
        db.add(Reminder(appointment_id=visits[1].id, rule_id=rule.id, channel="email",
                        due_at=visits[1].starts_at - timedelta(days=1)))
        db.add(OnlineBooking(appointment_id=visits[1].id, confirm_by=start))
        entry = WaitingEntry(patient_id=patient_id, earlier_than_appointment_id=visits[1].id)
        db.add(entry)
        db.flush()
        seal(db, entry, "situation", "bégaiement")
        db.add(WaitingListing(entry_id=entry.id, practitioner_id=practitioner_id))
        db.add(ReminderSwitch(scope="patient", subject_id=patient_id, channel=None))
        return [v.id for v in visits]


def _disable(carnet_db, clinic, plugin_host, plugin):
    from carnet_core.clinics.services import enabled_plugins, set_plugin_enabled

    with carnet_db.session(clinic_id=clinic.id) as db:
        assert set_plugin_enabled(db, clinic.id, plugin, False, plugin_host.names)
        assert plugin not in enabled_plugins(db, clinic.id, plugin_host.names)


def _scheduling_rows(carnet_db, clinic, patient_id):
    """Every scheduling row about the patient, read raw (unsealed columns included)."""
    from carnet_scheduling.models import Appointment, Prescription, Series
    from carnet_scheduling.patient_models import OnlineBooking, Reminder, ReminderSwitch, WaitingEntry, WaitingListing

    with carnet_db.session(clinic_id=clinic.id) as db:
        visits = select(Appointment.id).where(Appointment.patient_id == patient_id)
        entries = select(WaitingEntry.id).where(WaitingEntry.patient_id == patient_id)
        return {
            "appointment": db.exec(select(Appointment).where(Appointment.patient_id == patient_id)).all(),
            "prescription": db.exec(select(Prescription).where(Prescription.patient_id == patient_id)).all(),
            "series": db.exec(select(Series).where(Series.patient_id == patient_id)).all(),
            "reminder": db.exec(select(Reminder).where(Reminder.appointment_id.in_(visits))).all(),
            "online_booking": db.exec(select(OnlineBooking).where(OnlineBooking.appointment_id.in_(visits))).all(),
            "waiting_entry": db.exec(select(WaitingEntry).where(WaitingEntry.patient_id == patient_id)).all(),
            "waiting_listing": db.exec(select(WaitingListing).where(WaitingListing.entry_id.in_(entries))).all(),
            "reminder_switch": db.exec(select(ReminderSwitch).where(
                ReminderSwitch.scope == "patient", ReminderSwitch.subject_id == patient_id)).all(),
        }


def test_a_disabled_modules_data_is_in_the_patients_export_and_gone_after_the_erasure(
    client, staff, clinic, carnet_db, plugin_host, login_as
):
    owner = staff("owner,practitioner", email="owner@cabinet.test")
    token = login_as(client, owner, send_csrf=False)
    created = client.post("/patients/new", data={"last_name": "Lefèvre", "first_name": "Élodie",
                                                 "_csrf_token": token}, follow_redirects=False)
    pid = int(created.headers["location"].rsplit("/", 1)[1])
    visit_ids = _scheduling_history(carnet_db, clinic, pid, owner.id)
    assert all(_scheduling_rows(carnet_db, clinic, pid).values())
    # given the clinic switches scheduling and the example module off (their data stays)
    _disable(carnet_db, clinic, plugin_host, "scheduling")
    _disable(carnet_db, clinic, plugin_host, "example")
    assert client.get("/scheduling/").status_code == 404
    # when the patient's file is exported, then the disabled modules' parts are in it
    document = client.post(f"/patients/{pid}/export", data={"_csrf_token": token}).json()
    part = document["plugins"]["scheduling"]
    assert [a["id"] for a in part["appointments"]] == visit_ids
    assert [a["notes"] for a in part["appointments"]] == ["séance 0: progrès", "séance 7: progrès"]
    assert part["appointments"][1]["cancel_reason"] == "Hospitalisation"
    assert part["prescriptions"][0]["acts"] == "AMO 10.1" and part["series"][0]["sessions_target"] == 20
    assert document["plugins"]["example"] == {"greeting": "bonjour", "patient_id": pid}
    assert example.SEEN["exported"] == [(clinic.slug, pid)]
    # when the patient is erased, then the disabled modules erase too: no scheduling row about the
    # patient is left, so no date, type, status or reason of their visits survives the erasure
    done = client.post(f"/patients/{pid}/erase", data={"_csrf_token": token, "reason": "patient_request",
                                                       "confirm_last_name": "Lefevre"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert example.SEEN["erased"] == [(clinic.slug, pid)]
    left = _scheduling_rows(carnet_db, clinic, pid)
    assert {table: len(rows) for table, rows in left.items() if rows} == {}
    # the shared rows (the clinic's appointment types and reminder rules) are not the patient's: kept
    from carnet_scheduling.models import AppointmentType

    with carnet_db.session(clinic_id=clinic.id) as db:
        assert [t.name for t in db.exec(select(AppointmentType)).all()] == ["Bilan orthophonique"]


def test_erasing_a_patient_keeps_other_patients_offers_of_the_slot_their_cancellation_freed(
    staff, clinic, carnet_db, plugin_host
):
    from carnet_core.patients.models import Patient
    from carnet_core.patients.services import erase_patient
    from carnet_scheduling.models import AppointmentType
    from carnet_scheduling.patient_models import Offer, WaitingEntry

    owner = staff("owner,practitioner", email="owner@cabinet.test")
    with carnet_db.session(clinic_id=clinic.id) as db:
        first, other = Patient(), Patient()
        db.add_all([first, other])
        db.flush()
        ids = first.id, other.id
    visits = _scheduling_history(carnet_db, clinic, ids[0], owner.id)
    with carnet_db.session(clinic_id=clinic.id) as db:
        waiting = WaitingEntry(patient_id=ids[1])
        db.add(waiting)
        db.flush()
        start = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
        offer = Offer(entry_id=waiting.id, freed_appointment_id=visits[1], practitioner_id=owner.id,
                      appointment_type_id=db.exec(select(AppointmentType.id)).first(),
                      starts_at=start, ends_at=start + timedelta(hours=1), expires_at=start)
        db.add(offer)
        db.flush()
        offer_id = offer.id
    with carnet_db.session(clinic_id=clinic.id) as db:
        erase_patient(db, "system:test", db.get(Patient, ids[0]), host=plugin_host, clinic=clinic)
    with carnet_db.session(clinic_id=clinic.id) as db:
        kept = db.get(Offer, offer_id)
        assert kept is not None and kept.freed_appointment_id is None and kept.entry_id == waiting.id
        assert _scheduling_rows(carnet_db, clinic, ids[0])["appointment"] == []


@pytest.mark.parametrize("hook", sorted(DATA_LIFECYCLE_HOOKS))
def test_a_data_lifecycle_hook_cannot_be_called_only_for_the_enabled_plugins(plugin_host, hook):
    # the one mechanism: host.lifecycle / lifecycle_each reach every installed plugin
    everyone = {plugin_host.pm.get_name(i.plugin) for i in plugin_host.lifecycle(hook).get_hookimpls()}
    assert "example" in everyone and len(everyone) >= 2  # scheduling or billing too (verify: billing only)
    with pytest.raises(PluginError, match=f"'{hook}' is a data-lifecycle hook.*host.lifecycle"):
        getattr(plugin_host.for_clinic({"scheduling"}), hook)
    with pytest.raises(PluginError, match="data-lifecycle hook"):
        plugin_host.call_each(hook, only={"scheduling"})
    with pytest.raises(PluginError, match="not a data-lifecycle hook"):
        plugin_host.lifecycle("navigation_items")


def _register(carnet_db, clinic, last_name="Lefèvre"):
    from carnet_core.plugin_api import Principal, patient_access

    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        registrar = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
        return patient_access(db, registrar).register({"last_name": last_name, "first_name": "Élodie"})


def test_hook_last_care_dates_reaches_disabled_modules(carnet_db, clinic, plugin_host, staff):
    owner = staff("owner,practitioner", email="owner@cabinet.test")
    pid = _register(carnet_db, clinic)
    other = _register(carnet_db, clinic, "Martin")
    _scheduling_history(carnet_db, clinic, pid, owner.id)  # honoured 2 March, cancelled 9 March
    example.LAST_CARE[clinic.slug] = {other: date(2025, 6, 1)}
    _disable(carnet_db, clinic, plugin_host, "scheduling")
    _disable(carnet_db, clinic, plugin_host, "example")
    with carnet_db.session(clinic_id=clinic.id) as db:
        found = dict(plugin_host.lifecycle_each("last_care_dates", clinic=clinic, db=db))
    # the cancelled visit is not care; billing records none here (None: left out)
    assert found == {"scheduling": {pid: date(2026, 3, 2)}, "example": {other: date(2025, 6, 1)}}


def test_hook_verify_clinic_data_runs_billings_chain_check_even_when_disabled(carnet_db, carnet_settings, plugin_host):
    from click.testing import CliRunner

    from carnet_core.cli import main
    from carnet_core.clinics.services import get_clinic_by_slug

    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url,
           "CARNET_TESTING": "1", "CARNET_PASSWORD_HASH_MEMORY_KIB": "1024"}
    assert CliRunner().invoke(main, ["demo"], env=env).exit_code == 0
    with carnet_db.session(unscoped=True) as db:
        clinic = get_clinic_by_slug(db, "cabinet-des-tilleuls")
    _disable(carnet_db, clinic, plugin_host, "billing")
    with carnet_db.session(clinic_id=clinic.id) as db:
        found = dict(plugin_host.lifecycle_each("verify_clinic_data", clinic=clinic, db=db))
    assert found == {"billing": [], "example": []}
    assert example.SEEN["verified"] == [clinic.slug]
    with carnet_db.session(clinic_id=clinic.id) as db:  # billing's last acts, disabled or not
        cared = dict(plugin_host.lifecycle_each("last_care_dates", clinic=clinic, db=db))
    assert cared["billing"] and all(isinstance(day, date) for day in cared["billing"].values())
    done = CliRunner().invoke(main, ["verify"], env=env)
    assert done.exit_code == 0, done.output
    assert "cabinet-des-tilleuls: billing: ok (intact)" in done.stdout
