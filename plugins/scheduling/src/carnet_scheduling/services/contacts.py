"""How to reach a patient (e-mail, phone) for messages, through core's patient access (jobs act
as themselves: every patient of their clinic, opened values audited under the job)."""

from __future__ import annotations

from carnet_core.plugin_api import CarnetSession, PatientContact, patient_access

Contact = PatientContact


def patient_contact(db: CarnetSession, patient_id: int, channel: str | None = None) -> Contact | None:
    """The patient's own e-mail and phone, else those of the first holder of parental authority.

    With `channel` ("email" or "sms") only what that channel needs is opened (fewer decryptions)."""
    return patient_access(db).contact(patient_id, channel)


# What to tell a person whose value the registry refuses, per registry field (scheduling's msgids).
REGISTRY_MESSAGES = {
    "phone": "give a phone number such as 06 12 34 56 78, or leave it empty",
    "email": "give a valid e-mail address",
    "first_name": "give the first name",
    "last_name": "give the last name",
    "birth_date": "give the birth date (day/month/year, not in the future)",
}


def split_name(full_name: str) -> tuple[str, str]:
    """First and last name of a name typed in one field ("Léa Martin"): the first word, the rest."""
    first, _, last = full_name.strip().partition(" ")
    return first or full_name, last.strip() or first or full_name


def check_with_registry(values: dict[str, str], form_field: dict[str, str] | None = None) -> None:
    """Refuse at intake what core's registry would refuse when the patient is registered later
    (`check_patient_input`: the same normalisation of phone, e-mail, names, birth date).
    SchedulingError names the first refused field as the form calls it (`form_field`)."""
    from carnet_core.plugin_api import PatientInvalid, check_patient_input
    from carnet_scheduling.services.errors import SchedulingError

    try:
        check_patient_input({k: v for k, v in values.items() if v})
    except PatientInvalid as exc:
        for name in (*REGISTRY_MESSAGES, *exc.errors):
            if name in exc.errors:
                field = (form_field or {}).get(name, name)
                raise SchedulingError(field, REGISTRY_MESSAGES.get(name, "check your contact details")) from None
