"""Consent's hook implementations: wiring only, the domain code lives in services/."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import hookimpl


@hookimpl
def register_hookspecs() -> Any:
    from carnet_consent import hookspecs

    return hookspecs


@hookimpl
def register_permissions() -> list[Any]:
    from carnet_consent.permissions import PERMISSIONS

    return PERMISSIONS


@hookimpl
def register_routes() -> list[Any]:
    from carnet_consent.controllers.pages import PAGE_HANDLERS
    from carnet_consent.controllers.rights import RIGHTS_HANDLERS

    return PAGE_HANDLERS + RIGHTS_HANDLERS


@hookimpl
def register_api_routes() -> list[Any]:
    from carnet_consent.controllers.api import API_HANDLERS

    return API_HANDLERS


@hookimpl
def register_public_routes() -> list[Any]:
    from carnet_consent.controllers.public import PUBLIC_HANDLERS

    return PUBLIC_HANDLERS


@hookimpl
def register_actors() -> list[Any]:
    from carnet_core.plugin_api import ActorSpec

    from carnet_consent import jobs
    from carnet_consent.services import documents

    return [ActorSpec("render_document", documents.render_document, max_retries=3),
            ActorSpec("send_invitation", jobs.send_invitation, max_retries=5),
            ActorSpec("send_sms_link", jobs.send_sms_link, max_retries=5),
            ActorSpec("send_code", jobs.send_code, max_retries=3),
            ActorSpec("send_access_code", jobs.send_access_code, max_retries=3),
            ActorSpec("build_rights_export", jobs.build_rights_export, max_retries=3),
            ActorSpec("send_rights_code", jobs.send_rights_code, max_retries=3),
            ActorSpec("send_reminder", jobs.send_reminder, max_retries=5),
            ActorSpec("send_rights_ask", jobs.send_rights_ask, max_retries=3),
            ActorSpec("send_rights_ask_code", jobs.send_rights_ask_code, max_retries=3),
            ActorSpec("remind_unsigned", jobs.remind_unsigned, max_retries=3)]


@hookimpl
def register_schedules() -> list[Any]:
    from datetime import timedelta

    from carnet_core.plugin_api import Schedule

    return [Schedule("remind-unsigned", actor="consent.remind_unsigned", every=timedelta(hours=6))]


@hookimpl
def navigation_items(clinic: Any, user: Any) -> list[Any]:
    from carnet_core.plugin_api import N_, NavItem

    from carnet_consent import permissions as perm

    return [NavItem(N_("Consents"), "/consent/", permission=perm.VIEW, order=40)]


@hookimpl
def settings_items(clinic: Any, user: Any) -> list[Any]:
    from carnet_consent.controllers.panels import settings_items

    return settings_items()


@hookimpl
def home_panels(clinic: Any, user: Any, db: Any) -> list[Any]:
    from carnet_consent.controllers.panels import home_panel

    return home_panel(user, db)


@hookimpl
def patient_panels(clinic: Any, patient: Any, user: Any, db: Any) -> list[Any]:
    from carnet_consent.controllers.panels import patient_panel

    return patient_panel(patient, user, db)


@hookimpl
def patient_allows(clinic_id: int, patient_id: int, purpose: str, db: Any) -> bool | None:
    from carnet_consent.services.decisions import allows

    return allows(db, patient_id, purpose)


@hookimpl
def demo_data(clinic: Any, db: Any, context: dict[str, Any]) -> None:
    from carnet_consent.demo import fill

    fill(clinic, db, context)


@hookimpl
def export_patient_data(clinic: Any, patient: Any, db: Any) -> dict[str, Any] | None:
    from carnet_consent.services.lifecycle import export_for_patient

    return export_for_patient(db, patient.id)


@hookimpl
def erase_patient_data(clinic: Any, patient: Any, db: Any) -> None:
    from carnet_consent.services.lifecycle import erase_for_patient

    erase_for_patient(db, patient.id)


@hookimpl
def export_clinic_data(clinic: Any, db: Any) -> Any:
    from carnet_consent.services.archive import clinic_records

    return clinic_records(db)


@hookimpl
def import_clinic_data(clinic: Any, db: Any, archive: Any) -> Any:
    from carnet_consent.services.archive import import_records

    return import_records(db, archive)
