"""Scheduling's hook implementations: wiring only, domain code lives in services/."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import hookimpl


@hookimpl
def register_hookspecs() -> Any:
    from carnet_scheduling import hookspecs

    return hookspecs


@hookimpl
def scheduling_honoured_sessions(db: Any, start: Any, end: Any, practitioner_id: int | None) -> list[dict[str, Any]]:
    from carnet_scheduling.services.billable import honoured_sessions

    return honoured_sessions(db, start, end, practitioner_id)


@hookimpl
def register_settings() -> Any:
    from carnet_scheduling.settings import SchedulingSettings

    return SchedulingSettings


@hookimpl
def register_permissions() -> list[Any]:
    from carnet_scheduling.permissions import PERMISSIONS

    return PERMISSIONS


@hookimpl
def register_api_routes() -> list[Any]:
    from carnet_scheduling.controllers.api import API_HANDLERS

    return API_HANDLERS


@hookimpl
def register_public_routes() -> list[Any]:
    from carnet_scheduling.controllers.patient import PATIENT_HANDLERS
    from carnet_scheduling.controllers.public import PUBLIC_HANDLERS
    from carnet_scheduling.controllers.waitlist import PUBLIC_WAITLIST_HANDLERS

    return PUBLIC_HANDLERS + PATIENT_HANDLERS + PUBLIC_WAITLIST_HANDLERS


@hookimpl
def register_routes() -> list[Any]:
    from carnet_scheduling.controllers.day_off import DAY_OFF_HANDLERS
    from carnet_scheduling.controllers.pages import PAGE_HANDLERS
    from carnet_scheduling.controllers.reminder_pages import REMINDER_HANDLERS
    from carnet_scheduling.controllers.setup_pages import SETUP_HANDLERS
    from carnet_scheduling.controllers.waitlist import STAFF_HANDLERS

    return PAGE_HANDLERS + DAY_OFF_HANDLERS + SETUP_HANDLERS + REMINDER_HANDLERS + STAFF_HANDLERS


@hookimpl
def register_actors() -> list[Any]:
    from carnet_core.plugin_api import ActorSpec
    from carnet_scheduling import jobs

    return [
        ActorSpec("send_reminder", jobs.send_reminder, max_retries=jobs.REMINDER_RETRIES),
        ActorSpec("send_message", jobs.send_message, max_retries=jobs.REMINDER_RETRIES),
        ActorSpec("replan_reminders", jobs.replan_reminders),
        ActorSpec("release_unconfirmed", jobs.release_unconfirmed),
        ActorSpec("offer_freed_slot", jobs.offer_freed_slot),
        ActorSpec("offer_open_slots", jobs.offer_open_slots),
        ActorSpec("expire_offers", jobs.expire_offers),
        ActorSpec("waitlist_reconfirm", jobs.waitlist_reconfirm),
    ]


@hookimpl
def register_schedules() -> list[Any]:
    from datetime import timedelta

    from carnet_core.plugin_api import Schedule

    return [
        Schedule("release-unconfirmed", actor="scheduling.release_unconfirmed", every=timedelta(minutes=5)),
        Schedule("expire-offers", actor="scheduling.expire_offers", every=timedelta(minutes=10)),
        Schedule("waitlist-reconfirm", actor="scheduling.waitlist_reconfirm", every=timedelta(days=1)),
    ]


# The plugin observes its own appointment events to plan reminders (and, on cancellation, offer
# the freed slot): in the same transaction as the change, for clinics that enabled scheduling.
@hookimpl
def scheduling_appointment_booked(appointment: Any, db: Any) -> None:
    from carnet_scheduling.services import reminders

    reminders.plan(db, appointment)


@hookimpl
def scheduling_appointment_moved(appointment: Any, previous_start: Any, previous_end: Any, db: Any) -> None:
    from carnet_scheduling.services import reminders

    reminders.plan(db, appointment)


@hookimpl
def scheduling_appointment_cancelled(appointment: Any, reason: str, db: Any) -> None:
    from carnet_core.plugin_api import enqueue, utcnow
    from carnet_scheduling.services import reminders

    reminders.cancel_for(db, appointment.id)
    if appointment.starts_at > utcnow():
        enqueue(db, "scheduling.offer_freed_slot", appointment.id)  # the waiting list, after commit


@hookimpl(optionalhook=True)
def consent_withdrawn(clinic_id: int, patient_id: int, purpose: str, db: Any) -> None:
    """The consent module's hook: a patient withdrew SMS reminders, so their pending SMS stop now."""
    if purpose == "sms_reminders":
        from carnet_scheduling.jobs import CONSENT_WITHDRAWN
        from carnet_scheduling.services.reminders import cancel_channel_for_patient

        cancel_channel_for_patient(db, patient_id, "sms", CONSENT_WITHDRAWN)


@hookimpl
def navigation_items(clinic: Any, user: Any) -> list[Any]:
    from carnet_scheduling.controllers.panels import navigation

    return navigation(user)


@hookimpl
def settings_items(clinic: Any, user: Any) -> list[Any]:
    from carnet_scheduling.controllers.panels import settings_items

    return settings_items()


@hookimpl
def home_panels(clinic: Any, user: Any, db: Any) -> list[Any]:
    from carnet_scheduling.controllers.panels import home_panel

    return home_panel(user, db)


@hookimpl
def patient_panels(clinic: Any, patient: Any, user: Any, db: Any) -> list[Any]:
    from carnet_scheduling.controllers.panels import patient_panel

    return patient_panel(patient, user, db)


@hookimpl
def demo_data(clinic: Any, db: Any, context: dict[str, Any]) -> None:
    from carnet_scheduling.demo import fill

    fill(clinic, db, context)


@hookimpl
def export_patient_data(clinic: Any, patient: Any, db: Any) -> dict[str, Any] | None:
    from carnet_scheduling.services.exports import export_for_patient

    return export_for_patient(db, patient.id)


@hookimpl
def erase_patient_data(clinic: Any, patient: Any, db: Any) -> None:
    from carnet_scheduling.services.exports import erase_for_patient

    erase_for_patient(db, patient.id)


@hookimpl
def last_care_dates(clinic: Any, db: Any) -> dict[int, Any] | None:
    from carnet_scheduling.services.exports import last_honoured_days

    return last_honoured_days(db)


@hookimpl
def audit_resource_labels() -> dict[str, str]:
    from carnet_scheduling.messages import AUDIT_RESOURCES

    return AUDIT_RESOURCES


@hookimpl
def export_clinic_data(clinic: Any, db: Any) -> Any:
    from carnet_scheduling.services.archive import clinic_records

    return clinic_records(db)


@hookimpl
def import_clinic_data(clinic: Any, db: Any, archive: Any) -> Any:
    from carnet_scheduling.services.archive import import_records

    return import_records(db, archive)
