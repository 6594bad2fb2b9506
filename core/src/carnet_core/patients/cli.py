"""`carnet patients export`: a patient's RGPD export from the command line (audited)."""

from __future__ import annotations

import json
import os
from typing import Any

import click


@click.group()
def patients() -> None:
    """The patient registry: RGPD exports."""


@patients.command("export")
@click.option("--clinic", "slug", required=True, help="The clinic's slug.")
@click.option("--patient", "patient_id", required=True, type=int, help="The patient's id.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the JSON here (mode 0600) instead of standard output.")
@click.pass_obj
def export_command(rt: Any, slug: str, patient_id: int, output: str | None) -> None:
    """Export everything the record holds about one patient, decrypted, as JSON (audited "export")."""
    from sqlmodel import select

    from carnet_core.cli import fail
    from carnet_core.clinics.services import get_clinic_by_slug
    from carnet_core.encryption import KeyDestroyed
    from carnet_core.patients.models import Patient
    from carnet_core.patients.services import PatientErased, export_patient

    with rt.db.session(unscoped=True) as db:
        clinic = get_clinic_by_slug(db, slug)
    if clinic is None:
        fail(f"no clinic '{slug}'; see `carnet clinic list`")
    host = rt.host
    with rt.db.session(clinic_id=clinic.id) as db:
        patient = db.exec(select(Patient).where(Patient.id == patient_id)).first()
        if patient is None:
            fail(f"no patient {patient_id} in clinic '{slug}'")
        try:
            document = export_patient(db, "system:cli", patient, host=host, clinic=clinic)
        except (PatientErased, KeyDestroyed):
            fail(f"patient {patient_id} was erased; there is nothing left to export")
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(output, 0o600)
    click.echo(f"exported patient {patient_id} of '{slug}' to {output}", err=True)
