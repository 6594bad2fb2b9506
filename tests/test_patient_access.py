"""One way for plugins to reach a patient: `carnet_core.patients.access(db, principal)` applies the
registry's visibility (a practitioner sees the patients they follow unless the clinic shares
them), its clinical gate, and its audit; a plugin that loads `Patient` itself fails under core's
pytest plugin, whoever wrote it."""

from __future__ import annotations

from typing import Any

import pytest
from sneaky_plugin import plugin as sneaky
from sqlmodel import select

from carnet_core.audit.models import AuditRecord
from carnet_core.patients import PatientErased, PatientForbidden, PatientNotFound, access
from carnet_core.patients.guard import DirectPatientAccess
from carnet_core.web.principal import Principal

PERMS = {
    "owner": {"core.patients.view", "core.patients.view_all", "core.patients.edit"},
    "secretary": {"core.patients.view", "core.patients.view_all", "core.patients.edit"},
    "practitioner": {"core.patients.view", "core.patients.edit", "core.patients.clinical"},
}


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("sneaky", sneaky.plugin)
    return inline_plugins


def person(user_id: int, clinic_id: int, role: str) -> Principal:
    return Principal(kind="user", user_id=user_id, clinic_id=clinic_id, roles=frozenset({role}),
                     permissions=frozenset(PERMS[role]))


@pytest.fixture
def practice(carnet_db, clinic, staff):
    """Two practitioners with a patient each, a secretary, and the registrar who created them."""
    from carnet_core.patients.services import create_patient

    pia, paul, sec = staff("practitioner"), staff("practitioner"), staff("secretary")
    with carnet_db.session(clinic_id=clinic.id) as db:
        owner = Principal(kind="user", user_id=sec.id, clinic_id=clinic.id, roles=frozenset({"secretary"}),
                          permissions=frozenset(PERMS["secretary"] | {"core.patients.clinical"}))
        alice = create_patient(db, owner, {"last_name": "Lefèvre", "first_name": "Alice", "email": "a@example.fr",
                                           "practitioner_id": pia.id, "notes": "bilan"}).id
        bruno = create_patient(db, owner, {"last_name": "Martin", "first_name": "Bruno", "phone": "0611223344",
                                           "practitioner_id": paul.id}).id
    return {"pia": person(pia.id, clinic.id, "practitioner"), "paul": person(paul.id, clinic.id, "practitioner"),
            "sec": person(sec.id, clinic.id, "secretary"), "alice": alice, "bruno": bruno}


def test_a_practitioner_sees_the_patients_they_follow_and_not_a_colleagues(carnet_db, clinic, practice):
    with carnet_db.session(clinic_id=clinic.id) as db:
        pia = access(db, practice["pia"])
        assert pia.get(practice["alice"]).practitioner_id == practice["pia"].user_id
        with pytest.raises(PatientNotFound):
            pia.get(practice["bruno"])
        assert pia.names([practice["alice"], practice["bruno"]]) == {practice["alice"]: "LEFÈVRE Alice"}
        # the plugin's own record of care (an appointment booked with her) counts
        assert pia.names([practice["bruno"]], cared_for=[practice["bruno"]]) == {practice["bruno"]: "MARTIN Bruno"}
        assert pia.search("martin") == []
        assert [r.id for r in pia.search("lefevre")] == [practice["alice"]]


def test_the_secretary_sees_everyone_and_sharing_opens_every_file_to_practitioners(carnet_db, clinic, practice):
    from carnet_core.patients.services import set_share_patients

    with carnet_db.session(clinic_id=clinic.id) as db:
        assert set(access(db, practice["sec"]).names([practice["alice"], practice["bruno"]])) == {
            practice["alice"], practice["bruno"]}
        set_share_patients(db, True)
        assert access(db, practice["pia"]).get(practice["bruno"]).id == practice["bruno"]


def test_clinical_content_needs_the_permission_on_a_followed_patient(carnet_db, clinic, practice):
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert access(db, practice["pia"]).require_clinical(practice["alice"]).id == practice["alice"]
        with pytest.raises(PatientForbidden):  # the secretary sees the file, never its clinical content
            access(db, practice["sec"]).require_clinical(practice["alice"])
        with pytest.raises(PatientNotFound):  # a colleague's patient is not even visible
            access(db, practice["paul"]).require_clinical(practice["alice"])
        # the colleague who gives a session to that patient (the plugin's record) may read its notes
        assert access(db, practice["paul"]).may_read_clinical(practice["alice"], cares=True)


def test_jobs_reach_every_patient_of_their_clinic_for_messages_but_no_clinical_content(
    carnet_db, clinic, practice
):
    with carnet_db.session(clinic_id=clinic.id) as db:
        job = access(db, "job:scheduling.send_reminder")
        assert job.contact(practice["alice"], "email").email == "a@example.fr"
        assert job.contact(practice["bruno"], "sms").phone == "+33611223344"
        assert not job.may_read_clinical(practice["alice"])
    [record] = _records(carnet_db, clinic, practice["bruno"], "read")
    assert (record.actor_kind, record.actor_id, record.resource_type) == ("job", "scheduling.send_reminder",
                                                                          "patient")
    assert record.details == '{"fields":["phone"]}'


def test_the_export_is_for_a_job_or_who_may_export_and_is_audited(carnet_db, clinic, practice, plugin_host):
    exporter = Principal(kind="user", user_id=practice["pia"].user_id, clinic_id=clinic.id,
                         roles=frozenset({"practitioner"}),
                         permissions=frozenset(PERMS["practitioner"] | {"core.patients.export"}))
    with carnet_db.session(clinic_id=clinic.id) as db:
        with pytest.raises(PatientForbidden):  # sees the patient, lacks the export permission
            access(db, practice["pia"]).export(practice["alice"], plugin_host)
        with pytest.raises(PatientNotFound):  # a colleague's patient: not even there
            access(db, exporter).export(practice["bruno"], plugin_host)
        document = access(db, exporter).export(practice["alice"], plugin_host)
        assert document["patient"]["notes"] == "bilan"
        by_job = access(db, "job:consent.build_rights_export").export(practice["bruno"], plugin_host)
        assert by_job["patient"]["last_name"] == "Martin"
    [mine] = _records(carnet_db, clinic, practice["alice"], "export")
    assert (mine.actor_kind, mine.actor_id) == ("user", str(practice["pia"].user_id))
    [job] = _records(carnet_db, clinic, practice["bruno"], "export")
    assert (job.actor_kind, job.actor_id) == ("job", "consent.build_rights_export")


def test_a_patient_link_sees_only_its_patient_and_anonymous_nobody(carnet_db, clinic, practice):
    link = Principal(kind="patient_link", clinic_id=clinic.id, extra={"link_id": 7, "patient_id": practice["alice"]})
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert access(db, link).names([practice["alice"], practice["bruno"]]) == {practice["alice"]: "LEFÈVRE Alice"}
        assert access(db, Principal()).names([practice["alice"]]) == {}
        with pytest.raises(PatientNotFound):
            access(db, Principal()).get(practice["alice"])


def test_public_forms_find_a_known_patient_without_reading_and_register_new_ones(carnet_db, clinic, practice):
    form = Principal(kind="patient_link", clinic_id=clinic.id, extra={"actor_id": "online-booking"})
    with carnet_db.session(clinic_id=clinic.id) as db:
        patients = access(db, form)
        assert patients.find(email="A@example.fr", last_name="LEFEVRE") == practice["alice"]
        assert patients.find(email="a@example.fr", last_name="Martin") is None
        new = patients.register({"last_name": "Durand", "first_name": "Léa", "email": "lea@example.fr"})
        assert patients.find(email="lea@example.fr", last_name="Durand") == new


def test_a_jobs_read_is_recorded_with_the_commit_so_the_chain_head_waits_only_for_the_commit(
    carnet_db, clinic, practice
):
    # given a job's session that opens a patient's address (and goes on working)
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "job:scheduling.send_reminder"
        job = access(db, "job:scheduling.send_reminder")
        assert job.contact(practice["alice"], "email").email == "a@example.fr"
        # then nothing is appended to the clinic's chain yet (its head is not locked until the commit)
        assert db.exec(select(AuditRecord).where(AuditRecord.patient_id == practice["alice"],
                                                 AuditRecord.action == "read")).all() == []
    # and the commit appended the read once, naming the job and the field opened
    [record] = _records(carnet_db, clinic, practice["alice"], "read")
    assert (record.actor_kind, record.actor_id, record.details) == ("job", "scheduling.send_reminder",
                                                                    '{"fields":["email"]}')


def test_a_jobs_read_in_a_transaction_that_rolls_back_is_still_traced(carnet_db, clinic, practice):
    # given a job's session that opens a patient's address, then fails
    with pytest.raises(RuntimeError), carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "job:scheduling.send_reminder"
        access(db, "job:scheduling.send_reminder").contact(practice["alice"], "email")
        raise RuntimeError("the job failed")
    # then what it opened is recorded all the same
    [record] = _records(carnet_db, clinic, practice["alice"], "read")
    assert (record.actor_kind, record.actor_id) == ("job", "scheduling.send_reminder")


def test_a_public_form_finds_a_child_through_a_parents_address_and_audits_what_it_opened(carnet_db, clinic):
    form = Principal(kind="patient_link", clinic_id=clinic.id, extra={"actor_id": "online-rights-form"})
    with carnet_db.session(clinic_id=clinic.id) as db:
        patients = access(db, form)
        child = patients.register({"last_name": "Garnier", "first_name": "Léo", "birth_date": "2017-03-14",
                                   "guardians": [{"relation": "mother", "last_name": "Garnier", "first_name": "Camille",
                                                  "email": "camille@example.org"}]})
        other = patients.register({"last_name": "Garnier", "first_name": "Zoé", "email": "zoe@example.org"})
        [mother] = access(db, "system:test").guardians(child)
        assert patients.find_by_guardian(email="Camille@Example.org", last_name="GARNIER") == (child, mother.id)
        assert patients.find_by_guardian(email="camille@example.org", last_name="Martin") is None
        assert patients.find_by_guardian(email="zoe@example.org", last_name="Garnier") is None  # not a parent's
    with carnet_db.session(clinic_id=clinic.id) as db:  # the reads are recorded with the commit
        reads = db.exec(select(AuditRecord).where(AuditRecord.action == "read",
                                                  AuditRecord.actor_id == "online-rights-form")).all()
    assert {r.patient_id for r in reads} == {child}  # only the patients whose parents' e-mails were opened
    assert other not in {r.patient_id for r in reads}


def test_an_erased_patient_is_gone_for_plugins(carnet_db, clinic, practice):
    from carnet_core.patients.services import erase_patient, get_patient

    with carnet_db.session(clinic_id=clinic.id) as db:
        erase_patient(db, practice["sec"], get_patient(db, practice["sec"], practice["bruno"]))
    with carnet_db.session(clinic_id=clinic.id) as db:
        with pytest.raises(PatientErased):
            access(db, practice["sec"]).get(practice["bruno"])
        assert access(db, practice["sec"]).names([practice["bruno"]]) == {}
        assert access(db, "job:x").contact(practice["bruno"]) is None


def test_another_clinics_patient_does_not_exist(carnet_db, clinic, make_clinic, practice):
    other = make_clinic("autre")
    with carnet_db.session(clinic_id=other.id) as db:
        patients = access(db, "system:test")
        assert not patients.exists(practice["alice"])
        with pytest.raises(PatientNotFound):
            patients.get(practice["alice"])


def test_a_plugin_that_loads_patients_itself_fails_under_the_test_plugin(carnet_db, clinic, practice):
    # the guard judges the running code: the sneaky plugin's module, not the test calling it
    with carnet_db.session(clinic_id=clinic.id) as db:
        with pytest.raises(DirectPatientAccess, match="carnet_core.patients.access"):
            sneaky.load(db, practice["alice"])
        with pytest.raises(DirectPatientAccess):
            sneaky.everyone(db)


def test_the_direct_way_fails_over_http_and_reads_nothing(client, clinic, carnet_db, staff, login_as, practice):
    login_as(client, staff("owner"))
    answer = client.get(f"/sneaky/peek/{practice['alice']}")
    assert answer.status_code == 500 and "Lefèvre" not in answer.text


def test_core_and_the_installed_plugins_load_no_patient_rows_themselves(plugin_host):
    # scheduling reaches patients through the access API only: its own tests run under the guard;
    # here, its modules import nothing of the registry and declare no table of it to read
    import importlib
    import pkgutil

    from carnet_core.patients.guard import plugin_packages

    packages = plugin_packages(plugin_host) - {"sneaky_plugin"}
    assert "carnet_scheduling" in packages
    offenders = []
    for package in sorted(packages):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            source = importlib.util.find_spec(info.name).loader.get_source(info.name) or ""
            # foreign keys may name core_patient (same_clinic); reading it may not
            if "carnet_core.patients" in source or 'table("core_patient' in source:
                offenders.append(info.name)
    assert offenders == []


def _records(carnet_db, clinic, patient_id: int, action: str) -> list[Any]:
    with carnet_db.session(clinic_id=clinic.id) as db:
        return list(db.exec(select(AuditRecord).where(AuditRecord.patient_id == patient_id,
                                                      AuditRecord.action == action)).all())


def test_guardians_are_the_recorded_holders_for_those_who_see_the_patient_and_audited(carnet_db, clinic, practice):
    from carnet_core.patients.services import create_patient

    with carnet_db.session(clinic_id=clinic.id) as db:
        chloe = create_patient(db, practice["sec"], {
            "last_name": "Lefèvre", "first_name": "Chloé", "practitioner_id": practice["pia"].user_id,
            "guardians": [
                {"relation": "mother", "last_name": "Lefèvre", "first_name": "Anne", "email": "anne@example.fr"},
                {"relation": "father", "last_name": "Roux", "first_name": "Marc", "phone": "0611223344"},
            ]}).id
    with carnet_db.session(clinic_id=clinic.id) as db:
        found = access(db, practice["pia"]).guardians(chloe)
        assert [(g.relation, g.display_name, g.email, g.phone) for g in found] == [
            ("mother", "Anne Lefèvre", "anne@example.fr", None), ("father", "Marc Roux", None, "+33611223344")]
        assert len({g.id for g in found}) == 2
        assert access(db, practice["paul"]).guardians(chloe) == []  # not his patient
        assert access(db, practice["pia"]).guardians(practice["bruno"]) == []
        assert access(db, practice["sec"]).guardians(practice["bruno"]) == []  # none recorded
    with carnet_db.session(clinic_id=clinic.id) as db:
        reads = db.exec(select(AuditRecord).where(AuditRecord.patient_id == chloe,
                                                  AuditRecord.action == "read")).all()
        assert any("guardians" in str(r.details) for r in reads)
