"""Imports every core table so SQLModel.metadata is complete (migrations, drift check)."""

from carnet_core.clinics.models import Clinic, ClinicPlugin
from carnet_core.identity.models import (
    ApiToken,
    LoginAttempt,
    LoginSession,
    Membership,
    OneTimeLink,
    RecoveryCode,
    User,
)

__all__ = [
    "ApiToken", "Clinic", "ClinicPlugin", "LoginAttempt", "LoginSession", "Membership",
    "OneTimeLink", "RecoveryCode", "User",
]
