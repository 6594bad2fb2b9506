"""Identity policy read from settings at start: password hashing cost and login throttling."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from argon2 import PasswordHasher

from carnet_core.identity import passwords
from carnet_core.settings import Settings

ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW_MINUTES = 24 * 60
BACKOFF_SECONDS = 60
KNOWN_DEVICE_DAYS = 90


@dataclass(frozen=True)
class IdentityPolicy:
    """Defaults are production's; `from_settings` applies CARNET_LOGIN_* and
    CARNET_PASSWORD_HASH_MEMORY_KIB."""

    hasher: PasswordHasher = field(default_factory=passwords.hasher)
    account_limit: int = ACCOUNT_LIMIT  # failed steps per account (and per known device) in the window
    address_limit: int = ADDRESS_LIMIT  # failed steps per client address in the window
    window: timedelta = timedelta(minutes=WINDOW_MINUTES)  # how long a failure counts
    backoff: timedelta = timedelta(seconds=BACKOFF_SECONDS)  # the first refusal, then doubling
    known_device: timedelta = timedelta(days=KNOWN_DEVICE_DAYS)  # a known-device cookie's life

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityPolicy:
        return cls(
            hasher=passwords.hasher_for(settings),
            account_limit=settings.login_max_failures_per_account,
            address_limit=settings.login_max_failures_per_address,
            window=timedelta(minutes=settings.login_failure_window_minutes),
            backoff=timedelta(seconds=settings.login_backoff_seconds),
            known_device=timedelta(days=settings.login_known_device_days),
        )

    def refusal(self, failures: int, limit: int) -> timedelta:
        """How long after the last failure a key with `failures` in the window is refused:
        nothing below `limit`, then the backoff doubling with each further failure, at most the
        window (1 min, 2, 4, … with the defaults: a guesser gets about a dozen tries a day)."""
        if failures < limit:
            return timedelta(0)
        doublings = min(failures - limit, 40)
        return min(self.backoff * (2**doublings), self.window)


