"""Who may be written to: a patient in care (cared for within the last months, as the modules that
record care tell core's `last_care_dates`), and who allows remote care (core's consent question,
purpose `telesoin`: the consent module answers when the clinic enabled it)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from carnet_core.plugin_api import N_, CarnetSession, Clinic, FieldError, InvalidInput, purpose_allowed, utcnow

NO_CARE = N_("this patient has had no session in the last %(months)s months: messaging is for patients in care")
NO_CONSENT = N_("the patient has not consented to remote care (télésoin): send them the consent form first")


def last_care(host: Any, db: CarnetSession, patient_id: int) -> date | None:
    """The latest day the patient received care, over every module that records care."""
    clinic = db.get(Clinic, db.info["clinic_id"])
    days = []
    for answer in host.lifecycle("last_care_dates")(clinic=clinic, db=db) or []:
        found = (answer or {}).get(patient_id)
        if found is not None:
            days.append(found if isinstance(found, date) else found.date())
    return max(days) if days else None


def in_care(host: Any, db: CarnetSession, patient_id: int, months: int) -> bool:
    day = last_care(host, db, patient_id)
    return day is not None and day >= utcnow().date() - timedelta(days=round(months * 30.44))


def require_in_care(host: Any, db: CarnetSession, patient_id: int, months: int) -> None:
    if not in_care(host, db, patient_id, months):
        raise InvalidInput({"patient_id": FieldError("no_care", NO_CARE, months=months)})


def allows_remote_care(host: Any, db: CarnetSession, patient_id: int) -> bool:
    return purpose_allowed(host, db, patient_id, "telesoin")


def require_consent(host: Any, db: CarnetSession, patient_id: int) -> None:
    """Asked at the moment of writing, on both sides: a withdrawal takes effect at once."""
    if not allows_remote_care(host, db, patient_id):
        raise InvalidInput({"body": FieldError("no_consent", NO_CONSENT)})


def announce(hooks: Any, name: str, **event: Any) -> None:
    """Call one of telecare's event hooks (hookspecs.py) on the plugins the clinic enabled (`hooks`
    from core's clinic_hooks; None: nobody to tell, e.g. demo data)."""
    if hooks is not None:
        getattr(hooks, name)(**event)
