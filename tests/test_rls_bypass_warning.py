"""A start-up warning when the application's PostgreSQL role skips row-level security.

PostgreSQL applies the clinic policies (tests/test_row_security.py) to neither superusers nor
roles with BYPASSRLS: connected as one, raw SQL is no longer clinic-scoped, silently. Every process
(web, worker, scheduler, CLI) says so at start, with the fix.
"""

from __future__ import annotations

import logging

import pytest
from litestar.testing import TestClient

from carnet_core.db.schema import rls_bypass
from carnet_core.db.session import Database
from carnet_core.process import open_database
from carnet_core.web.app import create_app


def _role(carnet_db, name: str, attributes: str) -> str:
    with carnet_db.engine.begin() as conn:
        role = f"{name}_{conn.exec_driver_sql('SELECT current_database()').scalar()}"[:63]
        if not conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).scalar():
            conn.exec_driver_sql(f'CREATE ROLE "{role}" NOLOGIN {attributes}')
        conn.exec_driver_sql(f'GRANT "{role}" TO current_user')
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        conn.exec_driver_sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
    return role


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "row-level security" in r.getMessage()]


@pytest.mark.postgres
def test_a_superuser_connection_is_reported_with_the_fix(carnet_db, carnet_settings, plugin_host, caplog):
    # the suite connects as `postgres`, a superuser
    problem = rls_bypass(carnet_db)
    assert problem is not None
    assert "superuser" in problem and "CARNET_DATABASE_ROLE" in problem and "NOBYPASSRLS" in problem
    caplog.set_level(logging.WARNING)
    open_database(carnet_settings, plugin_host).dispose()  # CLI, worker and scheduler processes
    assert _warnings(caplog) == [problem]


@pytest.mark.postgres
def test_the_web_app_warns_at_start(carnet_db, carnet_settings, plugin_host, caplog):
    app = create_app(carnet_settings, host=plugin_host, db=carnet_db)
    caplog.set_level(logging.WARNING)
    with TestClient(app=app):
        pass
    assert _warnings(caplog) == [rls_bypass(carnet_db)]


@pytest.mark.postgres
def test_a_bypassrls_role_is_reported_and_an_application_role_is_not(carnet_db, caplog):
    bypass = Database(carnet_db.url, role=_role(carnet_db, "carnet_bypass", "NOSUPERUSER BYPASSRLS"))
    plain = Database(carnet_db.url, role=_role(carnet_db, "carnet_app", "NOSUPERUSER NOBYPASSRLS"))
    try:
        problem = rls_bypass(bypass)
        assert problem is not None and "BYPASSRLS" in problem and "carnet_bypass" in problem
        assert rls_bypass(plain) is None  # what CARNET_DATABASE_ROLE gives production
    finally:
        bypass.dispose()
        plain.dispose()


def test_sqlite_has_no_row_level_security_to_bypass(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    assert rls_bypass(db) is None
    db.dispose()
