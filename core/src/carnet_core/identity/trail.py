"""Account events in the audit trail: logins, failures, logouts, password and factor changes.

The audit trail is a hash chain per clinic (`carnet_core.audit`); there is no system-wide chain.
A staff account is not a clinic's row: it may work in several clinics, and logging in opens all
of them (through the clinic switcher). So an account event is recorded in the trail of EVERY
clinic where the account is an active member, each record in its clinic's chain, all in the
caller's transaction (if one cannot be written, the action fails). Clinic heads are locked in
ascending id order, so two transactions never wait on each other crosswise.

A failed login names no one: the actor is "anonymous" and the typed e-mail appears only as a
keyed hash (HMAC under a key derived from the master key), never in clear, and the password is
never recorded. Failures for an address that matches no account have no clinic to go to: they
are counted by the rate limiter (`core_login_attempt`) and logged without the address, nothing
more. A clinic owner therefore sees attempts against their members, never probes of strangers.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import select

from carnet_core import audit
from carnet_core.db.session import CarnetSession
from carnet_core.identity.keys import IdentityKeys
from carnet_core.identity.models import Membership

log = logging.getLogger("carnet.identity")


def account_clinics(db: CarnetSession, user_id: int) -> list[int]:
    """Ids of the clinics where the account is an active member, ascending."""
    rows = db.exec(
        select(Membership.clinic_id)
        .where(Membership.user_id == user_id, Membership.active == True)  # noqa: E712
        .order_by(Membership.clinic_id)
    )
    return list(rows)


def email_digest(keys: IdentityKeys, email: str) -> str:
    """A keyed hash of the normalised address: equal for equal addresses, unreadable otherwise."""
    return keys.mac("audit-email", (email or "").strip().lower())[:32]


def record_account_event(
    db: CarnetSession,
    user_id: int,
    *,
    action: str,
    actor: Any,
    outcome: str = "success",
    resource_type: str = "user",
    resource_id: Any = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Record one event about account `user_id` in each of its clinics; returns how many."""
    clinics = account_clinics(db, user_id)
    for clinic_id in clinics:
        audit.record(
            db,
            action=action,
            resource_type=resource_type,
            resource_id=user_id if resource_id is None else resource_id,
            actor=actor,
            outcome=outcome,
            clinic_id=clinic_id,
            details=details,
        )
    return len(clinics)


def record_failed_login(
    db: CarnetSession,
    keys: IdentityKeys,
    email: str,
    user_id: int | None,
    *,
    step: str,
    reason: str,
) -> None:
    """A refused login step. `step` is "password", "second_factor" or "reset"; `reason` says
    why in a word ("invalid", "rate_limited", "disabled", "no_clinic")."""
    digest = email_digest(keys, email)
    details = {"email_hash": digest, "step": step, "reason": reason}
    outcome = "denied" if reason == "rate_limited" else "failure"
    if user_id is None:
        log.info("login step refused for an address with no account (step=%s reason=%s)", step, reason)
        return
    record_account_event(
        db, user_id, action="login_failed", actor="anonymous", outcome=outcome, details=details
    )
