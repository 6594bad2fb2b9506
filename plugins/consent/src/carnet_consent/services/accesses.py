"""'Who looked at my file', for the patient or a parent: from the signed-link space (a link from a
consent message, a one-time code sent to the same address), the accesses to the patient's file
over the last 12 months, from core's audit trail, in plain French. Viewing it is itself audited.
The clinic's owner can switch it off (`services.settings`): the links are then no longer put in
messages, and those already sent open a page saying the practice does not offer it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import (
    CarnetSession,
    NotFound,
    accesses_for_patient_view,
    enqueue,
    links,
    utcnow,
)

from carnet_consent.models import Signer

ACCESSES = "consent.accesses"  # link purpose
ACCESSES_VALID = timedelta(days=30)
WINDOW = timedelta(days=365)
CODE_ACTOR = "consent.send_access_code"


class AccessesOff(Exception):
    """The clinic's owner switched "who looked at my file" off."""


def check_enabled(db: CarnetSession) -> None:
    from carnet_consent.services.settings import accesses_enabled

    if not accesses_enabled(db):
        raise AccessesOff()


def issue_link(db: CarnetSession, signer: Signer) -> Any:
    return links.issue(db, purpose=ACCESSES, subject_type="consent_signer", subject_id=signer.id,  # type: ignore[arg-type]
                       patient_id=signer.patient_id, expires_in=ACCESSES_VALID, max_uses=1, code_required=True)


def signer_of(db: CarnetSession, link: Any) -> Signer:
    signer = db.exec(select(Signer).where(Signer.id == link.subject_id)).first()
    if signer is None:
        raise NotFound("consent signer")
    return signer


def request_code(db: CarnetSession, link: Any) -> None:
    check_enabled(db)
    if link.codes_sent >= links.MAX_CODES_SENT:
        raise links.LinkRefused(links.THROTTLED, link)
    links.audit_access(db, link, action="request_code", resource_type="patient_accesses")
    enqueue(db, CODE_ACTOR, link.id, link.codes_sent + 1)


def view(db: CarnetSession, link: Any, code: str, address: str | None,
         host: Any = None) -> list[dict[str, Any]] | None:
    """The rows once the code is right (the link is then used, the viewing audited), else None."""
    check_enabled(db)
    if not links.verify_code(db, link, code, address):
        return None
    rows = accesses_for_patient_view(db, link.patient_id, utcnow() - WINDOW, host)
    # the link's use is the audit record of this viewing (the patient, through this link)
    links.use(db, link, action="read", resource_type="patient_accesses", details={"rows": len(rows)})
    return rows
