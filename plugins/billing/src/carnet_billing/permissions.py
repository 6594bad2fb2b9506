"""Billing permissions and the roles that hold them by default."""

from __future__ import annotations

from carnet_core.plugin_api import N_, Permission

VIEW = "billing.view"  # see notes (owners and secretaries all of them, a practitioner their own)
PREPARE = "billing.prepare"  # prepare, edit and delete drafts
ISSUE = "billing.issue"  # issue one's own notes and credit notes (owners: anyone's)
PAYMENTS = "billing.payments"  # record payments
PROFILE = "billing.profile"  # keep one's own billing profile
MANAGE = "billing.manage"  # the clinic's tariffs and catalogue of acts
DOCUMENTS = "billing.documents"  # download the PDF of one's notes (owners: anyone's)
EXPORTS = "billing.exports"  # receipts journal and FEC of one's practice (owners: anyone's)

PERMISSIONS = [
    Permission(VIEW, "See notes d'honoraires", roles=("owner", "practitioner", "secretary")),
    Permission(PREPARE, "Prepare draft notes", roles=("owner", "practitioner", "secretary")),
    Permission(ISSUE, "Issue notes and credit notes", roles=("owner", "practitioner")),
    Permission(PAYMENTS, "Record payments", roles=("owner", "practitioner", "secretary")),
    Permission(PROFILE, "Keep one's billing profile", roles=("owner", "practitioner")),
    Permission(MANAGE, "Manage tariffs and acts", roles=("owner",)),
    Permission(DOCUMENTS, "Download the PDF of notes", roles=("owner", "practitioner")),
    Permission(EXPORTS, "Accounting exports (receipts journal, FEC)", roles=("owner", "practitioner")),
]


# Kinds of audited records in words (core's audit pages; `audit_resource_labels`).
AUDIT_RESOURCES = {
    "billing_note": N_("fee note"), "billing_note_line": N_("fee note line"), "billing_payment": N_("payment"),
    "billing_act": N_("billed act"), "billing_profile": N_("billing profile"),
    "billing_number_series": N_("note numbering"), "billing_key_letter_value": N_("key letter value"),
    "billing_document": N_("billing document"), "billing_export": N_("accounting export"),
}
