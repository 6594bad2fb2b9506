"""Key material for identity: derived from the one master key held outside the database.

Identity needs keys for two things: sealing TOTP secrets at rest and keyed hashes (recovery
codes, login-attempt keys, anonymous CSRF tokens). Each is derived with HKDF from the master key
that the encryption area loads (CARNET_MASTER_KEY, CARNET_MASTER_KEY_FILE, or
CARNET_HOME/keys/master.key created by `carnet init`). There is no other key file: a second key
would silently change what every sealed secret and keyed hash is bound to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from carnet_core.encryption.keyprovider import load_master_key
from carnet_core.settings import Settings


class KeyError_(RuntimeError):
    """Key material is unusable; the message says how to fix it."""


@dataclass(frozen=True)
class IdentityKeys:
    seal_key: bytes
    mac_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityKeys:
        # Raises MasterKeyError (naming `carnet init` or the variable to fix) when absent.
        master = load_master_key(settings)
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
