"""Password hashing (argon2id above OWASP's minimum) and an offline strength policy."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from carnet_core.settings import Settings

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3  # zxcvbn: 0 (guessable in seconds) … 4 (very unguessable)

# OWASP (2024): argon2id with m=19 MiB, t=2, p=1 at the least; we use 64 MiB, t=2, p=1 by
# default (CARNET_PASSWORD_HASH_MEMORY_KIB), about 50-80 ms per hash on a small server. Raising
# the memory rehashes users at their next login. The test suite goes lower (CARNET_TESTING=1).
PRODUCTION_MEMORY_KIB = 64 * 1024
TIME_COST = 2


@functools.cache
def hasher(memory_kib: int = PRODUCTION_MEMORY_KIB) -> PasswordHasher:
    """The argon2id hasher for a memory cost (one instance per cost, so callers share it)."""
    return PasswordHasher(
        time_cost=TIME_COST, memory_cost=memory_kib, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
    )


def hasher_for(settings: Settings) -> PasswordHasher:
    """The hasher of this deployment (settings are validated: at or above OWASP's floor
    unless the process is the test suite)."""
    return hasher(settings.password_hash_memory_kib)


@functools.cache
def _dummy_hash(used: PasswordHasher) -> str:
    """A hash verified for unknown accounts, so that their answer takes as long as a real one."""
    return used.hash("carnet-timing-equaliser-not-a-password")


def N_(message: str) -> str:
    """Marks a message for translation; the web layer translates it when shown."""
    return message


class PasswordPolicyError(ValueError):
    """The new password is refused; the message says what to choose instead."""


def hash_password(password: str, used: PasswordHasher | None = None) -> str:
    return (used or hasher()).hash(password)


def verify_password(stored: str | None, password: str, used: PasswordHasher | None = None) -> bool:
    """Constant-work verification: an absent hash still costs one argon2 verification."""
    used = used or hasher()
    if len(password) > MAX_LENGTH:
        password = password[:MAX_LENGTH]
    try:
        return used.verify(stored or _dummy_hash(used), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str, used: PasswordHasher | None = None) -> bool:
    return (used or hasher()).check_needs_rehash(stored)


def check_policy(password: str, user_inputs: list[str] | None = None) -> None:
    """Length over composition; reject guessable passwords with zxcvbn (offline)."""
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(N_("Use at least 12 characters; a short sentence works well."))
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(N_("Use at most 128 characters."))
    from zxcvbn import zxcvbn

    inputs = [i for i in (user_inputs or []) if i]
    for item in list(inputs):
        inputs.extend(part for part in item.replace("@", " ").replace(".", " ").split() if len(part) > 2)
    result = zxcvbn(password[:100], user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        raise PasswordPolicyError(N_("This password is too easy to guess: add unrelated words or make it longer."))
