"""Telecare's hook implementations: wiring only, the domain code lives in services/."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import hookimpl


@hookimpl
def register_settings() -> Any:
    from carnet_telecare.settings import TelecareSettings

    return TelecareSettings


@hookimpl
def register_hookspecs() -> Any:
    from carnet_telecare import hookspecs

    return hookspecs


@hookimpl
def register_permissions() -> list[Any]:
    from carnet_telecare.permissions import PERMISSIONS

    return PERMISSIONS


@hookimpl
def register_routes() -> list[Any]:
    from carnet_telecare.controllers.hours import HOURS_HANDLERS
    from carnet_telecare.controllers.pages import PAGE_HANDLERS
    from carnet_telecare.controllers.sessions import SESSION_HANDLERS
    from carnet_telecare.controllers.starting import START_HANDLERS
    from carnet_telecare.controllers.templates import TEMPLATE_HANDLERS
    from carnet_telecare.controllers.video import VIDEO_HANDLERS

    return PAGE_HANDLERS + SESSION_HANDLERS + HOURS_HANDLERS + VIDEO_HANDLERS + TEMPLATE_HANDLERS + START_HANDLERS


@hookimpl
def register_api_routes() -> list[Any]:
    from carnet_telecare.controllers.api import API_HANDLERS

    return API_HANDLERS


@hookimpl
def register_public_routes() -> list[Any]:
    from carnet_telecare.controllers.public import PUBLIC_HANDLERS
    from carnet_telecare.controllers.sessions import PUBLIC_SESSION_HANDLERS
    from carnet_telecare.controllers.starting import PUBLIC_START_HANDLERS
    from carnet_telecare.controllers.video import PUBLIC_VIDEO_HANDLERS

    return PUBLIC_HANDLERS + PUBLIC_SESSION_HANDLERS + PUBLIC_VIDEO_HANDLERS + PUBLIC_START_HANDLERS


@hookimpl
def register_actors() -> list[Any]:
    from carnet_core.plugin_api import ActorSpec

    from carnet_telecare import jobs

    return [ActorSpec("notify", jobs.notify, max_retries=5), ActorSpec("send_code", jobs.send_code, max_retries=3),
            ActorSpec("invite", jobs.invite, max_retries=5), ActorSpec("send_start", jobs.send_start, max_retries=5)]


@hookimpl
def navigation_items(clinic: Any, user: Any) -> list[Any]:
    from carnet_core.plugin_api import N_, NavItem

    from carnet_telecare import permissions as perm

    return [NavItem(N_("Messages"), "/telecare/", permission=perm.VIEW, order=45)]


@hookimpl
def settings_items(clinic: Any, user: Any) -> list[Any]:
    from carnet_telecare.controllers.panels import settings_items

    return settings_items()


@hookimpl
def home_panels(clinic: Any, user: Any, db: Any) -> list[Any]:
    from carnet_telecare.controllers.panels import home_panel

    return home_panel(clinic, user, db)


@hookimpl
def patient_panels(clinic: Any, patient: Any, user: Any, db: Any) -> list[Any]:
    from carnet_telecare.controllers.panels import patient_panel

    return patient_panel(patient, user, db)


@hookimpl
def audit_resource_labels() -> dict[str, str]:
    from carnet_telecare.controllers.common import AUDIT_RESOURCES

    return AUDIT_RESOURCES


@hookimpl
def demo_data(clinic: Any, db: Any, context: dict[str, Any]) -> None:
    from carnet_telecare.demo import fill

    fill(clinic, db, context)


@hookimpl
def export_patient_data(clinic: Any, patient: Any, db: Any) -> dict[str, Any] | None:
    from carnet_telecare.services.messaging import export_for_patient

    return export_for_patient(db, patient.id)


@hookimpl
def erase_patient_data(clinic: Any, patient: Any, db: Any) -> None:
    from carnet_telecare.services.messaging import erase_for_patient

    erase_for_patient(db, patient.id)


@hookimpl
def export_clinic_data(clinic: Any, db: Any) -> Any:
    from carnet_telecare.services.archive import clinic_records

    return clinic_records(db)


@hookimpl
def import_clinic_data(clinic: Any, db: Any, archive: Any) -> Any:
    from carnet_telecare.services.archive import import_records

    return import_records(db, archive)


# Scheduling's events (its hookspecs; optional: telecare loads without scheduling): a télésoin
# appointment gets its video session, which follows the appointment when it moves or is cancelled.
@hookimpl(optionalhook=True)
def scheduling_appointment_booked(appointment: Any, modality: str, db: Any) -> None:
    if modality == "telesoin":
        from carnet_telecare.services.sessions import from_appointment

        from_appointment(db, appointment)


@hookimpl(optionalhook=True)
def scheduling_appointment_moved(appointment: Any, previous_start: Any, previous_end: Any, db: Any) -> None:
    from carnet_telecare.services.sessions import follow_move

    follow_move(db, appointment)


@hookimpl(optionalhook=True)
def scheduling_appointment_cancelled(appointment: Any, reason: str, db: Any) -> None:
    from carnet_telecare.services.sessions import follow_cancel

    follow_cancel(db, appointment)
