"""RGPD export and erasure of what scheduling holds about one patient: appointments,
prescriptions, series, and what hangs off them (reminders, online bookings, waiting-list files,
offers, reminder opt-outs). Core calls both whether or not the clinic still has scheduling enabled.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from carnet_core.plugin_api import open_or_unreadable, readable
from carnet_scheduling.models import Appointment, AppointmentType, Prescription, Series
from carnet_scheduling.patient_models import (
    Offer,
    OnlineBooking,
    Reminder,
    ReminderSwitch,
    WaitingEntry,
    WaitingListing,
)


def export_for_patient(db: Any, patient_id: int) -> dict[str, Any] | None:
    """Everything scheduling records about the patient, decrypted (the export is for the patient);
    None when it records nothing (the export then has no "scheduling" part)."""
    types = {t.id: t for t in db.exec(select(AppointmentType)).all()}
    appointments = []
    for a in db.exec(
        select(Appointment).where(Appointment.patient_id == patient_id).order_by(Appointment.starts_at, Appointment.id)
    ).all():
        kind = types.get(a.appointment_type_id)
        appointments.append({
            "id": a.id,
            "starts_at": a.starts_at.isoformat(),
            "ends_at": a.ends_at.isoformat(),
            "type": kind.name if kind else None,
            "modality": kind.modality if kind else None,
            "status": a.status,
            "cancel_reason": readable(open_or_unreadable(db, a, "cancel_reason")),
            "practitioner_id": a.practitioner_id,
            "series_id": a.series_id,
            "source": a.source,
            "notes": readable(open_or_unreadable(db, a, "notes")),  # damaged: null, listed below
            "created_at": a.created_at.isoformat(),
        })
    prescriptions = [
        {
            "id": p.id, "prescribed_on": p.prescribed_on.isoformat(),
            "prescriber": readable(open_or_unreadable(db, p, "prescriber")),
            "sessions_prescribed": p.sessions_prescribed, "acts": readable(open_or_unreadable(db, p, "acts")),
            "practitioner_id": p.practitioner_id,
        }
        for p in db.exec(select(Prescription).where(Prescription.patient_id == patient_id).order_by(Prescription.id))
    ]
    series = [
        {
            "id": s.id, "prescription_id": s.prescription_id, "first_day": s.first_day.isoformat(),
            "sessions_target": s.sessions_target, "closed": s.closed,
            "type": types[s.appointment_type_id].name if s.appointment_type_id in types else None,
        }
        for s in db.exec(select(Series).where(Series.patient_id == patient_id).order_by(Series.id))
    ]
    ids = [a["id"] for a in appointments]
    reminders = [
        {"id": r.id, "appointment_id": r.appointment_id, "channel": r.channel, "due_at": r.due_at.isoformat(),
         "status": r.status, "sent_at": r.sent_at.isoformat() if r.sent_at else None}
        for r in db.exec(select(Reminder).where(Reminder.appointment_id.in_(ids))
                         .order_by(Reminder.due_at, Reminder.id))
    ] if ids else []
    online_bookings = [
        {"id": b.id, "appointment_id": b.appointment_id, "created_at": b.created_at.isoformat(),
         "confirmed_at": b.confirmed_at.isoformat() if b.confirmed_at else None,
         "released_at": b.released_at.isoformat() if b.released_at else None}
        for b in db.exec(select(OnlineBooking).where(OnlineBooking.appointment_id.in_(ids)).order_by(OnlineBooking.id))
    ] if ids else []
    waiting_list = _waiting_files(db, patient_id)
    opt_outs = [
        {"channel": s.channel or "all", "since": s.created_at.isoformat()}
        for s in db.exec(select(ReminderSwitch).where(ReminderSwitch.scope == "patient",
                                                       ReminderSwitch.subject_id == patient_id)
                         .order_by(ReminderSwitch.id))
    ]
    parts = {"appointments": appointments, "prescriptions": prescriptions, "series": series,
             "reminders": reminders, "online_bookings": online_bookings, "waiting_list": waiting_list,
             "reminder_opt_outs": opt_outs}
    if not any(parts.values()):
        return None
    return parts


def _waiting_files(db: Any, patient_id: int) -> list[dict[str, Any]]:
    """The patient's waiting-list files (what the family wrote, decrypted), each with the lists it
    is on and the slots offered from it."""
    files = []
    for e in db.exec(select(WaitingEntry).where(WaitingEntry.patient_id == patient_id).order_by(WaitingEntry.id)):
        listings = [
            {"practitioner_id": lst.practitioner_id, "state": lst.state, "priority": lst.priority,
             "refusal_message": readable(open_or_unreadable(db, lst, "refusal_message")),
             "triaged_at": lst.triaged_at.isoformat() if lst.triaged_at else None}
            for lst in db.exec(select(WaitingListing).where(WaitingListing.entry_id == e.id)
                               .order_by(WaitingListing.id))
        ]
        offers = [
            {"practitioner_id": o.practitioner_id, "starts_at": o.starts_at.isoformat(),
             "ends_at": o.ends_at.isoformat(), "status": o.status, "expires_at": o.expires_at.isoformat(),
             "answered_at": o.answered_at.isoformat() if o.answered_at else None,
             "booked_appointment_id": o.booked_appointment_id}
            for o in db.exec(select(Offer).where(Offer.entry_id == e.id).order_by(Offer.starts_at, Offer.id))
        ]
        files.append({
            "id": e.id,
            **{name: readable(open_or_unreadable(db, e, name))
               for name in ("full_name", "email", "phone", "situation", "prescription", "age_years", "birth_date",
                            "guardians")},
            "availability": e.availability, "urgent": e.urgent, "status": e.status,
            "earlier_than_appointment_id": e.earlier_than_appointment_id,
            "created_at": e.created_at.isoformat(), "last_confirmed_at": e.last_confirmed_at.isoformat(),
            "removed_reason": e.removed_reason, "lists": listings, "offers": offers,
        })
    return files


def erase_for_patient(db: Any, patient_id: int) -> dict[str, int]:
    """Delete every scheduling row about the patient, unsealed columns included (dates, types,
    statuses, reasons): sealed values would be shredded with the patient's key anyway, the rest
    would still tell when and why the patient came. Returns counts per table (for the audit).

    Other patients' rows that merely point at an erased appointment (an offer of the slot it
    freed) keep their row, with the pointer cleared."""
    appointments = select(Appointment.id).where(Appointment.patient_id == patient_id)
    entries = select(WaitingEntry.id).where(WaitingEntry.patient_id == patient_id)
    counts: dict[str, int] = {}

    def run(statement: Any, table: str) -> None:
        counts[table] = counts.get(table, 0) + (db.exec(statement).rowcount or 0)

    run(sa.update(Offer).where(Offer.freed_appointment_id.in_(appointments)).values(freed_appointment_id=None),
        "offer_unlinked")
    run(sa.update(Offer).where(Offer.booked_appointment_id.in_(appointments)).values(booked_appointment_id=None),
        "offer_unlinked")
    run(sa.update(WaitingEntry).where(WaitingEntry.earlier_than_appointment_id.in_(appointments))
        .values(earlier_than_appointment_id=None), "waiting_entry_unlinked")
    run(sa.delete(Offer).where(Offer.entry_id.in_(entries)), "offer")
    run(sa.delete(WaitingListing).where(WaitingListing.entry_id.in_(entries)), "waiting_listing")
    run(sa.delete(WaitingEntry).where(WaitingEntry.patient_id == patient_id), "waiting_entry")
    run(sa.delete(Reminder).where(Reminder.appointment_id.in_(appointments)), "reminder")
    run(sa.delete(OnlineBooking).where(OnlineBooking.appointment_id.in_(appointments)), "online_booking")
    run(sa.delete(Appointment).where(Appointment.patient_id == patient_id), "appointment")
    run(sa.delete(Series).where(Series.patient_id == patient_id), "series")
    run(sa.delete(Prescription).where(Prescription.patient_id == patient_id), "prescription")
    run(sa.delete(ReminderSwitch).where(ReminderSwitch.scope == "patient", ReminderSwitch.subject_id == patient_id),
        "reminder_switch")
    return {k: v for k, v in counts.items() if v}


def last_honoured_days(db: Any) -> dict[int, Any] | None:
    """The clinic-local day of each patient's last honoured appointment (core's retention counts
    from the last care); None when the clinic has none."""
    from carnet_scheduling.models import HONOURED

    rows = db.exec(
        select(Appointment.patient_id, sa.func.max(Appointment.local_day))
        .where(Appointment.status == HONOURED)
        .group_by(Appointment.patient_id)
    ).all()
    return {int(pid): day for pid, day in rows} or None
