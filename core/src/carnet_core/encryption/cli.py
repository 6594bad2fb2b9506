"""`carnet keys`: status, rotate and rewrap clinic keys."""

from __future__ import annotations

import json
from typing import Any

import click

from carnet_core.cli import Runtime, _clinic_or_fail, _plugin_error_guard, fail, pass_runtime


@click.group()
def keys() -> None:
    """Clinic encryption keys: status, rotation, rewrap."""


def _clinics(rt: Runtime, slug: str | None) -> list[Any]:
    from carnet_core.clinics.services import list_clinics

    if slug:
        return [_clinic_or_fail(rt, slug)]
    with rt.db.session(unscoped=True) as db:
        return list(list_clinics(db))


@keys.command("status")
@click.option("--clinic", "slug", help="Only this clinic.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_runtime
@_plugin_error_guard
def keys_status(rt: Runtime, slug: str | None, as_json: bool) -> None:
    """Key versions per clinic, what uses them, and rewrap progress."""
    from carnet_core.encryption.status import clinic_key_status

    rows = []
    for clinic in _clinics(rt, slug):
        with rt.db.session(clinic_id=clinic.id) as db:
            rows.append({"clinic": clinic.slug, **clinic_key_status(db, clinic.id)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no clinic yet")
    for row in rows:
        click.echo(f"{row['clinic']}:")
        if not row["keys"]:
            click.echo("  no key yet (created on the first sealed write)")
        for key in row["keys"]:
            click.echo(
                f"  {key['purpose']:<6} v{key['version']:<3} {key['state']:<8} "
                f"subject keys: {key['subject_keys']}"
            )
        click.echo(f"  patients' keys destroyed (erasure): {row['destroyed_subject_keys']}")
        for step in row["rewrap"]:
            state = "done" if step["done"] else f"in progress (after id {step['last_id']})"
            click.echo(f"  rewrap to v{step['target_version']} {step['step']}: {step['moved']} moved, {state}")


@keys.command("rotate")
@click.option("--clinic", "slug", required=True, help="Clinic slug.")
@pass_runtime
@_plugin_error_guard
def keys_rotate(rt: Runtime, slug: str) -> None:
    """Add a new data key version for a clinic; new writes use it at once."""
    from carnet_core.encryption.services import rotate

    clinic = _clinic_or_fail(rt, slug)
    with rt.db.session(clinic_id=clinic.id) as db:
        row = rotate(db, clinic.id)
        version = row.version
    click.echo(f"{slug}: data key v{version} is active; run `carnet keys rewrap --clinic {slug}` to move old data")


@keys.command("rewrap")
@click.option("--clinic", "slug", help="Only this clinic (default: every clinic).")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 100_000), help="Rows per transaction.")
@click.option(
    "--pause", default=0.0, show_default=True, type=click.FloatRange(0, 60),
    help="Seconds to wait between batches (limits load).",
)
@pass_runtime
@_plugin_error_guard
def keys_rewrap(rt: Runtime, slug: str | None, batch: int, pause: float) -> None:
    """Move data sealed with old key versions to the active one; resumable, safe to kill."""
    from carnet_core.db.migrate import import_models, owned_prefixes
    from carnet_core.encryption.rewrap import rewrap_clinic, sealed_tables

    import_models(rt.host)
    tables = sealed_tables(owned_prefixes(rt.host))
    for clinic in _clinics(rt, slug):
        def progress(step: str, moved: int, total: int, slug: str = clinic.slug) -> None:
            click.echo(f"{slug}: {step}: +{moved} (total {total})")

        try:
            report = rewrap_clinic(rt.db, clinic.id, batch=batch, pause=pause, on_batch=progress, tables=tables)
        except Exception as exc:
            from carnet_core.encryption.services import EncryptionError

            if isinstance(exc, EncryptionError):
                fail(f"{clinic.slug}: {exc}")
            raise
        retired = ", ".join(f"v{v}" for v in report.retired) or "none"
        click.echo(
            f"{clinic.slug}: at v{report.target_version}; {report.subject_keys} patient keys and "
            f"{report.rows} rows re-sealed; retired: {retired}"
        )


@click.command("check")
@click.option("--clinic", "slug", help="Only this clinic (default: every clinic).")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 100_000), help="Rows per transaction.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_runtime
@_plugin_error_guard
def check(rt: Runtime, slug: str | None, batch: int, as_json: bool) -> None:
    """Open every sealed value and list damaged records (table, column, id); exit 1 if any."""
    import sys

    from carnet_core.db.migrate import import_models, owned_prefixes
    from carnet_core.encryption.check import check_clinic
    from carnet_core.encryption.rewrap import sealed_tables

    import_models(rt.host)
    tables = sealed_tables(owned_prefixes(rt.host))
    rows = []
    for clinic in _clinics(rt, slug):
        report = check_clinic(rt.db, clinic.id, tables, batch=batch)
        rows.append({"clinic": clinic.slug, "values": report.values,
                     "damaged": [d.__dict__ for d in report.damaged or []]})
    damaged = sum(len(r["damaged"]) for r in rows)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            state = f"{len(row['damaged'])} damaged" if row["damaged"] else "intact"
            click.echo(f"{row['clinic']}: {row['values']} sealed values opened, {state}")
            for d in row["damaged"]:
                click.echo(f"  DAMAGED {d['table']}.{d['column']} id {d['row_id']}")
        if damaged:
            click.echo("Restore these rows from a backup taken before the damage (the key cannot repair them).")
    if damaged:
        sys.exit(1)
