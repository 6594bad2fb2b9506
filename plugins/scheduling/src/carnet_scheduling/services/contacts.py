"""How to reach a patient (e-mail, phone) from core's patient registry, for messages only.

Opening these sealed fields is a read of patient data: callers audit the message they send."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from carnet_core.plugin_api import CarnetSession


@dataclass(frozen=True)
class Contact:
    email: str | None
    phone: str | None
    first_name: str | None = None
    last_name: str | None = None

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


def patient_contact(db: CarnetSession, patient_id: int, channel: str | None = None) -> Contact | None:
    """The patient's own e-mail and phone, else those of the first holder of parental authority.

    With `channel` ("email" or "sms") only what that channel needs is opened (fewer decryptions)."""
    from carnet_core.plugin_api import KeyDestroyed, Patient, PatientGuardian, open_or_unreadable, readable

    def _open(db: CarnetSession, row: object, column: str) -> str | None:
        return readable(open_or_unreadable(db, row, column))  # damaged: as if missing (reported by core)

    patient = db.exec(select(Patient).where(Patient.id == patient_id)).first()
    if patient is None or patient.erased_at is not None:
        return None
    want_email, want_phone = channel in (None, "email"), channel in (None, "sms")
    try:
        email = _open(db, patient, "email") if want_email else None
        phone = _open(db, patient, "phone") if want_phone else None
        first = last = None
        if channel is None:
            first, last = _open(db, patient, "first_name"), _open(db, patient, "last_name")
        if (want_email and not email) or (want_phone and not phone):
            for guardian in db.exec(
                select(PatientGuardian).where(PatientGuardian.patient_id == patient_id).order_by(PatientGuardian.id)
            ):
                email = email or (_open(db, guardian, "email") if want_email else None)
                phone = phone or (_open(db, guardian, "phone") if want_phone else None)
    except KeyDestroyed:
        return None
    return Contact(email=email or None, phone=phone or None, first_name=first, last_name=last)
