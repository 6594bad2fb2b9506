"""The owners' audit page, and actions that fail when their audit record cannot be written."""

import types

import pytest
from litestar import Request, post
from litestar.di import NamedDependency
from sqlmodel import select

from carnet_core import audit, hookimpl
from carnet_core.audit.models import AuditRecord
from carnet_core.clinics.models import ClinicPlugin
from carnet_core.contrib import Permission
from carnet_core.db.session import CarnetSession


@post("/rename", name="auditdemo.rename", opt={"permission": "auditdemo.write"}, sync_to_thread=True)
def rename(request: Request, db: NamedDependency[CarnetSession]) -> dict:
    """A tiny patient-data-like write: changes a row, then audits it in the same transaction."""
    row = db.exec(select(ClinicPlugin).where(ClinicPlugin.plugin == "auditdemo")).one()
    row.enabled = not row.enabled
    db.add(row)
    db.flush()
    audit.record(db, action="update", resource_type="module", resource_id=row.id, patient_id=77)
    return {"enabled": row.enabled}


demo = types.ModuleType("carnet_auditdemo")
demo.CARNET_CORE_REQUIRES = ">=0.1"
demo.register_permissions = hookimpl(
    lambda: [Permission("auditdemo.write", "Write demo data", roles=("owner",))]
)
demo.register_routes = hookimpl(lambda: [rename])


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("auditdemo", demo)
    return inline_plugins


@pytest.fixture
def owner(staff, client, login_as):
    user = staff("owner")
    login_as(client, user)
    return user


def _records(carnet_db, clinic_id, **where):
    with carnet_db.session(clinic_id=clinic_id) as db:
        stmt = select(AuditRecord).order_by(AuditRecord.seq)
        for key, value in where.items():
            stmt = stmt.where(getattr(AuditRecord, key) == value)
        return list(db.exec(stmt))


def _refuse_audit_inserts(carnet_db):
    with carnet_db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER test_refuse BEFORE INSERT ON core_audit BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER test_refuse BEFORE INSERT ON core_audit FOR EACH ROW EXECUTE FUNCTION test_refuse()"
            )


def _allow_audit_inserts(carnet_db):
    with carnet_db.engine.begin() as conn:
        on_table = "" if conn.dialect.name == "sqlite" else " ON core_audit"
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS test_refuse" + on_table)


def test_owner_sees_the_trail_in_french_and_the_view_is_itself_audited(client, owner, clinic, carnet_db):
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", patient_id=12, actor="user:99")
    response = client.get("/audit")
    assert response.status_code == 200
    assert "Journal d’accès" in response.text
    # in words: who (a staff member without a name here: their number), what, on which kind of record
    assert "membre de l’équipe <code class=\"muted\">99</code>" in response.text
    assert "consulté" in response.text and "dossier patient" in response.text and "dossier n° 12" in response.text
    assert "user:99" not in response.text and ">read<" not in response.text and ">success<" not in response.text
    assert response.headers["cache-control"] == "no-store"
    (view,) = _records(carnet_db, clinic.id, resource_type="audit_trail")
    assert (view.actor_kind, view.actor_user_id, view.action) == ("user", owner.id, "read")
    assert view.request_id and view.address


def test_filters_by_patient_actor_action_and_dates(client, owner, clinic, carnet_db):
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", resource_id="r-12", patient_id=12, actor="user:99")
        audit.record(db, action="update", resource_type="patient", resource_id="r-13", patient_id=13, actor="user:98")
        audit.record(db, action="export", resource_type="patient", resource_id="r-14", patient_id=12,
                     actor="job:exports")
    by_patient = client.get("/audit", params={"patient": "12"}).text
    assert "n° r-12" in by_patient and "n° r-14" in by_patient and "n° r-13" not in by_patient
    by_actor = client.get("/audit", params={"actor": "user:98"}).text
    assert "n° r-13" in by_actor and "n° r-12" not in by_actor
    by_action = client.get("/audit", params={"action": "export"}).text
    assert "n° r-14" in by_action and "n° r-12" not in by_action
    future = client.get("/audit", params={"since": "2999-01-01"}).text
    assert "n° r-12" not in future and "Aucun enregistrement" in future
    today = client.get("/audit", params={"until": "2999-01-01", "since": "2000-01-01"}).text
    assert "n° r-12" in today


def test_htmx_filter_returns_the_rows_partial(client, owner, clinic):
    response = client.get("/audit", params={"action": "read"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text and "<table" in response.text


def test_pages_of_fifty_newest_first(client, owner, clinic, carnet_db):
    with carnet_db.session(clinic_id=clinic.id) as db:
        for i in range(60):
            audit.record(db, action="read", resource_type="patient", resource_id=f"n{i}", actor="system")
    first = client.get("/audit").text
    assert "n° n59" in first and "n° n10" in first and "n° n9<" not in first
    assert "before=" in first
    import re

    before = re.search(r'href="/audit\?([^"]*before=\d+)"', first).group(1).replace("&amp;", "&")
    second = client.get("/audit?" + before).text
    assert "n° n9<" in second and "n° n0<" in second and "n° n10<" not in second


def test_people_and_patients_are_chosen_from_lists_by_name(client, owner, clinic, carnet_db, staff):
    """Issue 13: the trail filtered by a person chosen in a list of the clinic's members (their
    actions through the pages and through an API token alike) and by a patient chosen by name in
    the records shown, never by typing ids."""
    from carnet_core.testing import register_patients

    julie = staff("practitioner", name="Julie Praticienne")
    [martin, durand] = register_patients(carnet_db, clinic.id, [("Martin", "Léa"), ("Durand", "Paul")])
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", resource_id="r-1", patient_id=martin,
                     actor=f"user:{julie.id}")
        audit.record(db, action="update", resource_type="patient", resource_id="r-2", patient_id=durand,
                     actor=types.SimpleNamespace(kind="token", user_id=julie.id, extra={"token_id": 7}))
        audit.record(db, action="export", resource_type="patient", resource_id="r-3", patient_id=martin,
                     actor="job:exports")
    page = client.get("/audit").text
    # the list of people: the clinic's members by name, then patients' links, tasks, the system
    assert f'<option value="person:{julie.id}">Julie Praticienne</option>' in page
    assert 'name="patient"' not in page and "placeholder" not in page  # no id to type
    # the patient's name in each record, a link that keeps the other filters
    assert "MARTIN Léa" in page and "DURAND Paul" in page
    by_person = client.get("/audit", params={"actor": f"person:{julie.id}"}).text
    assert "n° r-1" in by_person and "n° r-2" in by_person and "n° r-3" not in by_person
    assert f'href="/audit?actor=person%3A{julie.id}&amp;patient={martin}"' in by_person
    one = client.get("/audit", params={"actor": f"person:{julie.id}", "patient": str(martin)}).text
    assert "n° r-1" in one and "n° r-2" not in one
    assert "Patient : <strong>MARTIN Léa</strong>" in one and f'href="/audit?actor=person%3A{julie.id}"' in one
    assert client.get("/audit", params={"actor": "person:julie"}).status_code == 400


@pytest.mark.parametrize("params", [
    {"since": "31/12/2026"}, {"until": "yesterday"}, {"actor": "robot:1"}, {"patient": "douze"},
    {"action": "drop"}, {"before": "-1"},
])
def test_bad_filters_get_a_400_and_write_nothing(client, owner, clinic, carnet_db, params):
    before = len(_records(carnet_db, clinic.id))
    response = client.get("/audit", params=params)
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert len(_records(carnet_db, clinic.id)) == before


@pytest.mark.parametrize("role", ["practitioner", "secretary"])
def test_only_owners_read_the_trail(client, staff, login_as, role):
    login_as(client, staff(role))
    assert client.get("/audit").status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get("/audit", follow_redirects=False)
    assert response.status_code in (302, 303) and "/login" in response.headers["location"]


def test_another_clinics_records_are_not_shown(client, owner, make_clinic, carnet_db):
    other = make_clinic("autre")
    with carnet_db.session(clinic_id=other.id) as db:
        audit.record(db, action="read", resource_type="patient", resource_id="secret-other", actor="system")
    assert "secret-other" not in client.get("/audit").text


def test_a_forced_audit_failure_fails_the_audit_page(client, owner, clinic, carnet_db):
    before = _records(carnet_db, clinic.id)  # the owner's enrollment and login are traced already
    _refuse_audit_inserts(carnet_db)
    try:
        response = client.get("/audit")
    finally:
        _allow_audit_inserts(carnet_db)
    assert response.status_code == 500
    assert _records(carnet_db, clinic.id) == before


def test_a_forced_audit_failure_fails_a_plugin_write_and_changes_nothing(client, owner, clinic, carnet_db):
    # given a plugin route that changes data and audits it, and a database refusing audit rows
    _refuse_audit_inserts(carnet_db)
    try:
        response = client.post("/auditdemo/rename")
    finally:
        _allow_audit_inserts(carnet_db)
    # then the request fails and the change is rolled back
    assert response.status_code == 500
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.exec(select(ClinicPlugin).where(ClinicPlugin.plugin == "auditdemo")).one().enabled is True
    # and with the audit trail working again the same request succeeds and is traced
    ok = client.post("/auditdemo/rename")
    assert ok.status_code == 201 and ok.json() == {"enabled": False}
    (row,) = _records(carnet_db, clinic.id, resource_type="module")
    assert (row.action, row.patient_id, row.actor_user_id) == ("update", 77, owner.id)


def test_accesses_for_patient_lists_who_opened_the_file(carnet_db, clinic):
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", patient_id=5, actor="user:1")
        audit.record(db, action="read", resource_type="patient", patient_id=6, actor="user:2")
        audit.record(db, action="update", resource_type="patient", patient_id=5, actor="user:3")
    with carnet_db.session(clinic_id=clinic.id) as db:
        rows = audit.accesses_for_patient(db, 5)
    assert [(r.actor_id, r.action) for r in rows] == [("3", "update"), ("1", "read")]
