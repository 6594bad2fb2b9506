"""Helpers for the audit tamper tests: an attacker's connection, running `carnet audit verify`.

Tampering bypasses the append-only triggers as an attacker with database access would: by
dropping them (SQLite) or with session_replication_role = replica (PostgreSQL).
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import sqlalchemy as sa
from click.testing import CliRunner

from carnet_core import audit
from carnet_core.audit.integrity import make_checkpoint
from carnet_core.audit.models import AuditRecord
from carnet_core.cli import main

TABLE = AuditRecord.__table__


@contextmanager
def tampering(carnet_db):
    """A connection on which the append-only guards are off, as for an attacker with DB access."""
    with carnet_db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for (name,) in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'core_audit%'"
            ).all():
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield conn


def row(conn, seq, clinic_id=None):
    stmt = sa.select(TABLE).where(TABLE.c.seq == seq)
    if clinic_id is not None:
        stmt = stmt.where(TABLE.c.clinic_id == clinic_id)
    return conn.execute(stmt).mappings().one()


def run_verify(carnet_settings, *args):
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    result = CliRunner().invoke(main, ["audit", "verify", *args], env=env)
    return result.exit_code, result.output


def verify_report(carnet_settings, slug):
    """(exit code, the JSON report of one clinic) of `carnet audit verify --clinic SLUG --json`.

    The JSON is standard output; log lines go to standard error."""
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    result = CliRunner().invoke(main, ["audit", "verify", "--clinic", slug, "--json"], env=env)
    (report,) = json.loads(result.stdout)
    return result.exit_code, report


def write_trail(carnet_db, clinic_id, keys_dir, count=10, checkpoints=(5, 10)):
    """`count` records with every column filled (no NULL hides an edit), each in its own
    transaction, and a signed checkpoint after the records whose seq is in `checkpoints`."""
    for i in range(1, count + 1):
        with carnet_db.session(clinic_id=clinic_id) as db:
            db.info.update(address=f"192.0.2.{i}", request_id=f"req-{i}")
            audit.record(db, action="read", resource_type="patient", resource_id=100 + i,
                         patient_id=100 + i, actor=f"user:{i}", details={"n": i})
            if i in checkpoints:
                make_checkpoint(db, keys_dir, clinic_id)
