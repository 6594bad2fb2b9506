"""Same-clinic references are enforced by the database: a row of clinic A pointing at clinic B's
patient (or any other clinic-owned row of B) is refused by SQLite and PostgreSQL, whatever the code
that writes it; every reference between clinic-owned tables is a composite `(clinic_id, x)` key."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, select

from carnet_core.db import ClinicOwned, migrate
from carnet_core.db.schema import clinic_key, same_clinic, unscoped_references
from carnet_core.db.session import Database
from carnet_core.plugins import build_plugin_host
from carnet_core.testing.plugin import make_settings


class InlineTopic(ClinicOwned, table=True):
    """A test plugin's table that others point at: it carries its clinic key."""

    __tablename__ = "sctest_topic"
    __table_args__ = (clinic_key("sctest_topic"),)
    id: int | None = Field(default=None, primary_key=True)


class InlineNote(ClinicOwned, table=True):
    """A test plugin's table: a note about a patient, under a topic."""

    __tablename__ = "sctest_note"
    __table_args__ = (same_clinic("patient_id", "core_patient"), same_clinic("topic_id", "sctest_topic"))
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(index=True)
    topic_id: int | None = Field(default=None)


def _owned_tables(host) -> set[str]:
    from sqlmodel.main import default_registry

    migrate.import_models(host)
    prefixes = migrate.owned_prefixes(host)
    return {
        m.local_table.name for m in default_registry.mappers
        if issubclass(m.class_, ClinicOwned) and m.local_table.name.startswith(prefixes)
    }


def test_every_reference_between_clinic_owned_tables_is_a_same_clinic_key(plugin_host):
    owned = _owned_tables(plugin_host)
    assert {"core_patient", "core_patient_guardian", "scheduling_appointment"} <= owned
    assert unscoped_references(SQLModel.metadata, owned) == []


def test_the_contract_names_the_fix_for_a_plain_key_and_for_a_parent_without_clinic_key():
    metadata = sa.MetaData()
    sa.Table("core_patient", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("clinic_id", sa.Integer))
    sa.Table("x_plain", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("clinic_id", sa.Integer),
             sa.Column("patient_id", sa.ForeignKey("core_patient.id")))
    sa.Table("x_bare", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("clinic_id", sa.Integer),
             sa.Column("patient_id", sa.Integer))
    sa.Table("x_keyed", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("clinic_id", sa.Integer),
             sa.Column("patient_id", sa.Integer), same_clinic("patient_id", "core_patient"))
    problems = unscoped_references(metadata, {"core_patient", "x_plain", "x_bare", "x_keyed"})
    assert len(problems) == 3, problems
    assert any("x_plain.patient_id references core_patient of any clinic" in p
               and "same_clinic('patient_id', 'core_patient')" in p for p in problems)
    assert any("x_bare.patient_id names a patient without a foreign key" in p for p in problems)
    assert any("core_patient is referenced by x_keyed.patient_id but has no clinic key" in p
               and "create_clinic_key(op, 'core_patient')" in p for p in problems)


@pytest.fixture
def two_clinics(make_clinic, staff, carnet_db):
    from carnet_core.patients.models import Patient

    a, b = make_clinic("cabinet-a"), make_clinic("cabinet-b")
    people = {}
    for place in (a, b):
        member = staff("owner,practitioner", clinic=place, email=f"owner@{place.slug}.test")
        with carnet_db.session(clinic_id=place.id) as db:
            patient = Patient(practitioner_id=member.id)
            db.add(patient)
            db.flush()
            people[place.slug] = (member.id, patient.id)
    return a, b, people


def _refused(carnet_db, clinic_id, make_row):
    with pytest.raises(IntegrityError):
        with carnet_db.session(clinic_id=clinic_id) as db:
            db.add(make_row(db))
            db.flush()


def test_a_clinic_a_row_pointing_at_clinic_b_patient_is_refused_by_the_database(carnet_db, two_clinics):
    from carnet_scheduling.models import Appointment, AppointmentType, Prescription

    a, b, people = two_clinics
    (a_user, a_patient), (_, b_patient) = people["cabinet-a"], people["cabinet-b"]
    with carnet_db.session(clinic_id=a.id) as db:
        kind = AppointmentType(name="Séance", duration_minutes=30)
        db.add(kind)
        db.flush()
        type_id = kind.id
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def appointment(patient_id, type_id=type_id):
        return lambda db: Appointment(practitioner_id=a_user, patient_id=patient_id, appointment_type_id=type_id,
                                      starts_at=start, ends_at=start + timedelta(minutes=30),
                                      local_day=start.date())

    # the ORM stamps clinic A on the row; the patient id is B's: the composite key refuses it
    _refused(carnet_db, a.id, appointment(b_patient))
    _refused(carnet_db, a.id, lambda db: Prescription(patient_id=b_patient, practitioner_id=a_user,
                                                      prescribed_on=date(2026, 3, 1), sessions_prescribed=10))
    # so is a clinic-B appointment type used in clinic A (any clinic-owned parent, not only patients)
    with carnet_db.session(clinic_id=b.id) as db:
        b_kind = AppointmentType(name="Bilan", duration_minutes=60)
        db.add(b_kind)
        db.flush()
        b_type = b_kind.id
    _refused(carnet_db, a.id, appointment(a_patient, b_type))
    # raw SQL does not get around it either
    with pytest.raises(IntegrityError):
        with carnet_db.session(clinic_id=a.id) as db:
            db.connection().execute(sa.text(
                "INSERT INTO scheduling_prescription (clinic_id, patient_id, practitioner_id, prescribed_on, "
                "prescriber, sessions_prescribed, acts, created_at) "
                "VALUES (:c, :p, :u, '2026-03-01', '', 1, '', '2026-03-01')"), {"c": a.id, "p": b_patient, "u": a_user})
    # the same rows pointing at clinic A's own patient and type are accepted
    with carnet_db.session(clinic_id=a.id) as db:
        db.add(appointment(a_patient)(db))
    with carnet_db.session(clinic_id=a.id) as db:
        assert len(db.exec(select(Appointment)).all()) == 1


@pytest.fixture
def inline_note_table(carnet_db):
    tables = [InlineTopic.__table__, InlineNote.__table__]
    SQLModel.metadata.create_all(carnet_db.engine, tables=tables)
    yield
    SQLModel.metadata.drop_all(carnet_db.engine, tables=tables)


def test_a_plugin_table_declared_with_same_clinic_refuses_another_clinics_patient_and_row(
    carnet_db, two_clinics, inline_note_table
):
    a, b, people = two_clinics
    a_patient, b_patient = people["cabinet-a"][1], people["cabinet-b"][1]
    _refused(carnet_db, a.id, lambda db: InlineNote(patient_id=b_patient))
    with carnet_db.session(clinic_id=b.id) as db:
        topic = InlineTopic()
        db.add(topic)
        db.flush()
        b_topic = topic.id
    _refused(carnet_db, a.id, lambda db: InlineNote(patient_id=a_patient, topic_id=b_topic))
    with carnet_db.session(clinic_id=a.id) as db:
        topic = InlineTopic()
        db.add(topic)
        db.flush()
        db.add(InlineNote(patient_id=a_patient, topic_id=topic.id))


def _scratch_database(tmp_path, dialect):
    """An empty database of its own (the migration test applies revisions one by one)."""
    if dialect == "sqlite":
        settings = make_settings(tmp_path / "home")
        return settings, Database(settings.database_url), None
    base = os.environ["CARNET_TEST_DATABASE_URL"]
    name = f"carnet_sc_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return make_settings(tmp_path / "home", url), Database(url), drop


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_the_migration_keeps_existing_scheduling_rows_and_then_refuses_cross_clinic_ones(tmp_path, dialect):
    from alembic import command

    settings, db, drop = _scratch_database(tmp_path, dialect)
    try:
        host = build_plugin_host(settings)
        migrate.import_models(host)
        cfg = migrate.alembic_config(db, host)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "scheduling_0004")
        start = "2026-03-02 09:00:00"
        with db.engine.begin() as conn:
            run = conn.exec_driver_sql
            for cid, slug in ((1, "a"), (2, "b")):
                run(f"INSERT INTO core_clinic (id, slug, name, timezone, created_at) "
                    f"VALUES ({cid}, '{slug}', '{slug}', 'Europe/Paris', '{start}')")
            run(f"INSERT INTO core_user (id, email, display_name, disabled, created_at, updated_at) "
                f"VALUES (1, 'u@x.test', 'U', false, '{start}', '{start}')")
            run(f"INSERT INTO core_patient (id, clinic_id, identity_status, archived, created_at, updated_at) "
                f"VALUES (1, 1, 'provisional', false, '{start}', '{start}'), "
                f"(2, 2, 'provisional', false, '{start}', '{start}')")
            run("INSERT INTO scheduling_appointment_type (id, clinic_id, name, duration_minutes, modality, colour, "
                "bookable_online, reminders, new_patients_allowed, billable, active) "
                "VALUES (1, 1, 'Séance', 30, 'cabinet', '#3b82f6', false, true, true, true, true)")
            run("INSERT INTO scheduling_appointment (id, clinic_id, practitioner_id, patient_id, type_id, starts_at, "
                "ends_at, local_day, status, billable, source, created_at, updated_at) VALUES "
                f"(1, 1, 1, 1, 1, '{start}', '2026-03-02 09:30:00', '2026-03-02', 'booked', true, 'staff', "
                f"'{start}', '{start}')")
            run("INSERT INTO scheduling_reminder_rule (id, clinic_id, channel, minutes_before, active, created_at) "
                f"VALUES (1, 1, 'email', 60, true, '{start}')")
            run("INSERT INTO scheduling_reminder (id, clinic_id, appointment_id, rule_id, channel, due_at, status, "
                f"attempts, updated_at) VALUES (1, 1, 1, 1, 'email', '{start}', 'scheduled', 0, '{start}')")
        migrate.upgrade(db, host)
        assert migrate.drift(db, host) == []
        with db.engine.begin() as conn:
            assert conn.exec_driver_sql("SELECT patient_id, status FROM scheduling_appointment").all() == [
                (1, "booked")]
            assert conn.exec_driver_sql("SELECT appointment_id FROM scheduling_reminder").all() == [(1,)]
        # now clinic 1's appointment may not point at clinic 2's patient
        with pytest.raises(IntegrityError):
            with db.engine.begin() as conn:
                conn.exec_driver_sql("UPDATE scheduling_appointment SET patient_id = 2 WHERE id = 1")
        # and the SQLite no-double-booking triggers survived the table rebuild
        if dialect == "sqlite":
            with db.engine.connect() as conn:
                triggers = {r[0] for r in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'scheduling_appointment'")}
                assert triggers == {"scheduling_appointment_no_overlap_insert",
                                    "scheduling_appointment_no_overlap_update"}
                billable = conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE name = 'uq_scheduling_appointment_billable_day'").scalar()
                assert "WHERE" in billable
    finally:
        db.dispose()
        if drop:
            drop()
