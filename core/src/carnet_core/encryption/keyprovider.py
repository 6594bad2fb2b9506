"""The master key, held outside the database, behind a small wrap/unwrap interface (KMS later)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import stat
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from carnet_core.settings import Settings, SettingsError

log = logging.getLogger("carnet.encryption")

MASTER_KEY_FILENAME = "master.key"
_WRAP_FORMAT = b"\x01"


class MasterKeyError(SettingsError):
    """The master key is missing, malformed or does not match; the message names the fix."""


class KeyProvider(Protocol):
    """Wraps and unwraps data keys. `key_id` names the master key (stored beside wrapped keys)."""

    key_id: str

    def wrap(self, key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


class LocalKeyProvider:
    """A 256-bit master key in process memory (from a file or the environment); AES-256-GCM wrap."""

    def __init__(self, master_key: bytes):
        if len(master_key) != 32:
            raise MasterKeyError("the master key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(master_key)
        digest = hashlib.sha256(b"carnet master key id\x00" + master_key).hexdigest()
        self.key_id = f"local:{digest[:16]}"

    def __repr__(self) -> str:  # never show key material
        return f"LocalKeyProvider({self.key_id})"

    def wrap(self, key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return _WRAP_FORMAT + nonce + self._aead.encrypt(nonce, key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        if wrapped[:1] != _WRAP_FORMAT or len(wrapped) < 1 + 12 + 16:
            raise MasterKeyError("a wrapped key has an unknown format")
        try:
            return self._aead.decrypt(wrapped[1:13], wrapped[13:], context)
        except InvalidTag:
            raise MasterKeyError(
                "a data key does not open with this master key: the master key is not the one "
                "these keys were made with (restore CARNET_HOME/keys/master.key or "
                "CARNET_MASTER_KEY from backup), or the wrapped key was altered"
            ) from None


def default_master_key_path(settings: Settings) -> Path:
    return settings.keys_dir / MASTER_KEY_FILENAME


def _decode(text: str, origin: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"{origin} is not valid base64; it must hold base64 of 32 random bytes") from None
    if len(raw) != 32:
        raise MasterKeyError(f"{origin} must decode to 32 bytes, not {len(raw)}")
    return raw


def _read_key_file(path: Path, origin: str, strict_mode: bool) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise MasterKeyError(
            f"{origin} {path} does not exist; run `carnet init` to create the master key "
            "(or restore it from backup if this installation already holds data)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MasterKeyError(f"{origin} {path} cannot be read: {exc.__class__.__name__}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        if strict_mode:
            raise MasterKeyError(f"{origin} {path} is readable by other users; run `chmod 600 {path}`")
        log.warning("master key file is readable by other users; restrict it with chmod 600")
    return _decode(text, f"{origin} {path}")


def load_master_key(settings: Settings) -> bytes:
    """The master key from CARNET_MASTER_KEY, CARNET_MASTER_KEY_FILE or CARNET_HOME/keys/master.key."""
    if settings.master_key:
        return _decode(settings.master_key, "CARNET_MASTER_KEY")
    if settings.master_key_file:
        return _read_key_file(Path(settings.master_key_file), "CARNET_MASTER_KEY_FILE", strict_mode=False)
    return _read_key_file(default_master_key_path(settings), "master key file", strict_mode=True)


def master_key_configured(settings: Settings) -> bool:
    return bool(settings.master_key or settings.master_key_file) or default_master_key_path(settings).exists()


def create_master_key_file(path: Path) -> None:
    """Write a new random master key (base64) with mode 0600; refuses to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(base64.b64encode(os.urandom(32)).decode("ascii") + "\n")
    os.chmod(path, 0o600)


def provider_from_settings(settings: Settings) -> KeyProvider:
    return LocalKeyProvider(load_master_key(settings))
