"""Identity services: accounts, memberships, enrollment, second factor, sessions, rate limits,
API tokens. No Litestar or Jinja here; callers pass a database session and the identity keys.

Identity rows are system-wide (a user may belong to several clinics), so these functions take an
unscoped session unless stated otherwise.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from carnet_core.clinics.models import Clinic, ClinicPlugin
from carnet_core.db.base import utcnow
from carnet_core.db.session import CarnetSession
from carnet_core.identity import passwords, totp
from carnet_core.identity import policy as policy_defaults
from carnet_core.identity.keys import IdentityKeys, token_hash
from carnet_core.identity.models import (
    ROLES,
    ApiToken,
    LoginAttempt,
    LoginSession,
    Membership,
    OneTimeLink,
    RecoveryCode,
    User,
)
from carnet_core.identity.policy import IdentityPolicy
from carnet_core.identity.trail import record_account_event, record_failed_login
from carnet_core.inputs import text_problem

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
ENROLL_TTL = timedelta(hours=72)
RESET_TTL = timedelta(hours=1)
MFA_STAGE_TTL = timedelta(minutes=5)
MFA_STAGE_MAX_FAILURES = 5
# Failed steps (password or second factor) tolerated in a sliding window before refusing:
# production defaults; the deployment's values come from settings through IdentityPolicy.
ACCOUNT_LIMIT = policy_defaults.ACCOUNT_LIMIT
ADDRESS_LIMIT = policy_defaults.ADDRESS_LIMIT
DEFAULT_POLICY = IdentityPolicy()
TOUCH_EVERY = timedelta(seconds=60)
TOKEN_PREFIX = "carnet_"  # noqa: S105 (a public marker, not a secret)


class IdentityError(ValueError):
    """An identity operation is refused; the message names the fix."""


# --- accounts and memberships -------------------------------------------------------------


def normalise_email(email: str) -> str:
    value = (email or "").strip().lower()
    if not EMAIL_RE.match(value) or len(value) > 254:
        raise IdentityError("email: give a valid address such as marie@cabinet.fr")
    return value


def parse_roles(raw: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    roles = tuple(sorted({r.strip().lower() for r in items if r and r.strip()}))
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise IdentityError(f"roles: choose among {', '.join(ROLES)} (comma-separated)")
    return roles


def get_user_by_email(db: CarnetSession, email: str) -> User | None:
    try:
        email = normalise_email(email)
    except IdentityError:
        return None
    return db.exec(select(User).where(User.email == email)).first()


def create_or_get_user(db: CarnetSession, email: str, display_name: str = "", rpps: str | None = None) -> User:
    email = normalise_email(email)
    user = db.exec(select(User).where(User.email == email)).first()
    if user is None:
        name = (display_name or "").strip()
        if len(name) > 200:
            raise IdentityError("name: use at most 200 characters")
        if (problem := text_problem(name, required=False)) is not None:
            raise IdentityError(f"name: {problem.message}")
        if rpps is not None and not re.fullmatch(r"\d{11}", rpps):
            raise IdentityError("rpps: the RPPS number has 11 digits")
        user = User(email=email, display_name=name, rpps=rpps)
        db.add(user)
        db.flush()
    return user


def set_membership(db: CarnetSession, clinic_id: int, user_id: int, roles: tuple[str, ...]) -> Membership:
    """Give `user_id` exactly `roles` in the clinic (re-activating a removed member)."""
    row = db.exec(select(Membership).where(Membership.clinic_id == clinic_id, Membership.user_id == user_id)).first()
    if row is None:
        row = Membership(clinic_id=clinic_id, user_id=user_id, roles=",".join(roles))
    else:
        row.roles = ",".join(roles)
        row.active = True
    db.add(row)
    db.flush()
    return row


def invite(
    db: CarnetSession,
    clinic_id: int,
    email: str,
    roles: str | list[str] | tuple[str, ...],
    display_name: str = "",
) -> tuple[User, str | None]:
    """Add a member to a clinic. Returns the user and, when they have not enrolled yet, the raw
    token of a fresh enrollment link (to e-mail or print; it is stored hashed)."""
    parsed = parse_roles(roles)
    user = create_or_get_user(db, email, display_name)
    set_membership(db, clinic_id, user.id, parsed)
    token = None if user.enrolled else create_link(db, user.id, "enroll")
    return user, token


def memberships_of(db: CarnetSession, user_id: int) -> list[tuple[Membership, Clinic]]:
    rows = db.exec(
        select(Membership, Clinic)
        .join(Clinic, Clinic.id == Membership.clinic_id)
        .where(Membership.user_id == user_id, Membership.active == True)  # noqa: E712
        .order_by(Clinic.name)
    )
    return list(rows)


def membership_and_clinic(db: CarnetSession, user_id: int, clinic_id: int) -> tuple[Membership, Clinic] | None:
    """The user's active membership of the clinic with the clinic's row, in one query."""
    found = db.exec(
        select(Membership, Clinic).join(Clinic, Clinic.id == Membership.clinic_id).where(
            Membership.user_id == user_id,
            Membership.clinic_id == clinic_id,
            Membership.active == True,  # noqa: E712
        )
    ).first()
    return (found[0], found[1]) if found is not None else None


def membership(db: CarnetSession, user_id: int, clinic_id: int) -> Membership | None:
    found = membership_and_clinic(db, user_id, clinic_id)
    return found[0] if found is not None else None


def disable_user(db: CarnetSession, user: User, actor: Any = None) -> None:
    """Disable an account everywhere: its sessions and API tokens stop working at once.
    Recorded in each of its clinics' audit trails (`actor` defaults to the request's)."""
    user.disabled = True
    user.updated_at = utcnow()
    db.add(user)
    revoke_all_sessions(db, user.id)
    db.exec(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.flush()
    record_account_event(db, user.id, action="disable", actor=actor)


def remove_member(db: CarnetSession, clinic_id: int, user_id: int) -> None:
    """Take a member out of one clinic (the account stays for their other clinics)."""
    row = membership(db, user_id, clinic_id)
    if row is None:
        raise IdentityError("no such member in this clinic")
    row.active = False
    db.add(row)
    db.exec(
        sa.update(ApiToken)
        .where(
            ApiToken.user_id == user_id,
            ApiToken.clinic_id == clinic_id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    db.exec(sa.delete(LoginSession).where(LoginSession.user_id == user_id, LoginSession.clinic_id == clinic_id))
    db.flush()


# --- one-time links -----------------------------------------------------------------------


def create_link(db: CarnetSession, user_id: int, purpose: str) -> str:
    """A single-use link token; earlier unused links of the same purpose stop working."""
    ttl = {"enroll": ENROLL_TTL, "reset": RESET_TTL}[purpose]
    now = utcnow()
    db.exec(
        sa.update(OneTimeLink)
        .where(
            OneTimeLink.user_id == user_id,
            OneTimeLink.purpose == purpose,
            OneTimeLink.used_at.is_(None),
        )
        .values(used_at=now)
    )
    raw = secrets.token_urlsafe(32)
    db.add(OneTimeLink(token_hash=token_hash(raw), user_id=user_id, purpose=purpose, expires_at=now + ttl))
    db.flush()
    return raw


def find_link(db: CarnetSession, raw: str, purpose: str) -> tuple[OneTimeLink, User] | None:
    """The valid (unused, unexpired) link and its enabled user, or None."""
    if not raw or len(raw) > 100:
        return None
    row = db.exec(select(OneTimeLink).where(OneTimeLink.token_hash == token_hash(raw))).first()
    if row is None or row.purpose != purpose or row.used_at is not None or row.expires_at <= utcnow():
        return None
    user = db.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    return row, user


def use_link(db: CarnetSession, link: OneTimeLink) -> None:
    link.used_at = utcnow()
    db.add(link)
    db.flush()


# --- passwords and second factor ----------------------------------------------------------


def set_password(
    db: CarnetSession,
    user: User,
    password: str,
    policy: IdentityPolicy | None = None,
    *,
    via: str = "account",
    actor: Any = None,
) -> None:
    """Set a new password (policy checked) and end every session of the user. Recorded in the
    audit trail of each of the user's clinics (`via`: enroll, reset, account; the actor is the
    user unless given)."""
    passwords.check_policy(password, [user.email, user.display_name])
    user.password_hash = passwords.hash_password(password, (policy or DEFAULT_POLICY).hasher)
    user.password_changed_at = user.updated_at = utcnow()
    db.add(user)
    revoke_all_sessions(db, user.id)
    db.flush()
    record_account_event(
        db, user.id, action="password_change", actor=actor or f"user:{user.id}", details={"via": via}
    )


def start_totp_enrollment(db: CarnetSession, keys: IdentityKeys, user: User) -> str:
    """Generate a new (unconfirmed) TOTP secret; returns it for the QR code."""
    secret = totp.new_secret()
    user.totp_secret_sealed = keys.seal(secret, _totp_context(user))
    user.totp_confirmed_at = None
    user.totp_last_step = None
    db.add(user)
    db.flush()
    return secret


def totp_secret(keys: IdentityKeys, user: User) -> str | None:
    if not user.totp_secret_sealed:
        return None
    return keys.open(user.totp_secret_sealed, _totp_context(user))


def _totp_context(user: User) -> str:
    return f"core_user.totp_secret:{user.id}"


def confirm_totp_enrollment(db: CarnetSession, keys: IdentityKeys, user: User, code: str) -> list[str] | None:
    """Confirm the pending secret with a code; returns fresh recovery codes, or None if wrong.
    Every session of the user ends (a factor change)."""
    secret = totp_secret(keys, user)
    if secret is None or user.password_hash is None:
        return None
    step = totp.matching_step(secret, code, None)
    if step is None:
        return None
    user.totp_confirmed_at = user.updated_at = utcnow()
    user.totp_last_step = step
    db.add(user)
    revoke_all_sessions(db, user.id)
    codes = regenerate_recovery_codes(db, keys, user, record=False)
    record_account_event(
        db, user.id, action="factor_change", actor=f"user:{user.id}", details={"factor": "totp"}
    )
    return codes


def regenerate_recovery_codes(db: CarnetSession, keys: IdentityKeys, user: User, record: bool = True) -> list[str]:
    """New recovery codes (the old ones stop working); a factor change for the audit trail."""
    db.exec(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = totp.new_recovery_codes()
    for code in codes:
        db.add(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(keys, user.id, code)))
    db.flush()
    if record:
        record_account_event(
            db, user.id, action="factor_change", actor=f"user:{user.id}", details={"factor": "recovery_codes"}
        )
    return codes


def _recovery_hash(keys: IdentityKeys, user_id: int, code: str) -> str:
    return keys.mac("recovery", f"{user_id}:{totp.normalise_recovery_code(code)}")


def verify_second_factor(db: CarnetSession, keys: IdentityKeys, user: User, code: str) -> bool:
    """A TOTP code not used before (its step is recorded), or an unused recovery code (spent)."""
    if not user.enrolled or not code:
        return False
    secret = totp_secret(keys, user)
    if secret is None:
        return False
    stripped = totp.normalise_code(code)
    if stripped.isdigit():
        step = totp.matching_step(secret, stripped, user.totp_last_step)
        if step is None:
            return False
        # Conditional update: two concurrent requests with the same code cannot both succeed.
        result = db.exec(
            sa.update(User)
            .where(
                User.id == user.id,
                sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step),
            )
            .values(totp_last_step=step)
        )
        db.refresh(user)
        return result.rowcount == 1
    normalised = totp.normalise_recovery_code(code)
    if len(normalised) != 10:
        return False
    result = db.exec(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _recovery_hash(keys, user.id, normalised),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    if result.rowcount != 1:
        return False
    record_account_event(
        db,
        user.id,
        action="use",
        resource_type="recovery_code",
        actor=f"user:{user.id}",
        details={"remaining": remaining_recovery_codes(db, user.id)},
    )
    return True


def remaining_recovery_codes(db: CarnetSession, user_id: int) -> int:
    return db.exec(
        select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    ).one()


# --- login and rate limits ----------------------------------------------------------------


@dataclass
class PasswordCheck:
    user: User | None  # set only when the password is right for an enrolled, enabled account
    limited: bool = False
    retry_after: timedelta | None = None  # when limited: how long before the next try is heard


# How failures are counted. A stranger's failures count per account and per address; a device
# that logged in to the account before (a valid known-device cookie, see below) has a counter of
# its own and ignores those two, so strangers cannot lock the owner out of their own devices.
# Past the limit, each key is refused for a time that doubles with each further failure
# (IdentityPolicy.refusal): brute force stays hopeless and a typo costs a minute.


def _attempt_keys(keys: IdentityKeys, email: str, address: str | None) -> tuple[str, str]:
    return keys.mac("login-account", email.strip().lower()), keys.mac("login-address", address or "-")


def _counters(
    keys: IdentityKeys, email: str, address: str | None, policy: IdentityPolicy, device: str | None
) -> list[tuple[str, str, int]]:
    """(scope, key, limit) of each counter a login step of `email` from here is held to."""
    if device is not None:
        return [("device", keys.mac("login-device", device), policy.account_limit)]
    account_key, address_key = _attempt_keys(keys, email, address)
    return [("account", account_key, policy.account_limit), ("address", address_key, policy.address_limit)]


def refusal(
    db: CarnetSession,
    keys: IdentityKeys,
    email: str,
    address: str | None,
    policy: IdentityPolicy | None = None,
    *,
    device: str | None = None,
) -> timedelta | None:
    """How long the caller must still wait before a login step is heard, or None when it may try
    now. `device` is the known-device id (`known_device`) when the request carries a valid one."""
    policy = policy or DEFAULT_POLICY
    now = utcnow()
    longest = None
    for scope, key, limit in _counters(keys, email, address, policy, device):
        count, last = db.exec(
            select(sa.func.count(), sa.func.max(LoginAttempt.at))
            .where(LoginAttempt.scope == scope, LoginAttempt.key == key, LoginAttempt.at > now - policy.window)
        ).one()
        if last is None or count < limit:
            continue
        wait = _aware(last) + policy.refusal(count, limit) - now
        if wait > timedelta(0) and (longest is None or wait > longest):
            longest = wait
    return longest


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def record_failure(
    db: CarnetSession,
    keys: IdentityKeys,
    email: str,
    address: str | None,
    policy: IdentityPolicy | None = None,
    *,
    device: str | None = None,
) -> None:
    policy = policy or DEFAULT_POLICY
    for scope, key, _limit in _counters(keys, email, address, policy, device):
        db.add(LoginAttempt(scope=scope, key=key))
    # Old rows are useless; trimming here keeps the table small without a scheduled job.
    db.exec(sa.delete(LoginAttempt).where(LoginAttempt.at < utcnow() - 2 * policy.window))
    db.flush()


def clear_account_failures(db: CarnetSession, keys: IdentityKeys, email: str, *, device: str | None = None) -> None:
    """A full login succeeded: this account's (and this device's) failures are forgotten."""
    account_key, _ = _attempt_keys(keys, email, None)
    db.exec(sa.delete(LoginAttempt).where(LoginAttempt.scope == "account", LoginAttempt.key == account_key))
    if device is not None:
        device_key = keys.mac("login-device", device)
        db.exec(sa.delete(LoginAttempt).where(LoginAttempt.scope == "device", LoginAttempt.key == device_key))


def warn_owner_if_attacked(
    db: CarnetSession, keys: IdentityKeys, user: User | None, email: str, policy: IdentityPolicy | None = None
) -> bool:
    """When strangers' failures on an existing account reach the limit, e-mail its holder (once
    per window): their known devices still get in; a new device waits. Returns True if a message
    was queued. The message holds no secret and no address of the attacker."""
    policy = policy or DEFAULT_POLICY
    account_key, _ = _attempt_keys(keys, email, None)
    since = utcnow() - policy.window

    def count(scope: str) -> int:
        return db.exec(
            select(sa.func.count()).select_from(LoginAttempt)
            .where(LoginAttempt.scope == scope, LoginAttempt.key == account_key, LoginAttempt.at > since)
        ).one()

    # Counted for unknown accounts too: the same work whether or not the account exists.
    reached = count("account") >= policy.account_limit
    if not reached or user is None or user.disabled or not user.enrolled or count("notice") > 0:
        return False
    db.add(LoginAttempt(scope="notice", key=account_key))
    db.flush()
    from carnet_core.identity.mail import enqueue_login_alert

    enqueue_login_alert(db, user.id, clinic_id=default_clinic(db, user.id))
    return True


def check_password(
    db: CarnetSession,
    keys: IdentityKeys,
    email: str,
    password: str,
    address: str | None,
    policy: IdentityPolicy | None = None,
    *,
    device_cookie: str | None = None,
) -> PasswordCheck:
    """First login step. Unknown accounts cost the same argon2 work as known ones, and every
    failure (whatever the reason) is counted: per account and per address, or, from a device
    that logged in to this account before (`device_cookie`), per device."""
    policy = policy or DEFAULT_POLICY
    user = get_user_by_email(db, email)
    account_id = user.id if user is not None else None
    device = known_device(keys, device_cookie, user, policy)
    wait = refusal(db, keys, email, address, policy, device=device)
    if wait is not None:
        record_failed_login(db, keys, email, account_id, step="password", reason="rate_limited")
        return PasswordCheck(user=None, limited=True, retry_after=wait)
    usable = user is not None and not user.disabled and user.enrolled
    ok = passwords.verify_password(user.password_hash if usable else None, password or "", policy.hasher)
    if not (ok and usable):
        record_failure(db, keys, email, address, policy, device=device)
        reason = "invalid"
        if user is not None and user.disabled:
            reason = "disabled"
        elif user is not None and not user.enrolled:
            reason = "not_enrolled"
        record_failed_login(db, keys, email, account_id, step="password", reason=reason)
        if device is None:
            warn_owner_if_attacked(db, keys, user, email, policy)
        return PasswordCheck(user=None)
    if passwords.needs_rehash(user.password_hash, policy.hasher):
        user.password_hash = passwords.hash_password(password, policy.hasher)
        db.add(user)
        db.flush()
    return PasswordCheck(user=user)


# --- known devices ------------------------------------------------------------------------
# A browser that completed a login (password and second factor) gets a signed, HttpOnly cookie
# naming the account and a random device id. It proves nothing by itself (password and second
# factor are still asked); it only moves that browser's login steps to a counter of their own.
# The signature covers the account's password and second-factor change times, so changing either
# revokes every known device. The cookie holds a few entries (a shared front-desk computer).

DEVICE_COOKIE_ENTRIES = 5


def _device_stamp(user: User) -> str:
    def at(moment: datetime | None) -> str:
        return f"{_aware(moment).timestamp():.3f}" if moment is not None else "-"

    return f"{at(user.password_changed_at)}/{at(user.totp_confirmed_at)}"


def _device_mac(keys: IdentityKeys, user: User, device_id: str, issued: int) -> str:
    return keys.mac("known-device", f"{user.id}.{device_id}.{issued}.{_device_stamp(user)}")[:32]


def _device_entries(cookie: str | None) -> list[tuple[int, str, int, str]]:
    """(user id, device id, issued at, mac) of each well-formed entry of the cookie."""
    entries = []
    for part in (cookie or "")[:1000].split("~")[:DEVICE_COOKIE_ENTRIES]:
        fields = part.split(".")
        if len(fields) == 4 and fields[0].isdigit() and fields[2].isdigit() and re.fullmatch(r"[\w-]{8,32}", fields[1]):
            entries.append((int(fields[0]), fields[1], int(fields[2]), fields[3]))
    return entries


def known_device(
    keys: IdentityKeys, cookie: str | None, user: User | None, policy: IdentityPolicy | None = None
) -> str | None:
    """The device id if `cookie` holds a valid, unexpired entry for `user`, else None."""
    import hmac

    policy = policy or DEFAULT_POLICY
    if user is None or user.id is None or not cookie:
        return None
    now = utcnow().timestamp()
    for user_id, device_id, issued, mac in _device_entries(cookie):
        if user_id != user.id or now - issued > policy.known_device.total_seconds():
            continue
        if hmac.compare_digest(mac, _device_mac(keys, user, device_id, issued)):
            return device_id
    return None


def remember_device(keys: IdentityKeys, cookie: str | None, user: User, device: str | None = None) -> str:
    """The cookie value after a full login of `user` on this browser: its entry (new, or renewed
    for the same device id) first, other accounts' entries kept, at most DEVICE_COOKIE_ENTRIES."""
    device_id = device or secrets.token_urlsafe(12)
    issued = int(utcnow().timestamp())
    entry = f"{user.id}.{device_id}.{issued}.{_device_mac(keys, user, device_id, issued)}"
    others = [
        ".".join((str(u), d, str(i), m)) for u, d, i, m in _device_entries(cookie) if u != user.id
    ]
    return "~".join([entry, *others][:DEVICE_COOKIE_ENTRIES])


# --- sessions -----------------------------------------------------------------------------


def create_session(
    db: CarnetSession,
    user: User,
    *,
    stage: str,
    clinic_id: int | None = None,
    address: str | None = None,
    user_agent: str | None = None,
    next_url: str | None = None,
) -> tuple[str, LoginSession]:
    """A new session with a new random id; only its hash is stored."""
    raw = secrets.token_urlsafe(32)
    row = LoginSession(
        token_hash=token_hash(raw),
        user_id=user.id,
        stage=stage,
        clinic_id=clinic_id,
        csrf_token=secrets.token_urlsafe(32),
        address=(address or None) and address[:64],
        user_agent=(user_agent or None) and user_agent[:200],
        next_url=next_url,
    )
    db.add(row)
    db.flush()
    return raw, row


def default_clinic(db: CarnetSession, user_id: int) -> int | None:
    found = memberships_of(db, user_id)
    return found[0][0].clinic_id if found else None


def load_session(
    db: CarnetSession,
    raw: str | None,
    *,
    idle: timedelta,
    absolute: timedelta,
    stage: str = "full",
    now: datetime | None = None,
) -> tuple[LoginSession, User] | None:
    """The live session for a cookie value, or None. Expired sessions are deleted on sight."""
    if not raw or len(raw) > 100:
        return None
    found = db.exec(
        select(LoginSession, User).outerjoin(User, User.id == LoginSession.user_id)
        .where(LoginSession.token_hash == token_hash(raw))
    ).first()
    if found is None or found[0].stage != stage:
        return None
    row, user = found
    return (row, user) if _live(db, row, user, idle=idle, absolute=absolute, stage=stage, now=now) else None


@dataclass(frozen=True)
class SessionMember:
    """What a staff request needs of its session: `load_session_and_membership`."""

    row: LoginSession
    user: User
    membership: tuple[Membership, Clinic] | None  # as membership_and_clinic reads it
    enabled_plugins: frozenset[str]  # the plugins that clinic enabled (clinics.services.enabled_plugins)


# The clinic's enabled plugins as one text (names one per line: no plugin name holds a line break).
_ENABLED_PLUGINS = (
    sa.select(sa.func.aggregate_strings(ClinicPlugin.plugin, "\n"))
    .where(ClinicPlugin.clinic_id == Membership.clinic_id, ClinicPlugin.enabled == True)  # noqa: E712
    .scalar_subquery()
)


def load_session_and_membership(
    db: CarnetSession, raw: str | None, *, idle: timedelta, absolute: timedelta, now: datetime | None = None,
) -> SessionMember | None:
    """`load_session` of a full session, with what `membership_and_clinic` would read for its user and
    clinic (None when the user is no active member of it, or the session has no clinic) and the
    names of the plugins that clinic enabled, in the same query: every staff request resolves its
    session so."""
    if not raw or len(raw) > 100:
        return None
    found = db.exec(
        select(LoginSession, User, Membership, Clinic, _ENABLED_PLUGINS)
        .outerjoin(User, User.id == LoginSession.user_id)
        .outerjoin(Membership, sa.and_(Membership.user_id == LoginSession.user_id,
                                       Membership.clinic_id == LoginSession.clinic_id,
                                       Membership.active == True))  # noqa: E712
        .outerjoin(Clinic, Clinic.id == Membership.clinic_id)
        .where(LoginSession.token_hash == token_hash(raw))
    ).first()
    if found is None or found[0].stage != "full":
        return None
    row, user, member, clinic, plugins = found
    if not _live(db, row, user, idle=idle, absolute=absolute, stage="full", now=now):
        return None
    if member is None or clinic is None:
        return SessionMember(row, user, None, frozenset())
    return SessionMember(row, user, (member, clinic), frozenset(plugins.split("\n")) if plugins else frozenset())


def _live(db: CarnetSession, row: LoginSession, user: User | None, *, idle: timedelta, absolute: timedelta,
          stage: str, now: datetime | None) -> bool:
    """Whether a session row read for a cookie is live; an expired one, or one of a disabled or
    deleted user, is deleted (an expiry recorded); a live one seen again is touched."""
    now = now or utcnow()
    if stage == "full":
        expired = now - row.last_seen_at > idle or now - row.created_at > absolute
    else:
        expired = now - row.created_at > MFA_STAGE_TTL
    if expired or user is None or user.disabled:
        db.delete(row)
        db.flush()
        if expired and stage == "full" and user is not None:
            reason = "idle" if now - row.created_at <= absolute else "absolute"
            record_account_event(
                db, user.id, action="session_expired", resource_type="session",
                resource_id=row.id, actor="system:sessions", details={"reason": reason},
            )
        return False
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        db.add(row)
        db.flush()
    return True


def revoke_session(db: CarnetSession, row_id: int) -> None:
    db.exec(sa.delete(LoginSession).where(LoginSession.id == row_id))


def revoke_session_by_cookie(db: CarnetSession, raw: str | None) -> None:
    if raw and len(raw) <= 100:
        db.exec(sa.delete(LoginSession).where(LoginSession.token_hash == token_hash(raw)))


def revoke_all_sessions(db: CarnetSession, user_id: int) -> None:
    db.exec(sa.delete(LoginSession).where(LoginSession.user_id == user_id))


def complete_login(
    db: CarnetSession,
    pending: LoginSession,
    user: User,
    address: str | None,
    user_agent: str | None,
) -> tuple[str, LoginSession]:
    """Second factor passed: the pending row is dropped and a full session with a NEW id made."""
    next_url = pending.next_url
    db.delete(pending)
    db.flush()
    raw, row = create_session(
        db,
        user,
        stage="full",
        clinic_id=default_clinic(db, user.id),
        address=address,
        user_agent=user_agent,
        next_url=next_url,
    )
    record_login(db, user, row, via="login")
    return raw, row


def record_login(db: CarnetSession, user: User, row: LoginSession, via: str) -> None:
    """A full session was opened (password and second factor passed, or enrollment finished)."""
    record_account_event(
        db, user.id, action="login", resource_type="session", resource_id=row.id, actor=f"user:{user.id}",
        details={"via": via},
    )


def logout(db: CarnetSession, user_id: int, session_id: int) -> None:
    """End one session, recorded in the user's clinics."""
    revoke_session(db, session_id)
    record_account_event(
        db, user_id, action="logout", resource_type="session", resource_id=session_id, actor=f"user:{user_id}",
    )


def switch_clinic(db: CarnetSession, row: LoginSession, clinic_id: int) -> bool:
    if membership(db, row.user_id, clinic_id) is None:
        return False
    row.clinic_id = clinic_id
    db.add(row)
    db.flush()
    return True


# --- API tokens ---------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d{1,5})\s*([dhm])\s*", text or "")
    if not match:
        raise IdentityError("expires: give a duration such as 30d, 12h or 90m")
    value, unit = int(match.group(1)), match.group(2)
    delta = {
        "d": timedelta(days=value),
        "h": timedelta(hours=value),
        "m": timedelta(minutes=value),
    }[unit]
    if delta <= timedelta(0) or delta > timedelta(days=3650):
        raise IdentityError("expires: choose between 1m and 3650d")
    return delta


def check_token_name(name: str) -> str:
    name = name.strip()[:100]
    if (problem := text_problem(name, required=False)) is not None:
        raise IdentityError(f"name: {problem.message}")
    return name


def create_token(
    db: CarnetSession,
    clinic_id: int,
    user: User,
    *,
    scopes: list[str] | None = None,
    expires_in: timedelta | None = None,
    name: str = "",
    permissions: Mapping[str, Any] | None = None,
) -> tuple[str, ApiToken]:
    """A new bearer token (returned once, stored hashed) acting as `user` in the clinic.

    Refused for a disabled account, for someone who is not an active member of the clinic, for an
    invited person who has not finished enrolling (password and second factor: a token must not
    be a way round them), and for scopes the user's roles do not grant. `permissions` maps each
    permission name to its declaration (anything with `roles`), as collected from the plugins;
    it is required when `scopes` are given.
    """
    if user.disabled:
        raise IdentityError("this account is disabled; enable it before creating a token")
    if not user.enrolled:
        raise IdentityError(
            f"{user.email} has not finished enrolling (password and second factor); "
            "create the token once they have logged in for the first time"
        )
    member = membership(db, user.id, clinic_id)
    if member is None:
        raise IdentityError(f"{user.email} is not a member of this clinic; add them with `carnet user create`")
    cleaned = sorted({s.strip() for s in scopes or [] if s.strip()}) or None
    if cleaned:
        if permissions is None:
            raise ValueError("create_token needs the permission registry to check scopes")
        unknown = [s for s in cleaned if s not in permissions]
        if unknown:
            raise IdentityError(
                f"unknown scope(s) {', '.join(unknown)}; scopes are permission names such as "
                f"{', '.join(sorted(permissions)[:3])}"
            )
        roles = member.role_set
        beyond = [s for s in cleaned if not set(permissions[s].roles) & roles]
        if beyond:
            raise IdentityError(
                f"scope(s) {', '.join(beyond)} go beyond what {user.email}'s roles "
                f"({', '.join(sorted(roles)) or 'none'}) allow in this clinic; a token never has "
                "more rights than its user"
            )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        clinic_id=clinic_id,
        user_id=user.id,
        name=check_token_name(name),
        token_hash=token_hash(raw),
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        scopes=",".join(cleaned) if cleaned else None,
        expires_at=utcnow() + expires_in if expires_in else None,
    )
    db.add(row)
    db.flush()
    return raw, row


def authenticate_token(db: CarnetSession, raw: str, address: str | None) -> tuple[ApiToken, User, Membership] | None:
    """The live token, its user and membership; the use is recorded (last_used_*)."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    row = db.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(raw))).first()
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    user = db.get(User, row.user_id)
    member = membership(db, row.user_id, row.clinic_id)
    if user is None or user.disabled or not user.enrolled or member is None:
        return None
    row.last_used_at = now
    row.last_used_address = (address or None) and address[:64]
    db.add(row)
    db.flush()
    return row, user, member


def revoke_token(db: CarnetSession, token_id: int) -> bool:
    row = db.get(ApiToken, token_id)
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.add(row)
        db.flush()
    return True


def list_tokens(db: CarnetSession, clinic_id: int | None = None) -> list[tuple[ApiToken, User]]:
    query = select(ApiToken, User).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if clinic_id is not None:
        query = query.where(ApiToken.clinic_id == clinic_id)
    return list(db.exec(query))
