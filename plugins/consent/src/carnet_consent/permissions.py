"""Consent's permissions and the roles that hold them by default (a clinic's owner may change them).

Secretaries send forms and see their status (which form, signed or not, which clause refused) but
no clinical content; the forms themselves are written by owners. The RGPD requests register is
kept by owners (the data controller's decisions, the export) with secretaries recording the
requests they receive."""

from __future__ import annotations

from carnet_core.plugin_api import Permission

VIEW = "consent.view"  # status pages, the patient panel
SEND = "consent.send"  # send a form, cancel a request, record a staff withdrawal
MANAGE = "consent.manage"  # edit and publish the clinic's forms
RIGHTS = "consent.rights"  # the RGPD requests register: see it, record a request
RIGHTS_DECIDE = "consent.rights_decide"  # extend a deadline, send the export, record the decision

PERMISSIONS = [
    Permission(VIEW, "See consent forms and their status", roles=("owner", "practitioner", "secretary")),
    Permission(SEND, "Send consent forms and record withdrawals", roles=("owner", "practitioner", "secretary")),
    Permission(MANAGE, "Edit and publish the clinic's consent forms", roles=("owner",)),
    Permission(RIGHTS, "See the RGPD requests register and record a request", roles=("owner", "secretary")),
    Permission(RIGHTS_DECIDE, "Answer RGPD requests (deadline, export, decision)", roles=("owner",)),
]
