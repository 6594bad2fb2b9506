"""`carnet backup` / `carnet restore`: a consistent copy of the database with a manifest, and never
any key material.

A backup is a folder `carnet-backup-<UTC time>` under CARNET_BACKUP_DIR (default
CARNET_HOME/backups) holding the database copy and `manifest.json` (format, time, versions of core
and each plugin, the Alembic revisions applied, size and SHA-256 of every file). It is written
under a hidden `.partial` name and renamed when complete, so a crash never leaves a folder that
looks like a backup.

- SQLite: the online backup API of the `sqlite3` module (a consistent copy while the application
  keeps writing; it copies pages, so WAL content is included).
- PostgreSQL: `pg_dump --format=custom` (one consistent snapshot; compressed; `pg_restore` checks
  its table of contents and can restore in one transaction). Row-level security is left on and
  the dump session is marked unscoped (`carnet.unscoped`), so a non-superuser owner dumps every
  clinic's rows; a role the policies would hide rows from makes pg_dump fail, never dump less.

The master key, the audit signing key and the checkpoint log (CARNET_HOME/keys) are never
copied: sealed columns in a backup are unreadable without the master key, by design. Keys are
backed up apart (docs/OPERATIONS.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from carnet_core.db.base import utcnow
from carnet_core.settings import Settings
from carnet_core.version import __version__

FORMAT = "carnet-backup/1"
PREFIX = "carnet-backup-"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
KEYS_NOTE = (
    "No key material: the master key, the audit signing key and the checkpoint log "
    "(CARNET_HOME/keys, or CARNET_MASTER_KEY / CARNET_MASTER_KEY_FILE) are backed up apart; "
    "without the master key the sealed data in this backup cannot be read."
)


class BackupError(RuntimeError):
    """A backup or restore cannot proceed; the message says why and what to do."""


@dataclass
class BackupResult:
    name: str
    path: Path
    manifest: dict[str, Any]
    pruned: list[str] = field(default_factory=list)


def _kind(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def pg_environment(url: str) -> dict[str, str]:
    """libpq variables for pg_dump / pg_restore: the password never appears on a command line."""
    parts = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for var, value in (("PGHOST", parts.host), ("PGPORT", parts.port), ("PGUSER", parts.username),
                       ("PGPASSWORD", parts.password), ("PGDATABASE", parts.database)):
        if value is not None:
            env[var] = str(value)
    for key, value in parts.query.items():
        if key in ("sslmode", "sslrootcert", "sslcert", "sslkey") and isinstance(value, str):
            env[f"PG{key.upper()}"] = value
    # The policies of enable_clinic_rls let an unscoped session see every clinic's rows.
    env["PGOPTIONS"] = "-c carnet.unscoped=on"
    return env


def pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"`{name}` was not found on PATH: install PostgreSQL's client tools of the server's major "
            "version or newer (Debian: apt-get install postgresql-client) and run the command again"
        )
    return found


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    # argv: the absolute path of pg_dump / pg_restore and Carnet's own options and paths (no shell)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BackupError(f"{what} failed (exit {done.returncode}): " + " | ".join(detail))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def applied_revisions(engine: sa.Engine) -> list[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return sorted(MigrationContext.configure(conn).get_current_heads())


def _copy_sqlite(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _new_name(root: Path, now: datetime) -> str:
    name = f"{PREFIX}{now:%Y%m%dT%H%M%S}Z"
    n = 1
    while (root / name).exists():
        n += 1
        name = f"{PREFIX}{now:%Y%m%dT%H%M%S}Z-{n}"
    return name


def create_backup(settings: Settings, host: Any, db: Any, *, trigger: str = "cli",
                  keep: int | None = None) -> BackupResult:
    """Write a complete backup, record it, then keep the newest `keep` (CARNET_BACKUP_KEEP)."""
    root = settings.backups_dir
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    now = utcnow()
    name = _new_name(root, now)
    work = root / f".{name}.partial"
    work.mkdir(mode=0o700)
    try:
        kind = _kind(settings.database_url)
        if kind == "sqlite":
            data = work / SQLITE_FILE
            _copy_sqlite(sqlite_file(settings.database_url), data)
        else:
            data = work / PG_FILE
            _run([pg_tool("pg_dump"), "--format=custom", "--enable-row-security", "--file", str(data)],
                 pg_environment(settings.database_url), "pg_dump")
        os.chmod(data, 0o600)
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "database": kind,
            "core_version": __version__,
            "plugins": {n: host.plugins[n].version for n in host.names},
            "alembic_revisions": applied_revisions(db.engine),
            "files": [{"name": data.name, "size": data.stat().st_size, "sha256": sha256_file(data)}],
            "keys": KEYS_NOTE,
        }
        manifest_path = work / MANIFEST
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.chmod(manifest_path, 0o600)
        final = root / name
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    from carnet_core.backup.models import BackupRun

    with db.session(unscoped=True) as s:
        s.add(BackupRun(name=name, database=kind, created_at=now, trigger=trigger,
                        size_bytes=sum(f["size"] for f in manifest["files"]),
                        manifest_sha256=sha256_file(final / MANIFEST)))
    pruned = prune_backups(settings, db, keep if keep is not None else settings.backup_keep)
    return BackupResult(name, final, manifest, pruned)


def list_backups(root: Path) -> list[Path]:
    """Complete backups under `root`, oldest first (partial folders are hidden and never listed)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / MANIFEST).is_file())


def prune_backups(settings: Settings, db: Any, keep: int) -> list[str]:
    """Delete all but the newest `keep` complete backups; their rows are marked pruned."""
    if keep < 1:
        raise BackupError("keep at least one backup (CARNET_BACKUP_KEEP >= 1)")
    found = list_backups(settings.backups_dir)
    doomed = found[:-keep] if len(found) > keep else []
    for path in doomed:
        shutil.rmtree(path)
    if doomed:
        from carnet_core.backup.models import BackupRun

        names = [p.name for p in doomed]
        with db.session(unscoped=True) as s:
            s.execute(sa.update(BackupRun.__table__).where(BackupRun.__table__.c.name.in_(names))
                      .values(pruned_at=utcnow()))
    return [p.name for p in doomed]


def read_manifest(source: Path) -> dict[str, Any]:
    """The backup's manifest, after checking every file's size and SHA-256."""
    path = source / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{source} is not a Carnet backup (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} cannot be read: {exc.__class__.__name__}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a {FORMAT} manifest")
    for item in manifest.get("files", []):
        file = source / item["name"]
        if not file.is_file():
            raise BackupError(f"the backup is incomplete: {item['name']} is missing")
        if file.stat().st_size != item["size"] or sha256_file(file) != item["sha256"]:
            raise BackupError(f"the backup is damaged: {item['name']} does not match its SHA-256 in the manifest")
    return manifest


def tables_in(url: str) -> int:
    """How many tables the database at `url` holds (0: an empty instance)."""
    if _kind(url) == "sqlite":
        path = sqlite_file(url)
        if not path.exists():
            return 0
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0])
    from carnet_core.db.session import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()").scalar() or 0)
    finally:
        engine.dispose()


def check_compatible(manifest: dict[str, Any], settings: Settings, host: Any) -> None:
    """Refuse a backup of another database kind, of plugins not installed here, or made by code
    whose migrations this installation does not know (a newer Carnet)."""
    kind = _kind(settings.database_url)
    if manifest["database"] != kind:
        raise BackupError(f"this backup is of a {manifest['database']} database; CARNET_DATABASE_URL is {kind}")
    missing = sorted(set(manifest.get("plugins", {})) - set(host.names))
    if missing:
        raise BackupError(
            f"the backup holds the data of plugins not installed here ({', '.join(missing)}): "
            "install them (same or newer versions) before restoring"
        )
    from alembic.script import ScriptDirectory

    from carnet_core.db.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config(None, host))  # type: ignore[arg-type]
    unknown = []
    for revision in manifest.get("alembic_revisions", []):
        try:
            script.revision_map.get_revision(revision)
        except Exception:  # alembic's ResolutionError / KeyError for a revision it does not have
            unknown.append(revision)
    if unknown:
        raise BackupError(
            f"the backup was made by a newer Carnet (migrations {', '.join(unknown)} are unknown here): "
            "install that version or newer before restoring"
        )


def restore_backup(settings: Settings, host: Any, source: Path) -> dict[str, Any]:
    """Restore the backup at `source` into the (empty) database of `settings`, then bring it to
    this installation's migrations. Returns the manifest. Keys are not touched."""
    manifest = read_manifest(source)
    check_compatible(manifest, settings, host)
    from carnet_core.encryption.keyprovider import MasterKeyError, load_master_key

    try:
        load_master_key(settings)
    except MasterKeyError as exc:
        raise BackupError(
            f"the keys are not in place ({exc}); a backup holds no key material: put the master key "
            "back first (CARNET_HOME/keys from its own backup, or CARNET_MASTER_KEY), then restore; "
            "nothing was changed"
        ) from None
    url = settings.database_url
    found = tables_in(url)
    if found:
        raise BackupError(
            f"the target database is not empty ({found} tables): restore only into an empty instance "
            "(a new database, or a SQLite path that does not exist yet); nothing was changed"
        )
    data = source / manifest["files"][0]["name"]
    if manifest["database"] == "sqlite":
        target = sqlite_file(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
        try:
            _copy_sqlite(data, partial)
            os.chmod(partial, 0o600)
            partial.rename(target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    else:
        _run([pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction",
              "--dbname", make_url(url).database or "", str(data)],
             pg_environment(url), "pg_restore")
    from carnet_core.db.migrate import upgrade
    from carnet_core.db.session import Database

    db = Database(url)
    try:
        upgrade(db, host)
    finally:
        db.dispose()
    return manifest


def find_backup(settings: Settings, name: str | None) -> Path:
    """The named complete backup under CARNET_BACKUP_DIR, or the newest one."""
    found = list_backups(settings.backups_dir)
    if name is None:
        if not found:
            raise BackupError(f"no backup under {settings.backups_dir}; run `carnet backup` first")
        return found[-1]
    for path in found:
        if path.name == name:
            return path
    raise BackupError(f"no backup named {name} under {settings.backups_dir} (see `carnet backup list`)")


def keep_log_until(keys_dir: Path, until: datetime) -> int:
    """After restoring a backup made at `until`: the checkpoint log keeps only the lines signed up
    to then (the restored trail ends there); the whole log is kept beside it as
    `audit-checkpoints-before-restore-<time>.jsonl`. Returns how many lines were set aside."""
    from carnet_core.audit.checkpoints import log_path, read_log

    log = read_log(keys_dir)
    later = [e for e in log.entries if e.checkpoint.created_at > until]
    if not later:
        return 0
    path = log_path(keys_dir)
    aside = keys_dir / f"audit-checkpoints-before-restore-{utcnow():%Y%m%dT%H%M%S}Z.jsonl"
    shutil.copy2(path, aside)
    kept = [e.checkpoint.line() + "\n" for e in log.entries if e.checkpoint.created_at <= until]
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("".join(kept), encoding="utf-8")
    os.chmod(partial, 0o600)
    partial.replace(path)
    return len(later)


@dataclass
class DrillResult:
    name: str
    ok: bool
    checks: list[Any]


def _throwaway_url(settings: Settings) -> tuple[str, Any]:
    """A new, empty database beside the live one, and how to remove it."""
    if _kind(settings.database_url) == "sqlite":
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix=".drill-", dir=settings.home))
        return f"sqlite:///{folder / 'drill.sqlite3'}", lambda: shutil.rmtree(folder, ignore_errors=True)
    from carnet_core.db.session import make_engine

    live = make_url(settings.database_url)
    name = f"{(live.database or 'carnet')[:40]}_drill_{uuid.uuid4().hex[:8]}"
    admin = make_engine(settings.database_url, isolation_level="AUTOCOMMIT")

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.DBAPIError as exc:
        admin.dispose()
        raise BackupError(
            f"the restore drill needs to create a throwaway database ({exc.orig.__class__.__name__}): "
            "give the login role CREATEDB, or run `carnet restore` into a database made for it"
        ) from None
    return live.set(database=name).render_as_string(hide_password=False), drop


def drill(settings: Settings, host: Any, db: Any, name: str | None = None) -> DrillResult:
    """Restore a backup (the newest by default) into a throwaway database, run every verifier with
    this instance's keys, drop it, and record the result on the backup's row."""
    from sqlmodel import select

    from carnet_core.backup.models import BackupRun
    from carnet_core.backup.verify import verify_instance
    from carnet_core.db.session import Database
    from carnet_core.process import prepare_database

    source = find_backup(settings, name)
    url, remove = _throwaway_url(settings)
    try:
        target = settings.model_copy(update={"database_url": url})
        manifest = restore_backup(target, host, source)
        tdb = prepare_database(Database(url, role=settings.database_role), target, host)
        try:
            checks = verify_instance(target, host, tdb, until=datetime.fromisoformat(manifest["created_at"]))
        finally:
            tdb.dispose()
    finally:
        remove()
    ok = all(c.ok for c in checks)
    with db.session(unscoped=True) as s:
        row = s.exec(select(BackupRun).where(BackupRun.name == source.name)).first()
        if row is None:  # a backup copied in from elsewhere: record it now
            row = BackupRun(name=source.name, database=manifest["database"],
                            created_at=datetime.fromisoformat(manifest["created_at"]), trigger="imported",
                            size_bytes=sum(f["size"] for f in manifest["files"]),
                            manifest_sha256=sha256_file(source / MANIFEST))
        row.restore_tested_at = utcnow()
        row.restore_test_ok = ok
        s.add(row)
    return DrillResult(source.name, ok, checks)
