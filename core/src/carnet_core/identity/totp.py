"""TOTP second factor (RFC 6238 through pyotp), QR codes rendered by us, recovery codes."""

from __future__ import annotations

import secrets
import time

import pyotp
import segno

ISSUER = "Carnet"
STEP = 30
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud and typed


def new_secret() -> str:
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret, interval=STEP).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg_data_uri(uri: str) -> str:
    """An inline SVG data: URI (CSP allows img-src data:): no third-party image service."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#111", light="#fff")


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code if not ch.isspace())


def matching_step(secret: str, code: str, last_step: int | None, at: float | None = None) -> int | None:
    """The time step the code belongs to (current one, or one step either side for clock drift),
    or None. A step at or before `last_step` was already used: refused, so a code works once."""
    code = normalise_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    now = time.time() if at is None else at
    totp = pyotp.TOTP(secret, interval=STEP)
    current = int(now // STEP)
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if secrets.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch in _RECOVERY_ALPHABET)
