"""The patient registry shared by every plugin: sealed identity and contact fields, search
through blind indexes (names by their first letters, e-mail and phone exactly), guardians of
minors, per-practitioner visibility, audited access."""

from carnet_core.patients import guard as _guard  # noqa: E402,F401  (arms the listener)
from carnet_core.patients.patient_access import (  # noqa: E402
    PatientAccess,
    PatientContact,
    PatientRef,
    access,
)
from carnet_core.patients.services import (  # noqa: E402
    PatientErased,
    PatientError,
    PatientForbidden,
    PatientInvalid,
    PatientNotFound,
)

__all__ = [
    "PatientAccess", "PatientContact", "PatientErased", "PatientError", "PatientForbidden", "PatientInvalid",
    "PatientNotFound", "PatientRef", "access",
]
