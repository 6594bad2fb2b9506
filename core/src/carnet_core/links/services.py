"""Issuing, opening and using patient links; one-time codes; rate limits; the audit trail.

A controller handling a link calls `open_link` first (it counts the access and refuses bad,
expired, used or throttled links with a `LinkRefused` carrying the status to answer), then
`verify_code` when the link needs one, and `use` when the action is done (an atomic
compare-and-set on the use count, audited with actor kind "patient_link"). Refusals are
recorded in the request's transaction: render them with `carnet_core.links.web.refusal_page`,
which keeps that transaction (a refusal must still count towards the limits).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from carnet_core.audit import record
from carnet_core.db.base import utcnow
from carnet_core.db.session import CarnetSession
from carnet_core.links.models import LinkAttempt, PatientLink

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{40,64}$")
PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
CODE_LENGTH = 6
CODE_TTL = timedelta(minutes=15)
MAX_CODE_ATTEMPTS = 5  # wrong codes before the code is void (a new one must be sent)
MAX_CODES_SENT = 5  # codes sent per link
WINDOW = timedelta(minutes=15)
MAX_FAILED_PER_ADDRESS = 20  # unknown/invalid tokens or wrong codes from one address per window
MAX_ACCESS_PER_TOKEN = 30  # opens of one link per window
MAX_PER_CONTACT = 5  # e-mails sent to one address per window (booking, waiting list)
ATTEMPT_RETENTION = timedelta(days=1)

# Why a link is refused, and the status the page answers with.
UNKNOWN = "unknown"  # 404: no such link (or another clinic's, or another purpose)
EXPIRED = "expired"  # 410
USED = "used"  # 410
REVOKED = "revoked"  # 410
THROTTLED = "throttled"  # 429
CODE_LOCKED = "code_locked"  # 429: too many wrong codes
STATUS = {UNKNOWN: 404, EXPIRED: 410, USED: 410, REVOKED: 410, THROTTLED: 429, CODE_LOCKED: 429}


class LinkError(ValueError):
    """A link cannot be issued as asked; the message names the fix."""


class LinkRefused(Exception):
    """The link cannot be used: `reason` is one of UNKNOWN, EXPIRED, USED, REVOKED, THROTTLED,
    CODE_LOCKED; `status` is the HTTP status to answer with."""

    def __init__(self, reason: str, link: PatientLink | None = None):
        super().__init__(reason)
        self.reason = reason
        self.link = link

    @property
    def status(self) -> int:
        return STATUS[self.reason]


@dataclass(frozen=True)
class IssuedLink:
    link: PatientLink
    token: str  # the only copy of the raw token: put it in the URL, never store or log it


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _key(value: str) -> str:
    return hashlib.sha256(f"carnet.link\x00{value}".encode()).hexdigest()


def issue(
    db: CarnetSession,
    *,
    purpose: str,
    subject_type: str,
    subject_id: int,
    expires_at: datetime | None = None,
    expires_in: timedelta | None = None,
    max_uses: int = 1,
    patient_id: int | None = None,
    code_required: bool = False,
    clinic_id: int | None = None,
) -> IssuedLink:
    """Create a link in the caller's transaction; returns it with its raw token."""
    if not PURPOSE_RE.match(purpose or ""):
        raise LinkError(f"purpose '{purpose}': use '<plugin>.<verb>', e.g. 'scheduling.cancel'")
    if (expires_at is None) == (expires_in is None):
        raise LinkError("give exactly one of expires_at= or expires_in=")
    now = utcnow()
    expiry = expires_at if expires_at is not None else now + expires_in  # type: ignore[operator]
    if expiry.tzinfo is None:
        raise LinkError("expires_at must be timezone-aware (UTC)")
    if expiry <= now:
        raise LinkError("the link would already be expired; give a future expiry")
    if max_uses < 1:
        raise LinkError("max_uses must be at least 1")
    token = secrets.token_urlsafe(32)
    link = PatientLink(
        token_hash=token_hash(token), purpose=purpose, subject_type=subject_type,
        subject_id=subject_id, patient_id=patient_id, max_uses=max_uses, expires_at=expiry,
        code_required=code_required,
    )
    if clinic_id is not None:
        link.clinic_id = clinic_id
    db.add(link)
    db.flush()
    return IssuedLink(link=link, token=token)


def _count(db: CarnetSession, scope: str, key: str, since: datetime, failed_only: bool) -> int:
    stmt = select(sa.func.count()).select_from(LinkAttempt).where(
        LinkAttempt.scope == scope, LinkAttempt.key == key, LinkAttempt.at >= since
    )
    if failed_only:
        stmt = stmt.where(col(LinkAttempt.failed).is_(True))
    return int(db.exec(stmt).one())


def _note(db: CarnetSession, scope: str, key: str, failed: bool) -> None:
    db.add(LinkAttempt(scope=scope, key=key, failed=failed))
    db.flush()


def address_throttled(db: CarnetSession, address: str | None) -> bool:
    if not address:
        return False
    return _count(db, "address", _key(address), utcnow() - WINDOW, True) >= MAX_FAILED_PER_ADDRESS


def note_failure(db: CarnetSession, address: str | None) -> None:
    """Count a failed attempt (bad token, wrong code) against the address."""
    if address:
        _note(db, "address", _key(address), True)


def contact_allowed(db: CarnetSession, contact: str) -> bool:
    """Count one message to `contact` (an e-mail address); False past the limit per window.

    Protects patients' mailboxes from being flooded through public forms."""
    key = _key("contact:" + contact.strip().lower())
    if _count(db, "contact", key, utcnow() - WINDOW, False) >= MAX_PER_CONTACT:
        return False
    _note(db, "contact", key, False)
    return True


def _audit_refusal(db: CarnetSession, link: PatientLink, reason: str) -> None:
    record(
        db, action="use", resource_type="patient_link", resource_id=link.id,
        patient_id=link.patient_id, outcome="denied",
        details={"purpose": link.purpose, "reason": reason},
        actor=f"patient_link:{link.id}", clinic_id=link.clinic_id,
    )


def open_link(db: CarnetSession, token: str, purpose: str | tuple[str, ...], address: str | None) -> PatientLink:
    """The usable link of this clinic for `token` and `purpose`, or `LinkRefused`.

    `db` is bound to the clinic of the public page, so another clinic's link is unknown here.
    Counts the access per token and, when refused, per address.
    """
    purposes = (purpose,) if isinstance(purpose, str) else purpose
    if address_throttled(db, address):
        raise LinkRefused(THROTTLED)
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        note_failure(db, address)
        raise LinkRefused(UNKNOWN)
    digest = token_hash(token)
    link = db.exec(select(PatientLink).where(PatientLink.token_hash == digest)).first()
    if link is None or link.purpose not in purposes:
        note_failure(db, address)
        raise LinkRefused(UNKNOWN)
    key = _key("token:" + digest)
    if _count(db, "token", key, utcnow() - WINDOW, False) >= MAX_ACCESS_PER_TOKEN:
        _audit_refusal(db, link, THROTTLED)
        raise LinkRefused(THROTTLED, link)
    _note(db, "token", key, False)
    reason = refusal_reason(link)
    if reason is not None:
        note_failure(db, address)
        _audit_refusal(db, link, reason)
        raise LinkRefused(reason, link)
    return link


def refusal_reason(link: PatientLink, now: datetime | None = None) -> str | None:
    now = now or utcnow()
    if link.revoked_at is not None:
        return REVOKED
    if link.use_count >= link.max_uses:
        return USED
    if link.expires_at <= now:
        return EXPIRED
    return None


def audit_access(db: CarnetSession, link: PatientLink, *, action: str = "read",
                 resource_type: str | None = None, details: dict[str, Any] | None = None) -> None:
    """Record that the link was used to see (or do) something, without consuming it."""
    record(
        db, action=action, resource_type=resource_type or link.subject_type,
        resource_id=link.subject_id, patient_id=link.patient_id,
        details={"purpose": link.purpose, "link": link.id, **(details or {})},
        actor=f"patient_link:{link.id}", clinic_id=link.clinic_id,
    )


def use(db: CarnetSession, link: PatientLink, *, action: str, resource_type: str | None = None,
        details: dict[str, Any] | None = None) -> None:
    """Consume one use of the link and audit the action, in the caller's transaction.

    The use count moves with a compare-and-set, so two concurrent requests cannot both use a
    single-use link: the loser gets `LinkRefused(USED)` (and its transaction must roll back).
    """
    if link.code_required and link.code_verified_at is None:
        raise LinkRefused(UNKNOWN, link)
    t = PatientLink.__table__.c  # type: ignore[attr-defined]
    now = utcnow()
    result = db.execute(
        sa.update(PatientLink.__table__)
        .where(t.id == link.id, t.use_count == link.use_count, t.use_count < t.max_uses,
               t.revoked_at.is_(None), t.expires_at > now)
        .values(use_count=t.use_count + 1, last_used_at=now)
    )
    if result.rowcount != 1:
        raise LinkRefused(USED, link)
    link.use_count += 1
    link.last_used_at = now
    audit_access(db, link, action=action, resource_type=resource_type, details=details)


def revoke(db: CarnetSession, link_or_subject: PatientLink | tuple[str, int], purpose: str | None = None) -> int:
    """Revoke a link, or every live link on a subject (`("scheduling_appointment", 12)`),
    optionally only those of one purpose. Returns how many were revoked."""
    t = PatientLink.__table__.c  # type: ignore[attr-defined]
    if isinstance(link_or_subject, PatientLink):
        condition = t.id == link_or_subject.id
    else:
        subject_type, subject_id = link_or_subject
        condition = sa.and_(t.subject_type == subject_type, t.subject_id == subject_id)
        if purpose is not None:
            condition = sa.and_(condition, t.purpose == purpose)
    clinic_id = db.info.get("clinic_id")
    if clinic_id is not None:
        condition = sa.and_(condition, t.clinic_id == clinic_id)
    result = db.execute(
        sa.update(PatientLink.__table__).where(condition, t.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)


# --- one-time codes ------------------------------------------------------------------------------


def _code_digest(db: CarnetSession, link: PatientLink, code: str) -> bytes:
    from carnet_core.encryption import blind_index

    digest = blind_index(db, link.clinic_id, "core_patient_link.code", f"{link.id}:{code}", "exact")
    assert digest is not None
    return digest


def issue_code(db: CarnetSession, link: PatientLink) -> str:
    """A fresh one-time code for the link (the previous one stops working); send it by e-mail.

    Raises `LinkRefused(THROTTLED)` once too many codes were sent for this link."""
    if link.codes_sent >= MAX_CODES_SENT:
        raise LinkRefused(THROTTLED, link)
    code = f"{secrets.randbelow(10 ** CODE_LENGTH):0{CODE_LENGTH}d}"
    link.code_hash = _code_digest(db, link, code)
    link.code_expires_at = utcnow() + CODE_TTL
    link.code_attempts = 0
    link.codes_sent += 1
    db.add(link)
    db.flush()
    return code


def verify_code(db: CarnetSession, link: PatientLink, code: str, address: str | None) -> bool:
    """Check a code typed by the patient. A wrong code counts against the link and the address;
    after MAX_CODE_ATTEMPTS the code is void (`LinkRefused(CODE_LOCKED)`)."""
    import hmac

    if link.code_hash is None or link.code_attempts >= MAX_CODE_ATTEMPTS:
        raise LinkRefused(CODE_LOCKED, link)
    code = (code or "").strip().replace(" ", "")
    expired = link.code_expires_at is None or link.code_expires_at <= utcnow()
    good = (
        not expired and len(code) == CODE_LENGTH and code.isdigit()
        and hmac.compare_digest(_code_digest(db, link, code), link.code_hash)
    )
    if good:
        link.code_verified_at = utcnow()
        link.code_hash = None  # a code works once
        db.add(link)
        db.flush()
        return True
    link.code_attempts += 1
    db.add(link)
    note_failure(db, address)
    _audit_refusal(db, link, "wrong_code" if not expired else "code_expired")
    return False


def purge_attempts(db: CarnetSession, older_than: timedelta = ATTEMPT_RETENTION) -> int:
    """Delete rate-limit counters past their use (they hold hashed addresses)."""
    result = db.execute(sa.delete(LinkAttempt).where(col(LinkAttempt.at) < utcnow() - older_than))
    return int(result.rowcount or 0)
