"""`carnet backup [list | drill]`, `carnet restore DIR`, `carnet verify`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click


def _fail_on_backup_error(fn: Any) -> Any:
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from carnet_core.backup.services import BackupError
        from carnet_core.cli import fail

        try:
            return fn(*args, **kwargs)
        except BackupError as exc:
            fail(str(exc))

    return wrapper


def _print_checks(checks: list[Any]) -> None:
    for c in checks:
        where = c.clinic or "instance"
        line = f"{where}: {c.name}: {'ok' if c.ok else 'FAILED'} ({c.detail})"
        if c.ok:
            click.echo(line)
        else:
            click.secho(line, fg="red", err=True)


@click.group(invoke_without_command=True)
@click.option("--keep", type=click.IntRange(1, 10_000),
              help="Complete backups to keep (default: CARNET_BACKUP_KEEP, 7).")
@click.pass_context
@_fail_on_backup_error
def backup(ctx: click.Context, keep: int | None) -> None:
    """Write a consistent backup of the database (no key material) under CARNET_BACKUP_DIR."""
    if ctx.invoked_subcommand is not None:
        return
    from carnet_core.backup.services import create_backup

    rt = ctx.obj
    result = create_backup(rt.settings, rt.host, rt.db, trigger="cli", keep=keep)
    size = sum(f["size"] for f in result.manifest["files"])
    click.echo(f"backup written: {result.path} ({size} bytes, {result.manifest['database']})")
    click.echo("keys are not in it: back up CARNET_HOME/keys (or CARNET_MASTER_KEY) apart")
    for name in result.pruned:
        click.echo(f"older backup removed: {name}")


@backup.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def backup_list(rt: Any, as_json: bool) -> None:
    """Complete backups, oldest first, with the date of their last restore drill."""
    from sqlmodel import select

    from carnet_core.backup.models import BackupRun
    from carnet_core.backup.services import list_backups

    with rt.db.session(unscoped=True) as db:
        runs = {r.name: r for r in db.exec(select(BackupRun))}
    rows = []
    for path in list_backups(rt.settings.backups_dir):
        run = runs.get(path.name)
        tested = run.restore_tested_at.isoformat() if run and run.restore_tested_at else None
        rows.append({"name": path.name, "path": str(path), "restore_tested_at": tested,
                     "restore_test_ok": run.restore_test_ok if run else None})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        drill = "never drilled" if row["restore_tested_at"] is None else (
            f"restore drill {row['restore_tested_at']}: {'ok' if row['restore_test_ok'] else 'FAILED'}")
        click.echo(f"{row['name']}  {drill}")


@backup.command("drill")
@click.argument("name", required=False)
@click.pass_obj
@_fail_on_backup_error
def backup_drill(rt: Any, name: str | None) -> None:
    """Restore a backup (default: the newest) into a throwaway database and run every verifier."""
    from carnet_core.backup.services import drill

    result = drill(rt.settings, rt.host, rt.db, name)
    _print_checks(result.checks)
    click.echo(f"{result.name}: restore drill {'passed' if result.ok else 'FAILED'}")
    if not result.ok:
        sys.exit(1)


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_obj
@_fail_on_backup_error
def restore(rt: Any, source: Path) -> None:
    """Restore a backup folder into this empty instance, then run every verifier (exit 1 if one fails).

    The keys are not in the backup: put CARNET_HOME/keys (or CARNET_MASTER_KEY) back first."""
    from datetime import datetime

    from carnet_core.backup.services import keep_log_until, restore_backup
    from carnet_core.backup.verify import verify_instance

    manifest = restore_backup(rt.settings, rt.host, source)
    made = datetime.fromisoformat(manifest["created_at"])
    click.echo(f"restored {source.name} (made {manifest['created_at']}, core {manifest['core_version']})")
    aside = keep_log_until(rt.settings.keys_dir, made)
    if aside:
        click.echo(f"audit checkpoint log: {aside} line(s) signed after the backup set aside "
                   "(audit-checkpoints-before-restore-*.jsonl)")
    checks = verify_instance(rt.settings, rt.host, rt.db, until=made)
    _print_checks(checks)
    if not all(c.ok for c in checks):
        sys.exit(1)


@click.command("verify")
@click.pass_obj
def verify(rt: Any) -> None:
    """Run every verifier: audit trails, keys (every sealed value opens), each plugin's own."""
    from carnet_core.backup.verify import verify_instance

    checks = verify_instance(rt.settings, rt.host, rt.db)
    _print_checks(checks)
    if not all(c.ok for c in checks):
        sys.exit(1)


COMMANDS = [backup, restore, verify]
