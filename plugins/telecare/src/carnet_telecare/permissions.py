"""Telecare's permissions and the roles that hold them by default.

Secretaries triage the shared inbox: they open and answer administrative conversations only; a
clinical conversation needs `telecare.clinical` (owners, practitioners) and core's clinical gate on
the patient."""

from __future__ import annotations

from carnet_core.plugin_api import Permission

VIEW = "telecare.view"  # the inbox, administrative conversations, the patient panel
WRITE = "telecare.write"  # start and answer conversations, close them
CLINICAL = "telecare.clinical"  # clinical conversations
MANAGE = "telecare.manage"  # the clinic's messaging settings (patients may start a conversation)

PERMISSIONS = [
    Permission(VIEW, "See the messaging inbox", roles=("owner", "practitioner", "secretary")),
    Permission(WRITE, "Write to patients and close conversations", roles=("owner", "practitioner", "secretary")),
    Permission(CLINICAL, "Open and answer clinical conversations", roles=("owner", "practitioner")),
    Permission(MANAGE, "Change the practice's messaging settings", roles=("owner",)),
]
