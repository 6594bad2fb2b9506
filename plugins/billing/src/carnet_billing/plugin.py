"""Billing's hook implementations: wiring only, domain code lives in services/."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import hookimpl


@hookimpl
def register_permissions() -> list[Any]:
    from carnet_billing.permissions import PERMISSIONS

    return PERMISSIONS


@hookimpl
def export_patient_data(clinic: Any, patient: Any, db: Any) -> dict[str, Any] | None:
    from carnet_billing.services.lifecycle import export_for_patient

    return export_for_patient(db, patient.id)


@hookimpl
def erase_patient_data(clinic: Any, patient: Any, db: Any) -> None:
    from carnet_billing.services.lifecycle import erase_for_patient

    erase_for_patient(db, patient.id)
