"""Identity tables: users, memberships, sessions, recovery codes, one-time links, login attempts,
API tokens. Secrets (session ids, tokens, links, recovery codes) are stored as hashes only."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from carnet_core.contrib import ROLES as ROLES  # re-exported: identity's services and pages use it
from carnet_core.db.base import ClinicOwned, UTCDateTime, utcnow


class User(SQLModel, table=True):
    """A staff account. It may belong to several clinics (see Membership)."""

    __tablename__ = "core_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)  # normalised: stripped, lower-case
    display_name: str = Field(default="", max_length=200)
    password_hash: str | None = Field(default=None, max_length=255)
    # TOTP secret sealed with AES-GCM under a key derived from the master key (see identity.keys).
    totp_secret_sealed: str | None = Field(default=None, max_length=255)
    totp_confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    totp_last_step: int | None = Field(default=None, sa_type=sa.BigInteger)  # replay protection
    disabled: bool = Field(default=False)
    rpps: str | None = Field(default=None, max_length=11)  # practitioners' national identifier
    adeli: str | None = Field(default=None, max_length=9)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    password_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def enrolled(self) -> bool:
        return self.password_hash is not None and self.totp_confirmed_at is not None


class Membership(ClinicOwned, table=True):
    """A user's roles in one clinic: a comma-separated subset of ROLES."""

    __tablename__ = "core_membership"
    __table_args__ = (sa.UniqueConstraint("clinic_id", "user_id", name="uq_core_membership_clinic_user"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="core_user.id", index=True)
    roles: str = Field(max_length=100)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(r for r in self.roles.split(",") if r)


class LoginSession(SQLModel, table=True):
    """A server-side session. `stage` is "mfa" between the password and the second factor
    (never an authenticated session) and "full" afterwards."""

    __tablename__ = "core_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="core_user.id", index=True)
    stage: str = Field(default="full", max_length=8)
    clinic_id: int | None = Field(default=None, foreign_key="core_clinic.id")
    csrf_token: str = Field(max_length=64)
    next_url: str | None = Field(default=None, max_length=500)
    mfa_failures: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=200)


class RecoveryCode(SQLModel, table=True):
    """A single-use second-factor recovery code (keyed hash)."""

    __tablename__ = "core_recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="core_user.id", index=True)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class OneTimeLink(SQLModel, table=True):
    """An e-mailed single-use expiring link: `enroll` (first login) or `reset` (password)."""

    __tablename__ = "core_onetime_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="core_user.id", index=True)
    purpose: str = Field(max_length=16)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class LoginAttempt(SQLModel, table=True):
    """A failed authentication step, counted per account (keyed e-mail hash) and per address."""

    __tablename__ = "core_login_attempt"
    __table_args__ = (sa.Index("ix_core_login_attempt_scope_key_at", "scope", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=16)  # "account" or "address"
    key: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ApiToken(ClinicOwned, table=True):
    """A bearer token for integrations, acting as `user_id` in one clinic, limited to `scopes`."""

    __tablename__ = "core_api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="core_user.id", index=True)
    name: str = Field(default="", max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    # Comma-separated permission names; None: every permission of the user's roles.
    scopes: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_address: str | None = Field(default=None, max_length=64)
