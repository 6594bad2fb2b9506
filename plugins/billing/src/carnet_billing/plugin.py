"""Billing's hook implementations: wiring only, domain code lives in services/."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import hookimpl


@hookimpl
def register_hookspecs() -> Any:
    from carnet_billing import hookspecs

    return hookspecs


@hookimpl
def register_permissions() -> list[Any]:
    from carnet_billing.permissions import PERMISSIONS

    return PERMISSIONS


@hookimpl
def register_routes() -> list[Any]:
    from carnet_billing.controllers.exports import EXPORT_HANDLERS
    from carnet_billing.controllers.followup import FOLLOWUP_HANDLERS
    from carnet_billing.controllers.pages import PAGE_HANDLERS
    from carnet_billing.controllers.sessions import SESSION_HANDLERS

    return PAGE_HANDLERS + EXPORT_HANDLERS + SESSION_HANDLERS + FOLLOWUP_HANDLERS


@hookimpl
def register_public_routes() -> list[Any]:
    from carnet_billing.controllers.public import PUBLIC_HANDLERS

    return PUBLIC_HANDLERS


@hookimpl
def register_api_routes() -> list[Any]:
    from carnet_billing.controllers.api import API_HANDLERS

    return API_HANDLERS


@hookimpl
def register_actors() -> list[Any]:
    from carnet_billing import jobs
    from carnet_billing.services import attestation, documents, exports
    from carnet_core.plugin_api import ActorSpec

    return [ActorSpec("render_note", documents.render_note, max_retries=3),
            ActorSpec("render_attestation", attestation.render_attestation, max_retries=3),
            ActorSpec("build_export", exports.build_export, max_retries=3),
            ActorSpec("plan_followups", jobs.plan_followups),
            ActorSpec("send_followup", jobs.send_followup, max_retries=jobs.RETRIES)]


@hookimpl
def register_schedules() -> list[Any]:
    from datetime import timedelta

    from carnet_core.plugin_api import Schedule

    return [Schedule("followups", actor="billing.plan_followups", every=timedelta(hours=6))]


@hookimpl
def register_cli_commands() -> list[Any]:
    from carnet_billing.cli import billing

    return [billing]


@hookimpl
def navigation_items(clinic: Any, user: Any) -> list[Any]:
    from carnet_billing import permissions as perm
    from carnet_core.plugin_api import N_, NavItem

    return [NavItem(N_("Billing"), "/billing/", permission=perm.VIEW, order=30)]


@hookimpl
def settings_items(clinic: Any, user: Any) -> list[Any]:
    from carnet_billing.controllers.panels import settings_items

    return settings_items()


@hookimpl
def home_panels(clinic: Any, user: Any, db: Any) -> list[Any]:
    from carnet_billing.controllers.panels import home_panel

    return home_panel(user, db)


@hookimpl
def patient_panels(clinic: Any, patient: Any, user: Any, db: Any) -> list[Any]:
    from carnet_billing.controllers.panels import patient_panel

    return patient_panel(patient, user, db)


@hookimpl
def demo_data(clinic: Any, db: Any, context: dict[str, Any]) -> None:
    from carnet_billing.demo import fill

    fill(clinic, db, context)


@hookimpl
def export_patient_data(clinic: Any, patient: Any, db: Any) -> dict[str, Any] | None:
    from carnet_billing.services.lifecycle import export_for_patient

    return export_for_patient(db, patient.id)


@hookimpl
def erase_patient_data(clinic: Any, patient: Any, db: Any) -> None:
    from carnet_billing.services.lifecycle import erase_for_patient

    erase_for_patient(db, patient.id)


@hookimpl
def patient_data_kept(clinic: Any, patient_id: int, db: Any) -> list[str] | None:
    from carnet_billing.services.lifecycle import kept_after_erasure

    return kept_after_erasure(db, patient_id)


@hookimpl
def verify_clinic_data(clinic: Any, db: Any) -> list[str] | None:
    from carnet_billing.services.lifecycle import verify_chains

    return verify_chains(db)


@hookimpl
def last_care_dates(clinic: Any, db: Any) -> dict[int, Any] | None:
    from carnet_billing.services.lifecycle import last_act_days

    return last_act_days(db)


@hookimpl
def audit_resource_labels() -> dict[str, str]:
    from carnet_billing.permissions import AUDIT_RESOURCES

    return AUDIT_RESOURCES


@hookimpl
def export_clinic_data(clinic: Any, db: Any) -> Any:
    from carnet_billing.services.archive import clinic_records

    return clinic_records(db)


@hookimpl
def import_clinic_data(clinic: Any, db: Any, archive: Any) -> Any:
    from carnet_billing.services.archive import import_records

    return import_records(db, archive)


# Telecare's hook (optional: billing loads without telecare): after a télésoin session's report,
# the remote-care act with its key letter.
@hookimpl(optionalhook=True)
def telecare_session_act_proposal(session: Any, profession: str, db: Any) -> dict[str, Any] | None:
    from carnet_billing.services.remote_care import propose

    return propose(db, profession)
