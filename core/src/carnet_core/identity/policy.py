"""Identity policy read from settings at start: password hashing cost and login throttling."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from argon2 import PasswordHasher

from carnet_core.identity import passwords
from carnet_core.settings import Settings

ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW_MINUTES = 15


@dataclass(frozen=True)
class IdentityPolicy:
    """Defaults are production's; `from_settings` applies CARNET_LOGIN_* and
    CARNET_PASSWORD_HASH_MEMORY_KIB."""

    hasher: PasswordHasher = field(default_factory=passwords.hasher)
    account_limit: int = ACCOUNT_LIMIT  # failed steps per account in the window
    address_limit: int = ADDRESS_LIMIT  # failed steps per client address in the window
    window: timedelta = timedelta(minutes=WINDOW_MINUTES)

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityPolicy:
        return cls(
            hasher=passwords.hasher_for(settings),
            account_limit=settings.login_max_failures_per_account,
            address_limit=settings.login_max_failures_per_address,
            window=timedelta(minutes=settings.login_failure_window_minutes),
        )

    @property
    def window_minutes(self) -> int:
        return int(self.window.total_seconds() // 60)
