"""Row-level security on PostgreSQL: a second line under the ORM's clinic filter that holds for raw
SQL. Superusers and BYPASSRLS roles ignore it (the suite connects as `postgres`), so these tests
act as an application role without either, as production must (README, "Production shape")."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from carnet_core.db import migrate
from carnet_core.db.base import ClinicOwned
from carnet_core.db.schema import RLS_POLICY, tables_without_rls
from carnet_core.db.session import Database


@pytest.fixture
def app_role(carnet_db):
    """A login-less role without SUPERUSER or BYPASSRLS, allowed to use this database's tables."""
    with carnet_db.engine.begin() as conn:
        role = f"carnet_app_{conn.exec_driver_sql('SELECT current_database()').scalar()}"[:63]
        if not conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).scalar():
            conn.exec_driver_sql(f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS')
        conn.exec_driver_sql(f'GRANT "{role}" TO current_user')
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        conn.exec_driver_sql(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        conn.exec_driver_sql(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    db = Database(carnet_db.url, role=role)  # what CARNET_DATABASE_ROLE does for the application
    yield db
    db.dispose()


@pytest.fixture
def two_clinics(make_clinic, carnet_db):
    from carnet_core.patients.models import Patient

    clinics = make_clinic("cabinet-a"), make_clinic("cabinet-b")
    for place in clinics:
        with carnet_db.session(clinic_id=place.id) as db:
            db.add_all([Patient(), Patient()])
    return clinics


def _clinics_seen(db_session, table="core_patient"):
    return sorted({row[0] for row in db_session.execute(sa.text(f"SELECT clinic_id FROM {table}"))})


@pytest.mark.postgres
def test_raw_sql_of_a_clinic_session_sees_and_writes_only_its_clinics_rows(app_role, two_clinics):
    a, b = two_clinics
    with app_role.session(clinic_id=a.id) as db:
        assert db.execute(sa.text("SELECT current_user")).scalar() != "postgres"
        # the ORM would add `WHERE clinic_id = a`; raw SQL does not, the policy does
        assert _clinics_seen(db) == [a.id]
        assert db.execute(sa.text("SELECT count(*) FROM core_patient")).scalar() == 2
        assert _clinics_seen(db, "core_clinic_plugin") == [a.id]
        # an UPDATE or DELETE of clinic B's rows touches nothing
        assert db.execute(sa.text("UPDATE core_patient SET archived = true WHERE clinic_id = :b"),
                          {"b": b.id}).rowcount == 0
        assert db.execute(sa.text("DELETE FROM core_patient_settings WHERE clinic_id = :b"),
                          {"b": b.id}).rowcount == 0
    # inserting a clinic-B row from a clinic-A session is refused by the policy
    with pytest.raises(DBAPIError, match="row-level security"):
        with app_role.session(clinic_id=a.id) as db:
            db.execute(sa.text(
                "INSERT INTO core_patient (clinic_id, identity_status, archived, created_at, updated_at) "
                "VALUES (:b, 'provisional', false, now(), now())"), {"b": b.id})
    # nor can a row be moved to clinic B
    with pytest.raises(DBAPIError, match="row-level security"):
        with app_role.session(clinic_id=a.id) as db:
            db.execute(sa.text("UPDATE core_patient SET clinic_id = :b"), {"b": b.id})


@pytest.mark.postgres
def test_an_unscoped_session_sees_every_clinic_and_an_unbound_one_none(app_role, two_clinics):
    a, b = two_clinics
    with app_role.session(unscoped=True) as db:
        assert _clinics_seen(db) == sorted([a.id, b.id])
    with app_role.session() as db:
        assert _clinics_seen(db) == []
    # the setting lasts for one transaction: the pooled connection does not keep clinic A's
    with app_role.session(clinic_id=b.id) as db:
        assert _clinics_seen(db) == [b.id]
    with app_role.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM core_patient")).scalar() == 0


@pytest.mark.postgres
def test_every_clinic_owned_table_has_row_level_security_enabled_forced_with_the_clinic_policy(
    carnet_db, plugin_host
):
    from sqlmodel.main import default_registry

    migrate.import_models(plugin_host)
    prefixes = migrate.owned_prefixes(plugin_host)
    owned = {
        m.local_table.name for m in default_registry.mappers
        if issubclass(m.class_, ClinicOwned) and m.local_table.name.startswith(prefixes)
    }
    assert {"core_patient", "core_audit", "scheduling_appointment"} <= owned
    with carnet_db.engine.connect() as conn:
        assert tables_without_rls(conn, owned) == []
        policies = dict(conn.exec_driver_sql(
            "SELECT c.relname, pg_get_expr(p.polqual, p.polrelid) FROM pg_policy p "
            "JOIN pg_class c ON c.oid = p.polrelid WHERE p.polname = %s", (RLS_POLICY,)).all())
    assert "carnet.clinic_id" in policies["scheduling_appointment"]
    assert "carnet.unscoped" in policies["core_patient"]


@pytest.mark.postgres
def test_the_contract_names_the_fix_for_a_table_without_row_level_security(carnet_db):
    with carnet_db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS rlstest_plain (id int, clinic_id int)")
        missing = tables_without_rls(conn, {"core_patient", "rlstest_plain"})
    assert missing == ["rlstest_plain: no row-level security; call enable_clinic_rls(op, 'rlstest_plain') "
                       "(carnet_core.db.schema) in the migration that creates it"]


def test_carnet_database_role_is_read_and_must_be_a_role_name(tmp_path):
    from carnet_core.settings import SettingsError, load_settings

    env = {"CARNET_HOME": str(tmp_path), "CARNET_DATABASE_URL": "postgresql://carnet@db/carnet"}
    assert load_settings({**env, "CARNET_DATABASE_ROLE": "carnet_app"}).database_role == "carnet_app"
    assert load_settings(env).database_role is None
    with pytest.raises(SettingsError, match="PostgreSQL role name"):
        load_settings({**env, "CARNET_DATABASE_ROLE": 'carnet"; DROP TABLE core_patient; --'})
