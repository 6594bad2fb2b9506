"""Imports every core table so SQLModel.metadata is complete (migrations, drift check)."""

from carnet_core.clinics.models import Clinic, ClinicPlugin

__all__ = ["Clinic", "ClinicPlugin"]
