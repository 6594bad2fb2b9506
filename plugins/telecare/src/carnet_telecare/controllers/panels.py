"""The messaging panel of a patient's page: counts and a link (cheap: it runs on every patient view)."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import N_, Panel

from carnet_telecare import permissions as perm
from carnet_telecare.services.messaging import count_for


def patient_panel(patient: Any, user: Any, db: Any) -> list[Any]:
    if user is None or not user.can(perm.VIEW) or getattr(patient, "id", None) is None:
        return []
    opened, waiting = count_for(db, user, patient.id)
    return [Panel(title=N_("Secure messages"), template="telecare/_patient_panel.html",
                  context={"patient_id": patient.id, "open": opened, "waiting": waiting,
                           "can_write": user.can(perm.WRITE)},
                  permission=perm.VIEW, order=45)]
