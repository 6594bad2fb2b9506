"""Honoured sessions for other plugins (billing invoices them): plain values, never ORM rows, so
a reader never imports scheduling's tables. Published through the `scheduling_honoured_sessions`
hook (see hookspecs.py), which scheduling implements itself.

A session is an honoured, billable appointment; its reference `scheduling.appointment:<id>` is
stable (an appointment keeps its id when moved) and is what billing stores to never invoice a
session twice. What is returned is administrative (dates, who, where, the appointment type's
name, the series): no clinical note.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import CarnetSession
from carnet_scheduling.models import HONOURED, Appointment, AppointmentType, Place

REF_PREFIX = "scheduling.appointment:"
MAX_SESSIONS = 2000


def reference(appointment_id: int) -> str:
    return f"{REF_PREFIX}{appointment_id}"


def honoured_sessions(
    db: CarnetSession, start: date, end: date, practitioner_id: int | None = None,
) -> list[dict[str, Any]]:
    """The honoured, billable sessions whose clinic-local day is in [start, end), oldest first (one
    practitioner's when `practitioner_id` is given), at most MAX_SESSIONS."""
    query = select(Appointment).where(Appointment.status == HONOURED, Appointment.billable == True,  # noqa: E712
                                      Appointment.local_day >= start, Appointment.local_day < end)
    if practitioner_id is not None:
        query = query.where(Appointment.practitioner_id == practitioner_id)
    rows = list(db.exec(query.order_by(Appointment.starts_at, Appointment.id).limit(MAX_SESSIONS)).all())
    types = {t.id: t.name for t in db.exec(select(AppointmentType)).all()}
    places = {p.id: p for p in db.exec(select(Place)).all()}
    sessions = []
    for appt in rows:
        place = places.get(appt.place_id) if appt.place_id is not None else None
        sessions.append({
            "ref": reference(appt.id),  # type: ignore[arg-type]
            "appointment_id": appt.id, "patient_id": appt.patient_id, "practitioner_id": appt.practitioner_id,
            "day": appt.local_day, "starts_at": appt.starts_at, "ends_at": appt.ends_at,
            "type_name": types.get(appt.appointment_type_id, ""), "series_id": appt.series_id,
            "place": ", ".join(p for p in (place.name, place.address) if p) if place else "",
        })
    return sessions
