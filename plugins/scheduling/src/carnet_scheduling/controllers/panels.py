"""What scheduling adds to the shell: navigation entries (agenda, waiting list) and
the patient page panel (upcoming appointments, series counters)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from carnet_core.plugin_api import N_, NavItem, Panel, SettingsItem, record, record_at_commit, utcnow
from carnet_scheduling import permissions as perm
from carnet_scheduling.models import CANCELLED
from carnet_scheduling.services import agenda, people, reminders
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import series as series_svc
from carnet_scheduling.services.calendar import local_date, local_day_bounds, to_local
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


def home_panel(user: Any, db: Any) -> list[Panel]:
    """Today's appointments on the home page: a practitioner's own (as on "Aujourd'hui"), the
    whole clinic's for a secretary or an owner who does not practise. Computed by core only for
    a member who holds the panel's permission (`fill`)."""
    return [Panel(N_("Today's appointments"), "scheduling/_home_panel.html", order=10, permission=perm.VIEW,
                  fill=lambda: _today(user, db))]


def _today(user: Any, db: Any) -> dict[str, Any]:
    """The home panel's rows. Names and numbers come through core's patient access (its
    visibility rule, traced), like the day list's."""
    from carnet_scheduling.controllers.pages import STATUS_LABELS

    tz = clinic_tz(db)
    today = local_date(utcnow(), tz)
    start, end = local_day_bounds(today, tz)
    mine = "practitioner" in user.roles
    rows = [a for a in agenda.load_appointments(db, start, end, practitioner_id=user.user_id if mine else None)
            if a.status != CANCELLED]
    own = {a.patient_id for a in rows if a.practitioner_id == user.user_id}
    names = people.names(db, user, (a.patient_id for a in rows), own_ids=own)
    phones = people.phones(db, user, names, own_ids=own)
    record_at_commit(db, action="list", resource_type="appointment", details={"view": "home", "count": len(rows)})
    types = agenda.types_by_id(db)
    staff = {} if mine else {p.id: p.display_name for p in practitioners(db)}
    shown = [{"id": a.id, "starts": to_local(a.starts_at, tz), "ends": to_local(a.ends_at, tz),
              "patient_id": a.patient_id if a.patient_id in names else None, "name": names.get(a.patient_id),
              "phone": phones.get(a.patient_id), "type": types[a.appointment_type_id].name
              if a.appointment_type_id in types else "", "practitioner": staff.get(a.practitioner_id, ""),
              "status": a.status} for a in rows]
    return {"rows": shown, "mine": mine, "day": today.isoformat(), "status_labels": STATUS_LABELS,
            "can_manage": user.can(perm.MANAGE)}


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
