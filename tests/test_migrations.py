"""Migrations are the only way the schema is made; they apply to empty databases with no drift."""

import os
import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from carnet_core.db import migrate
from carnet_core.db.session import Database
from carnet_core.plugins import build_plugin_host
from carnet_core.testing.plugin import make_settings

ROOT = Path(__file__).resolve().parents[1]


def _assert_migrates_without_drift(db: Database, host) -> None:
    migrate.upgrade(db, host)
    applied, heads = migrate.current_heads(db, host)
    assert applied == heads
    assert migrate.drift(db, host) == []
    # a second upgrade is a no-op
    migrate.upgrade(db, host)
    assert migrate.current_heads(db, host)[0] == heads


def test_migrations_apply_to_an_empty_sqlite_database_without_drift(tmp_path):
    settings = make_settings(tmp_path / "home")
    host = build_plugin_host(settings)
    db = Database(settings.database_url)
    _assert_migrates_without_drift(db, host)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


@pytest.mark.postgres
def test_migrations_apply_to_an_empty_postgresql_database_without_drift(tmp_path):
    base = os.environ["CARNET_TEST_DATABASE_URL"]
    name = f"carnet_mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        parts = urlsplit(base)
        url = urlunsplit(parts._replace(path=f"/{name}"))
        settings = make_settings(tmp_path / "home", url)
        host = build_plugin_host(settings)
        db = Database(url)
        _assert_migrates_without_drift(db, host)
        db.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_no_code_outside_tests_creates_tables_with_create_all():
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        parts = set(rel.parts)
        if parts & {".venv", "tests", "node_modules", "bench"} or "testing" in parts:
            continue
        if re.search(r"\.create_all\(", path.read_text(encoding="utf-8")):
            offenders.append(str(rel))
    assert offenders == []


def test_drift_check_notices_a_schema_that_differs_from_the_models(tmp_path):
    settings = make_settings(tmp_path / "home")
    host = build_plugin_host(settings)
    db = Database(settings.database_url)
    migrate.upgrade(db, host)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE core_clinic ADD COLUMN stray INTEGER")
    diffs = migrate.drift(db, host)
    assert any("stray" in repr(d) for d in diffs)
    db.dispose()
