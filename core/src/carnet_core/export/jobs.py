"""`core.export_clinic(export_id)`: makes one clinic export (id only; a finished export is left alone)."""

from __future__ import annotations

from typing import Any


def export_clinic(export_id: int, job: Any) -> None:
    from carnet_core.export.services import run_export

    run_export(job.settings, job.host, job.db, job.clinic_id, export_id)
