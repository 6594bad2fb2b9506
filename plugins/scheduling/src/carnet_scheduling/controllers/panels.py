"""What scheduling adds to the shell: navigation entries (agenda, waiting list) and
the patient page panel (upcoming appointments, series counters)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from carnet_core.plugin_api import N_, NavItem, Panel, SettingsItem, record, utcnow
from carnet_scheduling import permissions as perm
from carnet_scheduling.services import agenda, people, reminders
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import series as series_svc
from carnet_scheduling.services.calendar import to_local
from carnet_scheduling.services.context import clinic_tz, practitioners

UPCOMING = 8


def navigation(user: Any) -> list[NavItem]:
    # The waiting list is daily work: it sits beside the agenda. Online bookings, set-up and
    # reminder settings are links on the agenda's head (the top bar has room for few entries).
    return [
        NavItem(N_("Agenda"), "/scheduling/", permission=perm.VIEW, order=20),
        NavItem(N_("Waiting list"), "/scheduling/waitlist", permission=perm.VIEW, order=21),
    ]


def settings_items() -> list[SettingsItem]:
    """The agenda's settings pages on core's Réglages page."""
    return [
        SettingsItem(N_("Agenda set-up"), "/scheduling/setup",
                     N_("Working hours, time off and closures, school holidays, appointment types, places and rooms."),
                     permission=perm.CONFIGURE, theme="agenda", order=10),
        SettingsItem(N_("Reminders"), "/scheduling/setup/reminders",
                     N_("When patients are reminded of their appointments, by e-mail or SMS."),
                     permission=perm.CONFIGURE, theme="agenda", order=20),
    ]


def patient_panel(patient: Any, user: Any, db: Any) -> list[Panel]:
    if user is None or not user.can(perm.VIEW) or getattr(patient, "id", None) is None:
        return []
    from carnet_scheduling.controllers.pages import STATUS_LABELS

    tz = clinic_tz(db)
    now = utcnow()
    rows = appts.in_range(db, now - timedelta(hours=12), now + timedelta(days=366), patient_id=patient.id,
                          limit=UPCOMING)
    types = agenda.types_by_id(db)
    staff = {p.id: p for p in practitioners(db)}
    upcoming = [(a, to_local(a.starts_at, tz), types[a.appointment_type_id].name if a.appointment_type_id in types
                 else "", getattr(staff.get(a.practitioner_id), "display_name", "")) for a in rows]
    series = [(s, series_svc.counters(db, s)) for s in series_svc.patient_series(db, patient.id) if not s.closed][:3]
    record(db, action="read", resource_type="appointment", patient_id=patient.id,
           details={"view": "patient-panel", "count": len(rows)})
    context = {"upcoming": upcoming, "series": series, "status_labels": STATUS_LABELS,
               "can_manage": user.can(perm.MANAGE), "patient_id": patient.id,
               "registry": people.registry_available(),
               "reminders_on": not reminders.switched_off_ids(db, "patient", [patient.id])}
    return [Panel(N_("Appointments"), "scheduling/_patient_panel.html", context, order=20, permission=perm.VIEW)]
