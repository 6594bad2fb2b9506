"""The Ed25519 key that signs audit checkpoints. It lives in files, never in the database.

`CARNET_HOME/keys/audit-signing.key` (PKCS#8 PEM, mode 0600) signs; `audit-signing.pub` beside
it verifies. After a key change keep the old public key as `audit-signing-<key id>.pub` so older
checkpoints still verify. The verifier needs only the public keys.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PRIVATE_NAME = "audit-signing.key"
PUBLIC_NAME = "audit-signing.pub"


class SigningKeyError(RuntimeError):
    """The signing key is missing or unreadable; the message names the file and the fix."""


def private_path(keys_dir: Path) -> Path:
    return keys_dir / PRIVATE_NAME


def public_path(keys_dir: Path) -> Path:
    return keys_dir / PUBLIC_NAME


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def ensure_signing_key(keys_dir: Path) -> tuple[bool, str]:
    """Create the key pair if absent. Returns (created, key id)."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    priv = private_path(keys_dir)
    if priv.exists():
        key = load_private_key(keys_dir)
        pub = public_path(keys_dir)
        if not pub.exists():
            _write_public(pub, key.public_key())
        return False, key_id(key.public_key())
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    _write_public(public_path(keys_dir), key.public_key())
    return True, key_id(key.public_key())


def _write_public(path: Path, public: Ed25519PublicKey) -> None:
    path.write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    os.chmod(path, 0o644)


def load_private_key(keys_dir: Path) -> Ed25519PrivateKey:
    path = private_path(keys_dir)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise SigningKeyError(f"audit signing key {path} is missing; run `carnet init` to create it") from None
    except ValueError as exc:
        raise SigningKeyError(f"audit signing key {path} is unreadable ({exc}); restore it from backup") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 private key")
    return key


def load_public_keys(keys_dir: Path) -> dict[str, Ed25519PublicKey]:
    """Every public key in the folder (current and retired), by key id."""
    found: dict[str, Ed25519PublicKey] = {}
    for path in _public_files(keys_dir):
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except ValueError:
            continue
        if isinstance(key, Ed25519PublicKey):
            found[key_id(key)] = key
    return found


def _public_files(keys_dir: Path) -> Iterator[Path]:
    if keys_dir.is_dir():
        yield from sorted(keys_dir.glob("audit-signing*.pub"))


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return key.sign(message).hex()


def verify(public: Any, message: bytes, signature_hex: str) -> bool:
    try:
        public.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def init_step(settings: Any, host: Any, db: Any) -> Iterator[str]:
    """`carnet init`: create the audit signing key pair once; put the database's signed
    checkpoints the checkpoint log lacks into it (a deployment from before the log)."""
    from sqlmodel import select

    from carnet_core.audit.checkpoints import copy_missing, log_path
    from carnet_core.audit.models import AuditCheckpoint

    created, kid = ensure_signing_key(settings.keys_dir)
    state = "created" if created else "present"
    yield f"audit signing key: {state} ({private_path(settings.keys_dir)}, key id {kid})"
    with db.session(unscoped=True) as session:
        stored = list(session.exec(select(AuditCheckpoint).order_by(AuditCheckpoint.id)))
    copied = copy_missing(settings.keys_dir, stored)
    where = log_path(settings.keys_dir)
    yield (f"audit checkpoint log: {copied} signed checkpoint(s) copied from the database ({where})"
           if copied else f"audit checkpoint log: up to date ({where})")
