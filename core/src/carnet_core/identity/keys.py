"""Key material for identity: derived from the master key held outside the database.

Identity needs keys for two things: sealing TOTP secrets at rest and keyed hashes (recovery
codes, login-attempt keys, anonymous CSRF tokens). Each is derived with HKDF from the master key
(CARNET_MASTER_KEY, CARNET_MASTER_KEY_FILE, or CARNET_HOME/keys/master.key). When no master key
exists yet (a checkout before `carnet init`), a local identity key file is created under
CARNET_HOME/keys with mode 0600: still outside the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from carnet_core.settings import Settings


class KeyError_(RuntimeError):
    """Key material is unusable; the message says how to fix it."""


def _decode(raw: str) -> bytes:
    try:
        value = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        value = b""
    if len(value) < 32:
        raise KeyError_("the master key must be at least 32 bytes, base64-encoded; run `carnet init`")
    return value


def master_material(settings: Settings) -> bytes:
    if settings.master_key:
        return _decode(settings.master_key)
    if settings.master_key_file:
        return _decode(Path(settings.master_key_file).read_text())
    default = settings.keys_dir / "master.key"
    if default.is_file():
        return _decode(default.read_text())
    local = settings.keys_dir / "identity.key"
    if not local.is_file():
        local.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(secrets.token_bytes(32)).decode())
    return _decode(local.read_text())


@dataclass(frozen=True)
class IdentityKeys:
    seal_key: bytes
    mac_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityKeys:
        master = master_material(settings)
        return cls(
            seal_key=_derive(master, b"carnet.identity.seal"),
            mac_key=_derive(master, b"carnet.identity.mac"),
        )

    def mac(self, purpose: str, value: str) -> str:
        """A keyed hash of `value` for `purpose`, hex."""
        return hmac.new(self.mac_key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def seal(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.seal_key).encrypt(nonce, plaintext.encode(), context.encode())
        return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, context: str) -> str:
        if not sealed.startswith("v1:"):
            raise KeyError_("unknown sealed value format")
        raw = base64.urlsafe_b64decode(sealed[3:])
        return AESGCM(self.seal_key).decrypt(raw[:12], raw[12:], context.encode()).decode()


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def token_hash(token: str) -> str:
    """SHA-256 of a high-entropy random token (session id, link, API token): no key needed."""
    return hashlib.sha256(token.encode()).hexdigest()
