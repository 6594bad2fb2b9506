"""`carnet backup` / `carnet restore` / `carnet backup drill`: a demo clinic with every plugin is
backed up, restored into an empty instance with its keys put back apart, and every verifier passes
(audit trail, keys, billing's hash chain), on SQLite and on PostgreSQL (throwaway databases).
A backup holds no key material."""

from __future__ import annotations

import base64
import json
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from carnet_core.cli import main

DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


class Instance:
    """A Carnet home and its own database (SQLite file, or a throwaway PostgreSQL database)."""

    def __init__(self, home: Path, dialect: str):
        self.home = home
        self.drops: list[str] = []
        if dialect == "sqlite":
            self.url = f"sqlite:///{home / 'carnet.db'}"
            self.admin = None
        else:
            base = os.environ["CARNET_TEST_DATABASE_URL"]
            self.admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1),
                                          isolation_level="AUTOCOMMIT")
            name = f"{urlsplit(base).path.lstrip('/')}_restore_{uuid.uuid4().hex[:8]}"
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            self.drops.append(name)
            self.url = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))

    @property
    def env(self) -> dict[str, str]:
        return {"CARNET_HOME": str(self.home), "CARNET_DATABASE_URL": self.url, "CARNET_TESTING": "1",
                "CARNET_PASSWORD_HASH_MEMORY_KIB": "1024", "CARNET_IN_PROCESS_WORKER": "0"}

    def run(self, *args: str, **env: str):
        return CliRunner().invoke(main, list(args), env={**self.env, **env}, catch_exceptions=False)

    def close(self) -> None:
        if self.admin is not None:
            with self.admin.connect() as conn:
                for name in self.drops:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.admin.dispose()


@pytest.fixture
def instances(tmp_path):
    made: list[Instance] = []

    def make(name: str, dialect: str) -> Instance:
        inst = Instance(tmp_path / name, dialect)
        made.append(inst)
        return inst

    yield make
    for inst in made:
        inst.close()


def _demo_instance(instances, dialect: str) -> Instance:
    source = instances("source", dialect)
    for args in (["init"], ["demo"], ["audit", "checkpoint"]):
        result = source.run(*args)
        assert result.exit_code == 0, result.output
    return source


def _audit_something(inst: Instance) -> None:
    """One more audit record in the demo clinic (its chain head moves on)."""
    from carnet_core.audit.services import record
    from carnet_core.db.session import Database

    db = Database(inst.url)
    with db.session(clinic_id=1) as s:
        record(s, actor="system:test", action="test", resource_type="test")
    db.dispose()


def _issued_notes(url: str) -> int:
    from carnet_core.db.session import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM billing_note WHERE status = 'issued'").scalar()
    finally:
        engine.dispose()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_backup_then_restore_into_an_empty_instance_passes_audit_keys_and_billing_verifiers(instances, dialect):
    source = _demo_instance(instances, dialect)
    made = source.run("backup")
    assert made.exit_code == 0, made.output
    backups = sorted((source.home / "backups").iterdir())
    assert len(backups) == 1 and backups[0].name.startswith("carnet-backup-")
    manifest = json.loads((backups[0] / "manifest.json").read_text())
    assert manifest["database"] == dialect and manifest["plugins"].keys() >= {"billing", "scheduling"}
    assert "core_backup_0001" in manifest["alembic_revisions"] and manifest["files"][0]["sha256"]
    assert _issued_notes(source.url) > 0  # the billing verifier has a chain to check

    target = instances("target", dialect)
    target.home.mkdir(parents=True)
    refused = target.run("restore", str(backups[0]))  # the keys are not in the backup
    assert refused.exit_code == 2 and "the keys are not in place" in refused.output
    assert not (target.home / "carnet.db").exists()
    shutil.copytree(source.home / "keys", target.home / "keys", dirs_exist_ok=True)  # keys come back apart
    restored = target.run("restore", str(backups[0]))
    assert restored.exit_code == 0, restored.output
    out = restored.output
    assert "cabinet-des-tilleuls: audit: ok" in out and "1 checkpoint(s)" in out
    assert "cabinet-des-tilleuls: keys: ok" in out and "cabinet-des-tilleuls: billing: ok (intact)" in out
    assert _issued_notes(target.url) == _issued_notes(source.url)
    verified = target.run("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output
    assert target.run("verify").exit_code == 0

    again = target.run("restore", str(backups[0]))  # the instance is no longer empty
    assert again.exit_code == 2
    assert "not empty" in again.output


@pytest.mark.parametrize("dialect", DIALECTS)
def test_restore_drill_restores_into_a_throwaway_database_and_records_its_date(instances, dialect):
    source = _demo_instance(instances, dialect)
    assert source.run("backup").exit_code == 0
    # a checkpoint signed after the backup: the drill verifies against the log as it stood then
    from carnet_core.audit.checkpoints import read_log

    _audit_something(source)
    assert source.run("audit", "checkpoint").exit_code == 0
    assert len(read_log(source.home / "keys").entries) == 2
    drilled = source.run("backup", "drill")
    assert drilled.exit_code == 0, drilled.output
    assert "restore drill passed" in drilled.output
    listing = json.loads(source.run("backup", "list", "--json").stdout)
    assert len(listing) == 1 and listing[0]["restore_test_ok"] is True and listing[0]["restore_tested_at"]
    if dialect == "postgresql":
        with source.admin.connect() as conn:
            left = conn.exec_driver_sql("SELECT count(*) FROM pg_database WHERE strpos(datname, '_drill_') > 0").scalar()
        assert left == 0
    else:
        assert not list(source.home.glob(".drill-*"))


def test_a_damaged_backup_is_refused_before_anything_is_written(instances):
    source = _demo_instance(instances, "sqlite")
    assert source.run("backup").exit_code == 0
    backup = next((source.home / "backups").iterdir())
    data = backup / "database.sqlite3"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    target = instances("target", "sqlite")
    target.home.mkdir(parents=True)
    shutil.copytree(source.home / "keys", target.home / "keys")
    result = target.run("restore", str(backup))
    assert result.exit_code == 2 and "does not match its SHA-256" in result.output
    assert not (target.home / "carnet.db").exists()


def test_backup_keeps_the_newest_n_copies(instances):
    source = _demo_instance(instances, "sqlite")
    for _ in range(3):
        assert source.run("backup", "--keep", "2").exit_code == 0
    names = sorted(p.name for p in (source.home / "backups").iterdir())
    assert len(names) == 2
    listing = json.loads(source.run("backup", "list", "--json").stdout)
    assert [row["name"] for row in listing] == names


def _secrets(home: Path) -> dict[str, bytes]:
    """Every secret the instance holds, in the forms a leak could take."""
    from cryptography.hazmat.primitives import serialization

    from carnet_core.identity.keys import _derive

    master = base64.b64decode((home / "keys" / "master.key").read_text().strip())
    found = {"master raw": master, "master base64": base64.b64encode(master),
             "master hex": master.hex().encode(),
             "identity seal key": _derive(master, b"carnet.identity.seal"),
             "identity mac key": _derive(master, b"carnet.identity.mac")}
    pem = (home / "keys" / "audit-signing.key").read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    found["signing pem body"] = pem.splitlines()[1]
    found["signing raw"] = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                 serialization.NoEncryption())
    return found


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_backup_holds_no_key_material(instances, dialect):
    from carnet_core.db.session import Database
    from carnet_core.encryption.keyprovider import provider_from_settings
    from carnet_core.encryption.models import DataKey, SubjectKey
    from carnet_core.encryption.services import _data_key_context, _subject_key_context, _unwrapper
    from carnet_core.testing.plugin import make_settings

    source = _demo_instance(instances, dialect)
    assert source.run("backup").exit_code == 0
    backup = next((source.home / "backups").iterdir())
    secrets = _secrets(source.home)
    # the clinics' unwrapped data keys too (the backup holds them wrapped only)
    settings = make_settings(source.home, source.url)
    provider = provider_from_settings(settings)
    db = Database(source.url)
    with db.session(unscoped=True) as s:
        data_keys = {}
        for row in s.exec(sa.select(DataKey)).scalars().all():
            data_keys[(row.clinic_id, row.version, row.purpose)] = key = provider.unwrap(
                row.wrapped, _data_key_context(row.clinic_id, row.purpose, row.version))
            secrets[f"data key {row.id}"] = key
        subjects = s.exec(sa.select(SubjectKey).where(SubjectKey.wrapped.is_not(None))).scalars().all()
        assert data_keys and subjects
        for row in subjects:
            secrets[f"subject key {row.id}"] = _unwrapper(data_keys[(row.clinic_id, row.data_key_version, "data")])(
                row.wrapped, _subject_key_context(row.clinic_id, row.subject, row.data_key_version))
    db.dispose()
    files = list(backup.iterdir())
    assert {f.name for f in files} == {"manifest.json", f"database.{'sqlite3' if dialect == 'sqlite' else 'pgdump'}"}
    for file in files:
        content = file.read_bytes()
        if file.suffix == ".pgdump":
            import subprocess

            content += subprocess.run(["pg_restore", "--file=-", str(file)], capture_output=True, check=True).stdout
        for label, secret in secrets.items():
            assert secret not in content, f"{label} found in {file.name}"
    manifest = json.loads((backup / "manifest.json").read_text())
    assert "No key material" in manifest["keys"]


@pytest.mark.parametrize("carnet_env", [{"CARNET_BACKUP_EVERY_HOURS": "24", "CARNET_BACKUP_KEEP": "2"}],
                         indirect=True)
def test_the_scheduled_backup_job_backs_up_when_due_drills_and_keeps_n_copies(jobs_worker, carnet_settings, clinic):
    from datetime import timedelta

    from sqlmodel import select

    from carnet_core.backup.models import BackupRun
    from carnet_core.backup.services import list_backups
    from carnet_core.jobs import enqueue
    from carnet_core.jobs.scheduler import Scheduler
    from carnet_core.jobs.testing import wait_for_jobs

    db = jobs_worker.db

    def runs():
        with db.session(unscoped=True) as s:
            return list(s.exec(select(BackupRun).order_by(BackupRun.id)))

    def age_all():
        with db.session(unscoped=True) as s:
            for run in s.exec(select(BackupRun)):
                run.created_at = run.created_at - timedelta(hours=25)
                s.add(run)

    scheduler = Scheduler(db, jobs_worker.host, jobs_worker.config)
    assert "core.backup" in [s.key for s in scheduler.schedules]
    scheduler.tick()  # the hourly schedule enqueues core.backup: none yet, so one is made
    wait_for_jobs(jobs_worker)
    first = runs()
    assert len(first) == 1 and first[0].trigger == "job"
    assert first[0].restore_test_ok is True and first[0].restore_tested_at is not None  # drilled at once
    with db.session(unscoped=True) as s:  # a second message (redelivery, another scheduler): not due
        enqueue(s, "core.backup")
    wait_for_jobs(jobs_worker)
    assert len(runs()) == 1
    for _ in range(2):
        age_all()
        with db.session(unscoped=True) as s:
            enqueue(s, "core.backup")
        wait_for_jobs(jobs_worker)
    every = runs()
    assert len(every) == 3
    assert [r.pruned_at is not None for r in every] == [True, False, False]
    assert [p.name for p in list_backups(carnet_settings.backups_dir)] == [r.name for r in every[1:]]
