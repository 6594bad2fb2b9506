"""How to reach a patient (e-mail, phone) for messages, through core's patient access (jobs act
as themselves: every patient of their clinic, opened values audited under the job)."""

from __future__ import annotations

from carnet_core.plugin_api import CarnetSession, PatientContact, patient_access

Contact = PatientContact


def patient_contact(db: CarnetSession, patient_id: int, channel: str | None = None) -> Contact | None:
    """The patient's own e-mail and phone, else those of the first holder of parental authority.

    With `channel` ("email" or "sms") only what that channel needs is opened (fewer decryptions)."""
    return patient_access(db).contact(patient_id, channel)
