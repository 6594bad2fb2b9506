"""The one question other modules ask before processing a patient's data for an optional purpose:
"does patient P allow purpose X now?"

    from carnet_core.plugin_api import purpose_allowed

    if not purpose_allowed(job.host, db, appt.patient_id, "sms_reminders"):
        ...  # do not send

A plugin the clinic enabled answers through the `patient_allows` hook (the consent module does,
from the latest recorded decision: a signature, a refusal or a withdrawal takes effect at once).
When no enabled module answers (consent not enabled for the clinic, or it has nothing to say),
the documented default applies: `DEFAULTS[purpose]`, i.e. allowed for every purpose except a
session's recording and photos/video, which stay off unless a signed agreement exists
(DOMAIN: "recording is off unless a signed agreement exists"). An unknown purpose is a
programming error (ValueError), never silently allowed.
"""

from __future__ import annotations

from typing import Any

# The purposes modules ask about, with what each means (shown in docs and forms).
PURPOSES: dict[str, str] = {
    "information": "the patient received the information notice on data processing",
    "care": "consent to care",
    "telesoin": "remote care (video sessions)",
    "recording": "recording of a session",
    "sms_reminders": "appointment reminders by SMS",
    "sharing": "sharing the record with another professional",
    "photos": "photos or video for follow-up",
}

# The answer when no module the clinic enabled answers for the patient and purpose.
DEFAULTS: dict[str, bool] = {purpose: purpose not in ("recording", "photos") for purpose in PURPOSES}


def purpose_allowed(host: Any, db: Any, patient_id: int, purpose: str) -> bool:
    """True when patient `patient_id` of `db`'s clinic allows `purpose` now.

    `host` is the process's plugin host (`host_of(request)` in a handler, `job.host` in a job);
    `db` a session bound to the clinic. Asked of the plugins the clinic enabled (first answer
    wins); the default of `DEFAULTS` otherwise."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose '{purpose}'; one of {', '.join(PURPOSES)}")
    from carnet_core.clinics.services import enabled_plugins

    clinic_id = db.info.get("clinic_id")
    if clinic_id is None:
        raise ValueError("purpose_allowed needs a session bound to a clinic")
    enabled = enabled_plugins(db, clinic_id, host.names)
    answer = host.for_clinic(enabled).patient_allows(
        clinic_id=clinic_id, patient_id=patient_id, purpose=purpose, db=db,
    )
    return DEFAULTS[purpose] if answer is None else bool(answer)
