"""Existing clear cancellation reasons and prescription texts are sealed by the upgrade
(scheduling_0007 makes the columns binary; `carnet init`'s legacy step seals the values with the
patient's key), on SQLite and PostgreSQL; a second `carnet init` changes nothing."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from carnet_core.plugin_api import open_
from carnet_core.testing import build_plugin_host, carnet_init, migrations, open_database
from carnet_core.testing.plugin import make_settings

REASON = "Hospitalisation-Canari pour bronchiolite"
PRESCRIBER = "Dr Canari-Prescripteur"
ACTS = "AMK-Canari 7.5"
NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _insert(conn, table: str, **values):
    t = sa.Table(table, sa.MetaData(), autoload_with=conn)
    return conn.execute(sa.insert(t).values(**values)).inserted_primary_key[0]


def _old_rows(db):
    """Rows as a clinic running scheduling_0006 has them: the texts in clear."""
    with db.engine.begin() as conn:
        clinic = _insert(conn, "core_clinic", slug="ancien", name="Ancien cabinet", timezone="Europe/Paris",
                         created_at=NOW)
        user = _insert(conn, "core_user", email="claire@ancien.fr", display_name="Claire", created_at=NOW,
                       **_user_defaults(conn))
        patient = _insert(conn, "core_patient", clinic_id=clinic, identity_status="provisional", archived=False,
                          created_at=NOW, updated_at=NOW)
        kind = _insert(conn, "scheduling_appointment_type", clinic_id=clinic, name="Séance", duration_minutes=30,
                       modality="cabinet", colour="#3b82f6", bookable_online=False, reminders=True,
                       new_patients_allowed=True, billable=True, active=True)
        cancelled = _insert(conn, "scheduling_appointment", clinic_id=clinic, practitioner_id=user,
                            patient_id=patient, type_id=kind, starts_at=NOW, ends_at=NOW.replace(hour=10),
                            local_day=date(2026, 1, 5), status="cancelled", billable=True, cancel_reason=REASON,
                            source="staff", created_at=NOW, updated_at=NOW)
        kept = _insert(conn, "scheduling_appointment", clinic_id=clinic, practitioner_id=user, patient_id=patient,
                       type_id=kind, starts_at=NOW.replace(hour=11), ends_at=NOW.replace(hour=12),
                       local_day=date(2026, 1, 5), status="booked", billable=False, source="staff",
                       created_at=NOW, updated_at=NOW)
        full = _insert(conn, "scheduling_prescription", clinic_id=clinic, patient_id=patient, practitioner_id=user,
                       prescribed_on=date(2026, 1, 2), prescriber=PRESCRIBER, sessions_prescribed=10, acts=ACTS,
                       created_at=NOW)
        empty = _insert(conn, "scheduling_prescription", clinic_id=clinic, patient_id=patient, practitioner_id=user,
                        prescribed_on=date(2026, 1, 2), prescriber="", sessions_prescribed=5, acts="",
                        created_at=NOW)
    return clinic, patient, cancelled, kept, full, empty


def _user_defaults(conn):
    """Values for the NOT NULL columns of core_user without a default (they vary by core version)."""
    t = sa.Table("core_user", sa.MetaData(), autoload_with=conn)
    filled = {}
    for c in t.columns:
        if c.nullable or c.primary_key or c.server_default is not None or c.name in (
                "email", "display_name", "created_at"):
            continue
        python = c.type.python_type
        filled[c.name] = {bool: False, int: 0, str: "", datetime: NOW}.get(python, "")
    return filled


def _upgrade_seals_the_old_values(settings):
    host = build_plugin_host(settings)
    db = open_database(settings, host)
    try:
        migrations.upgrade(db, host, target="scheduling_0006")
        clinic, patient, cancelled, kept, full, empty = _old_rows(db)

        output = list(carnet_init(settings, host, db))
        assert any("3 values left in clear by a migration are now sealed" in line for line in output), output
        with db.engine.connect() as conn:
            raw = repr(conn.exec_driver_sql("SELECT * FROM scheduling_appointment").fetchall()) + repr(
                conn.exec_driver_sql("SELECT * FROM scheduling_prescription").fetchall())
        for needle in ("Canari", "AMK"):
            assert needle not in raw

        from carnet_scheduling.models import Appointment, Prescription

        with db.session(clinic_id=clinic) as session:
            assert open_(session, session.get(Appointment, cancelled), "cancel_reason") == REASON
            assert session.get(Appointment, kept).cancel_reason is None
            first, second = session.get(Prescription, full), session.get(Prescription, empty)
            assert (open_(session, first, "prescriber"), open_(session, first, "acts")) == (PRESCRIBER, ACTS)
            assert first.prescriber[1:2] == b"s"  # sealed with the patient's key (erased with the patient)
            assert second.prescriber is None and second.acts is None
            before = bytes(first.acts)
        # a second `carnet init` changes nothing
        again = list(carnet_init(settings, host, db))
        assert not any("now sealed" in line for line in again)
        with db.session(clinic_id=clinic) as session:
            assert bytes(session.get(Prescription, full).acts) == before
        assert migrations.drift(db, host) == []
    finally:
        db.dispose()


def test_existing_clear_texts_are_sealed_on_sqlite(tmp_path):
    _upgrade_seals_the_old_values(make_settings(tmp_path / "home"))


@pytest.mark.postgres
def test_existing_clear_texts_are_sealed_on_postgresql(tmp_path):
    base = os.environ["CARNET_TEST_DATABASE_URL"]
    name = f"carnet_seal_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
        _upgrade_seals_the_old_values(make_settings(tmp_path / "home", url))
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
