"""How to reach a patient (e-mail, phone) for messages, through core's patient access (jobs act
as themselves: every patient of their clinic, opened values audited under the job)."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import CarnetSession, PatientContact, patient_access
from carnet_scheduling.services.errors import SchedulingError

Contact = PatientContact


def patient_contact(db: CarnetSession, patient_id: int, channel: str | None = None) -> Contact | None:
    """The patient's own e-mail and phone, else those of the main contact among the holders of
    parental authority (else the first of them).

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

    try:
        check_patient_input({k: v for k, v in values.items() if v})
    except PatientInvalid as exc:
        for name in (*REGISTRY_MESSAGES, *exc.errors):
            if name in exc.errors:
                field = (form_field or {}).get(name, name)
                raise SchedulingError(field, REGISTRY_MESSAGES.get(name, "check your contact details")) from None


GUARDIAN_KEYS = ("relation", "last_name", "first_name", "email", "phone")


def guardians_of(raw: Any) -> list[tuple[int, dict[str, Any]]]:
    """The holders of parental authority typed on a public form (a list of row dicts, the form's
    order): (row index on the form, holder) for each row with something typed in it."""
    if not raw:
        return []
    if not isinstance(raw, list) or len(raw) > 4:
        raise SchedulingError("guardians", "give at most four holders of parental authority")
    rows = []
    for index, row in enumerate(raw):
        if not isinstance(row, dict):
            raise SchedulingError("guardians", "give at most four holders of parental authority")
        kept: dict[str, Any] = {k: str(row.get(k) or "").strip() for k in GUARDIAN_KEYS}
        if not any(kept[k] for k in ("last_name", "first_name", "email", "phone")):
            continue
        kept = {k: v for k, v in kept.items() if v}
        kept["may_receive_messages"] = bool(row.get("may_receive_messages"))
        if row.get("main_contact"):
            kept["main_contact"] = True
        rows.append((index, kept))
    return rows


def check_guardians(rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Each holder as core's registry will check it; SchedulingError names the form's field of
    the first refused value (g1_phone: the second row's phone)."""
    from carnet_core.plugin_api import PatientInvalid, check_patient_input

    if not rows:
        return
    try:
        check_patient_input({"last_name": "x", "first_name": "x", "guardians": [g for _, g in rows]})
    except PatientInvalid as exc:
        for key in sorted(exc.errors):
            if key.startswith("guardians["):
                index, _, name = key.removeprefix("guardians[").partition("].")
                message = ("choose the relation to the patient" if name == "relation"
                           else REGISTRY_MESSAGES.get(name, "check the details of this holder"))
                raise SchedulingError(f"g{rows[int(index)][0]}_{name}", message) from None
            raise SchedulingError("guardians", "check the details of this holder") from None
