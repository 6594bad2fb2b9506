"""Registry permissions and their default roles (see services.py for the visibility rule)."""

from __future__ import annotations

from carnet_core.contrib import Permission
from carnet_core.i18n import N_


def patient_permissions() -> list[Permission]:
    return [
        Permission("core.patients.view", N_("See patients' administrative files"),
                   roles=("owner", "practitioner", "secretary")),
        Permission("core.patients.view_all", N_("See every patient of the clinic, not only one's own"),
                   roles=("owner", "secretary")),
        Permission("core.patients.edit", N_("Register patients and edit their administrative files"),
                   roles=("owner", "practitioner", "secretary")),
        Permission("core.patients.clinical", N_("Read and write clinical notes of one's patients"),
                   roles=("practitioner",)),
        Permission("core.patients.export", N_("Export a patient's file (RGPD access and portability)"),
                   roles=("owner", "practitioner")),
        Permission("core.patients.settings", N_("Choose whether practitioners share the clinic's patients"),
                   roles=("owner",)),
        Permission("core.patients.erase", N_("Erase a patient's data (crypto-shredding)"), roles=("owner",)),
    ]
