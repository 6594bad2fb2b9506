"""`carnet export clinic SLUG`, `carnet export open FILE`, `carnet import clinic FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def _secret(passphrase_file: Path | None, age_recipient: str | None) -> dict[str, Any]:
    from carnet_core.cli import fail

    if (passphrase_file is None) == (age_recipient is None):
        fail("give --passphrase-file or --age-recipient (one of them)")
    if passphrase_file is not None:
        return {"passphrase": passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")}
    return {"age_recipient": age_recipient}


@click.group()
def export() -> None:
    """Export a whole clinic (every module, decrypted into open formats, encrypted for you)."""


@export.command("clinic")
@click.argument("slug")
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file holding the passphrase (12 characters or more) that will open the archive.")
@click.option("--age-recipient", help="Or an age public key (age1…) the archive is encrypted for.")
@click.option("--queue", is_flag=True, help="Hand the export to the workers instead of making it here.")
@click.pass_obj
def export_clinic(rt: Any, slug: str, passphrase_file: Path | None, age_recipient: str | None, queue: bool) -> None:
    """Write the clinic's archive under CARNET_HOME/exports (audited)."""
    from carnet_core.cli import fail
    from carnet_core.clinics.services import get_clinic_by_slug
    from carnet_core.export.services import ExportError, exports_dir, recipient_for, request_export, run_export

    try:
        recipient = recipient_for(**_secret(passphrase_file, age_recipient))
    except ExportError as exc:
        fail(str(exc))
    with rt.db.session(unscoped=True) as db:
        clinic = get_clinic_by_slug(db, slug)
        if clinic is None:
            fail(f"no clinic '{slug}'")
        clinic_id = clinic.id
    with rt.db.session(clinic_id=clinic_id) as db:
        row = request_export(db, "system:cli", clinic, recipient, requested_by=None)
        db.commit()
        export_id = row.id
    if queue:
        click.echo(f"export {export_id} queued: the workers write it under {exports_dir(rt.settings)}")
        return

    try:
        done = run_export(rt.settings, rt.host, rt.db, clinic_id, export_id)
    except ExportError as exc:
        fail(str(exc))
    click.echo(f"export written: {exports_dir(rt.settings) / done.file_name} ({done.records} records, "
               f"{done.size} bytes, sha256 {done.sha256})")


@export.command("open")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--identity-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The age identity (AGE-SECRET-KEY-1…) the export was made for.")
def export_open(file: Path, out: Path, passphrase_file: Path | None, identity_file: Path | None) -> None:
    """Decrypt an export into OUT (the archive as a ZIP of open formats)."""
    from carnet_core.cli import fail
    from carnet_core.export.services import ExportError, decrypt_to

    secret = _opening_secret(passphrase_file, identity_file)
    if out.exists():
        fail(f"{out} exists: choose a new file")
    try:
        with open(out, "xb") as target:
            decrypt_to(file, target, **secret)
    except ExportError as exc:
        out.unlink(missing_ok=True)
        fail(str(exc))
    click.echo(f"archive written: {out}")


def _opening_secret(passphrase_file: Path | None, identity_file: Path | None) -> dict[str, Any]:
    from carnet_core.cli import fail

    if (passphrase_file is None) == (identity_file is None):
        fail("give --passphrase-file or --identity-file (one of them)")
    if passphrase_file is not None:
        return {"passphrase": passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")}
    return {"identity": identity_file.read_text(encoding="utf-8").strip()}


@click.group("import")
def import_() -> None:
    """Import a whole clinic from its export into this empty instance (new keys, staff invited again)."""


@import_.command("clinic")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file holding the passphrase the export was made with.")
@click.option("--identity-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Or the age identity (AGE-SECRET-KEY-1…) the export was made for.")
@click.pass_obj
def import_clinic(rt: Any, file: Path, passphrase_file: Path | None, identity_file: Path | None) -> None:
    """Check the export whole, then write it in one transaction (nothing on any error; audited)."""
    from carnet_core.cli import fail
    from carnet_core.db.migrate import import_models
    from carnet_core.export.importing import ClinicImportError, import_archive, open_archive

    secret = _opening_secret(passphrase_file, identity_file)
    import_models(rt.host)
    try:
        archive = open_archive(file, **secret)
        done = import_archive(rt.settings, rt.host, rt.db, archive)
    except ClinicImportError as exc:
        fail(str(exc))
    counts = ", ".join(f"{source} {sum(c.values()) if isinstance(c, dict) else c}"
                       for source, c in done["written"].items())
    click.echo(f"clinic '{done['slug']}' imported ({counts} records); its staff are invited again by e-mail. "
               "Check it with `carnet verify`.")


COMMANDS = [export, import_]
