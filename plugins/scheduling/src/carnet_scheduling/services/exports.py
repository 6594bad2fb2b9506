"""RGPD export of what scheduling holds about one patient: appointments, prescriptions, series."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from carnet_core.encryption import open_
from carnet_scheduling.models import Appointment, AppointmentType, Prescription, Series


def export_for_patient(db: Any, patient_id: int) -> dict[str, Any]:
    """Everything scheduling records about the patient, decrypted (the export is for the patient)."""
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
            "cancel_reason": a.cancel_reason,
            "practitioner_id": a.practitioner_id,
            "series_id": a.series_id,
            "source": a.source,
            "notes": open_(db, a, "notes"),
            "created_at": a.created_at.isoformat(),
        })
    prescriptions = [
        {
            "id": p.id, "prescribed_on": p.prescribed_on.isoformat(), "prescriber": p.prescriber,
            "sessions_prescribed": p.sessions_prescribed, "acts": p.acts, "practitioner_id": p.practitioner_id,
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
    return {"appointments": appointments, "prescriptions": prescriptions, "series": series}
