"""Patient links: signed, expiring, single-purpose links for people without accounts (cancel or
move an appointment, accept an offer, confirm a booking), with optional one-time codes."""

from carnet_core.links.holders import EMAIL_LIMIT, NAME_LIMIT, Holder, Throttled, clean_identity, find_holder
from carnet_core.links.models import PatientLink
from carnet_core.links.services import (
    CODE_LOCKED,
    EXPIRED,
    MAX_CODE_ATTEMPTS,
    MAX_CODES_SENT,
    REVOKED,
    THROTTLED,
    UNKNOWN,
    USED,
    IssuedLink,
    LinkError,
    LinkRefused,
    address_throttled,
    audit_access,
    contact_allowed,
    issue,
    issue_code,
    note_failure,
    open_link,
    refusal_reason,
    revoke,
    use,
    verify_code,
)

__all__ = [
    "CODE_LOCKED", "EMAIL_LIMIT", "EXPIRED", "MAX_CODE_ATTEMPTS", "MAX_CODES_SENT", "NAME_LIMIT",
    "REVOKED", "THROTTLED", "UNKNOWN", "USED", "Holder", "IssuedLink", "LinkError",
    "LinkRefused", "PatientLink", "Throttled", "address_throttled", "audit_access", "clean_identity",
    "contact_allowed", "find_holder", "issue", "issue_code", "note_failure", "open_link", "refusal_reason",
    "revoke", "use", "verify_code",
]
