"""The audit trail in words, for the pages a practitioner reads (the trail, "who accessed this
file"): actions, outcomes, kinds of actors and kinds of records as English msgids that the
catalogs translate, instead of the codes stored in the records.

Kinds of records come from core (below) and from each plugin's `audit_resource_labels` hook; a code
nobody named is shown as "record" with the code aside, never as a bare identifier in a sentence."""

from __future__ import annotations

import contextlib
from typing import Any

from carnet_core.i18n import N_

ACTION_WORDS = {
    "read": N_("consulted"), "list": N_("listed"), "search": N_("found by a search"), "create": N_("created"),
    "update": N_("changed"), "delete": N_("deleted"), "export": N_("exported"), "import": N_("imported"),
    "erase": N_("erased"), "purge": N_("purged"), "send": N_("message sent"), "cancel": N_("cancelled"),
    "move": N_("moved"), "confirm": N_("confirmed"), "login": N_("signed in"), "logout": N_("signed out"),
    "login_failed": N_("failed sign-in"), "session_expired": N_("session expired"),
    "password_change": N_("password changed"), "factor_change": N_("second factor changed"),
    "checkpoint": N_("checkpoint signed"), "rotate": N_("key rotated"), "rewrap": N_("keys re-wrapped"),
    "use": N_("link used"), "issue": N_("link issued"), "verify": N_("code checked"), "accept": N_("accepted"),
    "decline": N_("declined"), "disable": N_("disabled"), "sign": N_("signed"),
}
OUTCOME_WORDS = {"success": N_("done"), "failure": N_("failed"), "denied": N_("refused")}
ACTOR_WORDS = {"user": N_("staff member"), "patient_link": N_("the patient, through a link"),
               "job": N_("automatic task"), "system": N_("system"), "anonymous": N_("anonymous"),
               "token": N_("API token")}
CORE_RESOURCES = {
    "core_patient": N_("patient file"), "patient": N_("patient file"), "patient_accesses": N_("file accesses"),
    "patient_settings": N_("patient settings"), "patient_link": N_("patient link"), "session": N_("session"),
    "membership": N_("team membership"), "invitation": N_("invitation"), "recovery_code": N_("recovery code"),
    "api_token": N_("API token"), "audit_trail": N_("audit trail"), "core_user": N_("staff account"),
    "user": N_("staff account"), "clinic": N_("practice"), "core_clinic": N_("practice"),
    "clinic_module": N_("module"), "encryption_key": N_("encryption key"), "core_patient_guardian":
    N_("holder of parental authority"),
}
UNKNOWN_RESOURCE = N_("record")


def resource_words(host: Any) -> dict[str, str]:
    """Kind of record -> English msgid: core's, then every plugin's `audit_resource_labels`."""
    cached = getattr(host, "_carnet_resource_words", None)
    if cached is not None:
        return cached
    words = dict(CORE_RESOURCES)
    for labels in host.hook.audit_resource_labels():
        words.update(labels or {})
    with contextlib.suppress(AttributeError):  # a host that takes no attributes: computed each time
        host._carnet_resource_words = words
    return words


def action_word(code: str) -> str:
    return ACTION_WORDS.get(code, code)


def outcome_word(code: str) -> str:
    return OUTCOME_WORDS.get(code, code)


def actor_word(code: str) -> str:
    return ACTOR_WORDS.get(code, code)


def resource_word(host: Any, code: str) -> str:
    return resource_words(host).get(code, UNKNOWN_RESOURCE)
