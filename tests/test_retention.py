"""Retention with a frozen clock (time-machine) across each boundary: archival N years after the
last care, destruction proposed 20 years after it (a minor's record not before their 28th
birthday), destroyed only when an owner confirms, through every plugin's erasure (a disabled
module too), recorded in a register without identity; a legal hold stops both."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from example_plugin import plugin as example
from sqlmodel import select

from carnet_core.plugin_api import Principal
from carnet_core.retention import services as retention
from carnet_core.retention.models import (
    DESTROYED,
    PROPOSED,
    RULE_AFTER_LAST_CARE,
    RULE_MINOR,
    WITHDRAWN,
    DestructionEntry,
    DestructionProposal,
)


@pytest.fixture
def inline_plugins(inline_plugins):
    return example.install(inline_plugins)


def _at(day: date):
    """The clock frozen at 10:00 in Paris on `day`."""
    return time_machine.travel(datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC), tick=False)


def _register(carnet_db, clinic, last_name, birth_date):
    from carnet_core.plugin_api import patient_access

    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        registrar = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
        return patient_access(db, registrar).register(
            {"last_name": last_name, "first_name": "Élodie", "birth_date": birth_date})


def _honoured(carnet_db, clinic, patient_id, practitioner_id, day):
    from carnet_scheduling.models import Appointment, AppointmentType

    with carnet_db.session(clinic_id=clinic.id) as db:
        kind = AppointmentType(name="Séance", duration_minutes=30)
        db.add(kind)
        db.flush()
        start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
        db.add(Appointment(practitioner_id=practitioner_id, patient_id=patient_id, appointment_type_id=kind.id,
                           starts_at=start, ends_at=start + timedelta(minutes=30), local_day=day, status="honoured"))


def _daily(carnet_db, plugin_host, clinic):
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "job:core.retention_daily"
        return retention.run_daily(db, plugin_host, clinic, retention.clinic_today(clinic))


def _patient(carnet_db, clinic, pid):
    from carnet_core.patients.models import Patient

    with carnet_db.session(clinic_id=clinic.id) as db:
        return db.get(Patient, pid)


def _proposals(carnet_db, clinic):
    with carnet_db.session(clinic_id=clinic.id) as db:
        return [(p.patient_id, p.rule, p.due_on, p.status)
                for p in db.exec(select(DestructionProposal).order_by(DestructionProposal.id))]


@pytest.fixture
def world(carnet_db, clinic, staff, plugin_host):
    owner = staff("owner,practitioner", email="owner@cabinet.test")
    adult = _register(carnet_db, clinic, "Adulte", "1980-01-01")
    minor = _register(carnet_db, clinic, "Mineure", "2020-06-01")
    held = _register(carnet_db, clinic, "Gelé", "1975-05-05")
    _honoured(carnet_db, clinic, adult, owner.id, date(2026, 3, 2))  # scheduling: last care 2 March 2026
    # the example module's care (the module is disabled below: it still counts)
    example.LAST_CARE[clinic.slug] = {minor: date(2025, 1, 10), held: date(2025, 1, 10)}
    from carnet_core.clinics.services import set_plugin_enabled

    with carnet_db.session(clinic_id=clinic.id) as db:
        set_plugin_enabled(db, clinic.id, "example", False, plugin_host.names)
    principal = Principal(kind="user", user_id=owner.id, clinic_id=clinic.id, roles=frozenset({"owner"}),
                          permissions=frozenset({"core.patients.view", "core.patients.view_all"}))
    return {"owner": owner, "adult": adult, "minor": minor, "held": held, "principal": principal}


def test_archival_after_n_years_without_care_hides_the_record_from_daily_lists(carnet_db, clinic, plugin_host, world):
    from carnet_core.patients.services import search_patients

    with carnet_db.session(clinic_id=clinic.id) as db:
        retention.place_hold(db, world["principal"], world["held"], "litigation")
    with _at(date(2030, 1, 9)):
        assert _daily(carnet_db, plugin_host, clinic) == (0, 0, 0)
    with _at(date(2030, 1, 10)):  # 5 years after the minor's last care (example module, disabled)
        assert _daily(carnet_db, plugin_host, clinic) == (1, 0, 0)
        assert _daily(carnet_db, plugin_host, clinic) == (0, 0, 0)  # a second run changes nothing
    assert _patient(carnet_db, clinic, world["minor"]).archived
    assert not _patient(carnet_db, clinic, world["held"]).archived  # the hold stops archival
    with _at(date(2031, 3, 1)):
        assert _daily(carnet_db, plugin_host, clinic) == (0, 0, 0)
    with _at(date(2031, 3, 2)):  # 5 years after the adult's last honoured appointment
        assert _daily(carnet_db, plugin_host, clinic) == (1, 0, 0)
    with carnet_db.session(clinic_id=clinic.id) as db:
        listed = {v.id for v in search_patients(db, world["principal"], None)}
        archived = {v.id for v in search_patients(db, world["principal"], None, archived=True)}
    assert listed == {world["held"]} and {world["adult"], world["minor"]} <= archived
    from carnet_core.audit.models import AuditRecord

    with carnet_db.session(clinic_id=clinic.id) as db:
        records = db.exec(select(AuditRecord).where(AuditRecord.action == "archive")).all()
    assert sorted(r.patient_id for r in records) == sorted([world["adult"], world["minor"]])


def test_destruction_is_proposed_on_time_and_a_minors_record_waits_for_the_28th_birthday(
    carnet_db, clinic, plugin_host, world
):
    with _at(date(2046, 3, 1)):
        _daily(carnet_db, plugin_host, clinic)
    # the minor's 20 years after care fell on 2045-01-10, but they turn 28 on 2048-06-01;
    # the held patient's record (care 2025-01-10, adult) is due since 2045-01-10
    assert [(p, r) for p, r, _, _ in _proposals(carnet_db, clinic)] == [(world["held"], RULE_AFTER_LAST_CARE)]
    with _at(date(2046, 3, 2)):  # 20 years after the adult's last honoured appointment
        _daily(carnet_db, plugin_host, clinic)
    assert (world["adult"], RULE_AFTER_LAST_CARE, date(2046, 3, 2), PROPOSED) in _proposals(carnet_db, clinic)
    with _at(date(2048, 5, 31)):
        _daily(carnet_db, plugin_host, clinic)
    assert world["minor"] not in [p for p, *_ in _proposals(carnet_db, clinic)]
    with _at(date(2048, 6, 1)):
        _daily(carnet_db, plugin_host, clinic)
    assert (world["minor"], RULE_MINOR, date(2048, 6, 1), PROPOSED) in _proposals(carnet_db, clinic)
    # nothing was destroyed by proposing
    assert all(_patient(carnet_db, clinic, world[k]).erased_at is None for k in ("adult", "minor", "held"))


def test_a_legal_hold_withdraws_a_proposal_and_stops_destruction_until_released(carnet_db, clinic, plugin_host, world):
    with _at(date(2046, 3, 2)):
        _daily(carnet_db, plugin_host, clinic)
        with carnet_db.session(clinic_id=clinic.id) as db:
            hold = retention.place_hold(db, world["principal"], world["held"], "investigation")
        assert (world["held"], RULE_AFTER_LAST_CARE, date(2045, 1, 10), WITHDRAWN) in _proposals(carnet_db, clinic)
        _daily(carnet_db, plugin_host, clinic)
        assert [s for p, _, _, s in _proposals(carnet_db, clinic) if p == world["held"]] == [WITHDRAWN]
        with carnet_db.session(clinic_id=clinic.id) as db:
            retention.release_hold(db, world["principal"], hold.id)
        _daily(carnet_db, plugin_host, clinic)
        assert [s for p, _, _, s in _proposals(carnet_db, clinic) if p == world["held"]] == [WITHDRAWN, PROPOSED]
    with pytest.raises(retention.RetentionInvalid):
        with carnet_db.session(clinic_id=clinic.id) as db:
            retention.place_hold(db, world["principal"], world["held"], "because")


def test_confirmed_destruction_erases_through_every_plugin_and_keeps_a_register_without_identity(
    carnet_db, clinic, plugin_host, world
):
    from carnet_core.encryption.models import SubjectKey
    from carnet_scheduling.models import Appointment

    with _at(date(2046, 3, 2)):
        _daily(carnet_db, plugin_host, clinic)
        with carnet_db.session(clinic_id=clinic.id) as db:
            ids = [p.id for p in retention.open_proposals(db)]
            # new care for the held patient's record since the proposal: it is withdrawn, not destroyed
        example.LAST_CARE[clinic.slug][world["held"]] = date(2046, 3, 1)
        with carnet_db.session(clinic_id=clinic.id) as db:
            entries = retention.confirm_destruction(db, plugin_host, clinic, world["principal"], ids,
                                                    retention.clinic_today(clinic))
    assert [(e.rule, e.patients, e.confirmed_by) for e in entries] == [(RULE_AFTER_LAST_CARE, 1, world["owner"].id)]
    adult = _patient(carnet_db, clinic, world["adult"])
    assert adult.erased_at is not None and _patient(carnet_db, clinic, world["held"]).erased_at is None
    assert (clinic.slug, world["adult"]) in example.SEEN["erased"]  # the disabled module erased too
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.exec(select(Appointment).where(Appointment.patient_id == world["adult"])).all() == []
        key = db.exec(select(SubjectKey).where(SubjectKey.subject == f"patient:{world['adult']}")).first()
        assert key.wrapped is None  # crypto-shredded
        register = db.exec(select(DestructionEntry)).all()
    assert [(e.rule, e.patients) for e in register] == [(RULE_AFTER_LAST_CARE, 1)]
    assert not {"patient_id", "patient_ids", "name"} & set(DestructionEntry.__table__.c.keys())
    statuses = {p: s for p, _, _, s in _proposals(carnet_db, clinic)}
    assert statuses == {world["adult"]: DESTROYED, world["held"]: WITHDRAWN}
    with pytest.raises(retention.RetentionNotFound):  # a proposal already carried out
        with carnet_db.session(clinic_id=clinic.id) as db:
            retention.confirm_destruction(db, plugin_host, clinic, world["principal"], ids[:1], date(2046, 3, 2))


def test_the_forecast_lists_what_the_next_90_days_will_archive_or_destroy(carnet_db, clinic, plugin_host, world):
    with carnet_db.session(clinic_id=clinic.id) as db:
        soon = retention.forecast(db, plugin_host, clinic, date(2029, 10, 1))
        later = retention.forecast(db, plugin_host, clinic, date(2029, 12, 1), days=90)
    assert soon.archive == [] and soon.destroy == []  # 2030-01-10 is beyond 90 days
    assert [d.patient_id for d in later.archive] == [world["minor"], world["held"]]
    assert later.destroy == []


def test_rules_are_data_per_clinic_and_refuse_values_below_the_law(carnet_db, clinic, world):
    with carnet_db.session(clinic_id=clinic.id) as db:
        with pytest.raises(retention.RetentionInvalid) as refused:
            retention.set_rules(db, world["principal"], {"archive_after_years": "5", "destroy_after_years": "15",
                                                         "minor_until_age": "28", "invoice_years": "10"})
        assert set(refused.value.errors) == {"destroy_after_years"}
        rule = retention.set_rules(db, world["principal"], {"archive_after_years": "3", "destroy_after_years": "25",
                                                            "minor_until_age": "30", "invoice_years": "10"})
        assert (rule.archive_after_years, rule.destroy_after_years) == (3, 25)
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert retention.rules_of(db).minor_until_age == 30


@pytest.mark.parametrize("carnet_env", [{}], indirect=True)
def test_the_daily_job_archives_through_the_jobs_runtime(jobs_worker, carnet_db, clinic, plugin_host, world):
    from carnet_core.jobs import enqueue
    from carnet_core.jobs.testing import wait_for_jobs

    with carnet_db.session(clinic_id=clinic.id) as db:
        retention.set_rules(db, world["principal"], {"archive_after_years": "1", "destroy_after_years": "20",
                                                     "minor_until_age": "28", "invoice_years": "10"})
    with carnet_db.session(unscoped=True) as db:
        enqueue(db, "core.retention_daily")
    wait_for_jobs(jobs_worker)
    # the minor's care was on 2025-01-10: more than a year ago
    assert _patient(carnet_db, clinic, world["minor"]).archived
    assert not _patient(carnet_db, clinic, world["adult"]).archived  # cared for on 2026-03-02
