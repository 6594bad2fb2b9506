"""Labels of clause keys, statuses and signer roles (msgids, translated where shown): shared by
the pages, the messages and the signed PDF."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import N_

PURPOSE_LABELS = {
    "information": N_("Information notice on data processing"),
    "care": N_("Consent to care"),
    "telesoin": N_("Remote care (télésoin)"),
    "recording": N_("Recording of sessions"),
    "sms_reminders": N_("SMS reminders"),
    "sharing": N_("Sharing with another professional"),
    "photos": N_("Photos and video for follow-up"),
}
STATUS_LABELS = {"pending": N_("waiting for signature"), "complete": N_("signed"), "cancelled": N_("cancelled"),
                 "signed": N_("signed")}
SOURCE_LABELS = {"signature": N_("signature"), "withdrawal_link": N_("withdrawn through the link"),
                 "staff": N_("recorded by the practice")}
ROLE_LABELS = {"patient": N_("the patient"), "mother": N_("mother"), "father": N_("father"),
               "guardian": N_("legal guardian"), "other": N_("holder of parental authority")}
RULE_LABELS = {"patient": N_("the patient signs"), "one": N_("one holder of parental authority signs"),
               "both": N_("each holder of parental authority signs")}


RIGHTS_KIND_LABELS = {"access": N_("Access to the file"), "rectification": N_("Rectification"),
                      "erasure": N_("Erasure"), "objection": N_("Objection"), "portability": N_("Portability"),
                      "restriction": N_("Restriction of processing")}
RIGHTS_KIND_HELP = {"access": N_("a copy of the file and of the data kept"),
                    "rectification": N_("correct inaccurate data"),
                    "erasure": N_("delete data kept without reason (a care record is kept as the law requires)"),
                    "objection": N_("stop a processing such as reminders or sharing"),
                    "portability": N_("receive your data in a reusable format"),
                    "restriction": N_("freeze the use of data while a question is settled")}
REQUESTER_LABELS = {"patient": N_("the patient"), "parent": N_("a parent"), "guardian": N_("a legal guardian"),
                    "representative": N_("a representative")}
CHECK_LABELS = {"in_person": N_("in person"), "id_document": N_("copy of an identity document"),
                "known_address": N_("from the address on file"), "signed_link": N_("through a personal link")}
RIGHTS_STATE_LABELS = {"open": N_("in progress"), "due_soon": N_("due within 3 days"),
                       "overdue": N_("past the legal deadline"), "closed": N_("closed")}
RIGHTS_STATUS_LABELS = {"open": N_("in progress"), "answered": N_("answered"), "refused": N_("refused")}


def purpose_label(key: str) -> str:
    return PURPOSE_LABELS.get(key, key)


def labels() -> dict[str, Any]:
    return {"purpose_labels": PURPOSE_LABELS, "status_labels": STATUS_LABELS, "source_labels": SOURCE_LABELS,
            "role_labels": ROLE_LABELS, "rule_labels": RULE_LABELS, "rights_kind_labels": RIGHTS_KIND_LABELS,
            "requester_labels": REQUESTER_LABELS, "check_labels": CHECK_LABELS,
            "rights_state_labels": RIGHTS_STATE_LABELS, "rights_status_labels": RIGHTS_STATUS_LABELS}
