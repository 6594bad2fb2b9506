"""`carnet audit verify | checkpoint | purge`."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from sqlmodel import select


def _clinics(rt: Any, slug: str | None) -> list[Any]:
    from carnet_core.cli import fail
    from carnet_core.clinics.services import get_clinic_by_slug, list_clinics

    with rt.db.session(unscoped=True) as db:
        if slug is None:
            return list_clinics(db)
        found = get_clinic_by_slug(db, slug)
    if found is None:
        fail(f"no clinic '{slug}'; see `carnet clinic list`")
    return [found]


@click.group()
def audit() -> None:
    """Verify, checkpoint and purge the tamper-evident audit trail."""


@audit.command("verify")
@click.option("--clinic", "slug", help="Only this clinic (default: every clinic, and clinics that are gone).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def verify_command(rt: Any, slug: str | None, as_json: bool) -> None:
    """Check every record, hash link and signed checkpoint; exit 1 naming the first bad record."""
    from carnet_core.audit.checkpoints import read_log
    from carnet_core.audit.integrity import snapshot, verify_clinic, verify_log

    keys_dir = rt.settings.keys_dir
    clinics = _clinics(rt, slug)
    log = read_log(keys_dir)  # before the database: each line's checkpoint is then in the snapshot
    results = []
    with snapshot(rt.db) as db:
        for clinic in clinics:
            results.append((clinic.slug, verify_clinic(db, clinic.id, keys_dir, log=log)))
        if slug is None:
            from carnet_core.clinics.models import Clinic

            existing = set(db.exec(select(Clinic.id)))
            results += [(None, r) for r in verify_log(log, keys_dir, existing)]
    if as_json:
        click.echo(json.dumps([
            {
                "clinic": label, "clinic_id": r.clinic_id, "ok": r.ok, "records": r.records,
                "first_seq": r.first_seq, "last_seq": r.last_seq, "checkpoints": r.checkpoints,
                "logged_checkpoints": r.logged, "last_signed_seq": r.last_signed_seq,
                "problem": None if r.problem is None else {
                    "seq": r.problem.seq, "record_id": r.problem.record_id,
                    "checkpoint_id": r.problem.checkpoint_id, "log_line": r.problem.log_line,
                    "reason": r.problem.reason,
                },
                "warnings": r.warnings,
            }
            for label, r in results
        ], indent=2))
    else:
        for label, r in results:
            name = label or (f"clinic id {r.clinic_id}" if r.clinic_id is not None else "checkpoint log")
            if r.ok:
                if label is not None:
                    span = f"seq {r.first_seq}..{r.last_seq}" if r.records else "empty"
                    click.echo(f"{name}: intact, {r.records} record(s) ({span}), "
                               f"{r.checkpoints} signed checkpoint(s)")
                for warning in r.warnings:
                    click.echo(f"{name}: note: {warning}")
            else:
                click.secho(f"{name}: BROKEN at {r.problem.describe()}", fg="red", err=True)
    if not all(r.ok for _, r in results):
        sys.exit(1)


@audit.command("checkpoint")
@click.option("--clinic", "slug", help="Only this clinic (default: every clinic).")
@click.pass_obj
def checkpoint_command(rt: Any, slug: str | None) -> None:
    """Sign each clinic's current chain head with the key in CARNET_HOME/keys."""
    from carnet_core.audit.integrity import make_checkpoint
    from carnet_core.audit.signing import SigningKeyError
    from carnet_core.cli import fail

    for clinic in _clinics(rt, slug):
        try:
            with rt.db.session(unscoped=True) as db:
                cp = make_checkpoint(db, rt.settings.keys_dir, clinic.id)
        except SigningKeyError as exc:
            fail(str(exc))
        click.echo(f"{clinic.slug}: " + (f"signed seq {cp.seq}" if cp else "nothing new to sign"))


@audit.command("purge")
@click.option("--clinic", "slug", help="Only this clinic (default: every clinic).")
@click.option("--days", type=int, help="Retention in days (default: CARNET_AUDIT_RETENTION_DAYS, 365).")
@click.pass_obj
def purge_command(rt: Any, slug: str | None, days: int | None) -> None:
    """Delete records older than the retention; the rest stays verifiable (signed anchor)."""
    from carnet_core.audit.integrity import purge
    from carnet_core.audit.services import AuditError
    from carnet_core.audit.signing import SigningKeyError
    from carnet_core.cli import fail

    retention = days if days is not None else rt.settings.audit_retention_days
    for clinic in _clinics(rt, slug):
        try:
            with rt.db.session(unscoped=True) as db:
                deleted = purge(db, rt.settings.keys_dir, clinic.id, retention, actor="system:cli.audit_purge")
        except (AuditError, SigningKeyError) as exc:
            fail(f"{clinic.slug}: {exc}")
        click.echo(f"{clinic.slug}: {deleted} record(s) older than {retention} days purged")
