"""Consent's permissions and the roles that hold them by default (a clinic's owner may change them).

Secretaries send forms and see their status (which form, signed or not, which clause refused) but
no clinical content; the forms themselves are written by owners."""

from __future__ import annotations

from carnet_core.plugin_api import Permission

VIEW = "consent.view"  # status pages, the patient panel
SEND = "consent.send"  # send a form, cancel a request, record a staff withdrawal
MANAGE = "consent.manage"  # edit and publish the clinic's forms

PERMISSIONS = [
    Permission(VIEW, "See consent forms and their status", roles=("owner", "practitioner", "secretary")),
    Permission(SEND, "Send consent forms and record withdrawals", roles=("owner", "practitioner", "secretary")),
    Permission(MANAGE, "Edit and publish the clinic's consent forms", roles=("owner",)),
]
