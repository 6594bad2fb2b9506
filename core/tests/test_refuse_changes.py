"""`refuse_changes`, the migration helper that makes rows immutable in the database itself: one
trigger per event on SQLite and PostgreSQL, a condition that may query another table, columns an
UPDATE may still change alone (a re-seal), and `drop_refusals` taking them away."""

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from carnet_core.db.schema import drop_refusals, refuse_changes
from carnet_core.testing import test_database_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'refuse.db'}")
    else:
        url = test_database_url()  # the `postgres` mark's gate: skipped without it, failed in CI
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)
                                  if url.startswith("postgresql://") else url)
    with engine.begin() as conn:
        for table in ("refuse_line", "refuse_doc"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE" if request.param == "postgresql"
                                 else f"DROP TABLE IF EXISTS {table}")
        conn.exec_driver_sql("CREATE TABLE refuse_doc (id INTEGER PRIMARY KEY, status VARCHAR(8), "
                             "total INTEGER, secret VARCHAR(20))")
        conn.exec_driver_sql("CREATE TABLE refuse_line (id INTEGER PRIMARY KEY, doc_id INTEGER, amount INTEGER)")
        conn.exec_driver_sql("INSERT INTO refuse_doc VALUES (1, 'issued', 10, 'a'), (2, 'draft', 5, 'b')")
        conn.exec_driver_sql("INSERT INTO refuse_line VALUES (1, 1, 10), (2, 2, 5)")
        op = Operations(MigrationContext.configure(conn))
        refuse_changes(op, "refuse_doc", "refuse_doc_issued", when="OLD.status = 'issued'", unless_only=("secret",),
                       message="refuse_doc is issued: it's kept")
        refuse_changes(op, "refuse_line", "refuse_line_issued", events=("INSERT",),
                       when="(SELECT status FROM refuse_doc WHERE id = NEW.doc_id) = 'issued'",
                       message="line of an issued doc refused")
    yield engine
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE refuse_line")
        conn.exec_driver_sql("DROP TABLE refuse_doc")
        if request.param == "postgresql":
            for name in ("refuse_doc_issued_update", "refuse_doc_issued_delete", "refuse_line_issued_insert"):
                conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}()")
    engine.dispose()


def _refused(engine, statement):
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(statement)
    except sa.exc.DBAPIError as exc:
        return str(exc.orig)
    return None


def test_refused_changes_name_the_reason_and_leave_the_row(engine):
    assert "refuse_doc is issued: it's kept" in _refused(engine, "UPDATE refuse_doc SET total = 0 WHERE id = 1")
    assert "it's kept" in _refused(engine, "DELETE FROM refuse_doc WHERE id = 1")
    assert "issued doc refused" in _refused(engine, "INSERT INTO refuse_line VALUES (3, 1, 1)")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT total FROM refuse_doc WHERE id = 1").scalar() == 10
        assert conn.exec_driver_sql("SELECT count(*) FROM refuse_line").scalar() == 2


def test_outside_the_condition_and_for_the_allowed_columns_changes_pass(engine):
    assert _refused(engine, "UPDATE refuse_doc SET total = 6 WHERE id = 2") is None
    assert _refused(engine, "INSERT INTO refuse_line VALUES (3, 2, 1)") is None
    assert _refused(engine, "UPDATE refuse_doc SET secret = 'resealed' WHERE id = 1") is None
    assert _refused(engine, "UPDATE refuse_doc SET secret = 'x', total = 1 WHERE id = 1") is not None
    assert _refused(engine, "DELETE FROM refuse_doc WHERE id = 2") is None


def test_drop_refusals_takes_the_triggers_away(engine):
    with engine.begin() as conn:
        drop_refusals(Operations(MigrationContext.configure(conn)), "refuse_doc", "refuse_doc_issued")
    assert _refused(engine, "UPDATE refuse_doc SET total = 0 WHERE id = 1") is None
    assert _refused(engine, "INSERT INTO refuse_line VALUES (3, 1, 1)") is not None


def test_an_unknown_event_is_refused_before_anything_is_created(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        with pytest.raises(ValueError, match="unknown event 'TRUNCATE'"):
            refuse_changes(Operations(MigrationContext.configure(conn)), "t", "t_kept", events=("TRUNCATE",),
                           message="no")
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").scalar() == 0
