"""The per-process key cache: unwrapped keys live here, in memory only, and are never logged."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from carnet_core.encryption.keyprovider import KeyProvider, provider_from_settings
from carnet_core.settings import Settings

KEYRING_INFO = "carnet.keyring"


class Keyring:
    """Holds the master key provider (loaded on first use) and a bounded cache of unwrapped keys.

    The cache is keyed by a digest of (master key id, context, wrapped bytes): a re-wrapped or
    destroyed key row never hits a stale entry, because callers always read the wrapped bytes
    from the database first.
    """

    def __init__(
        self,
        provider: KeyProvider | None = None,
        *,
        factory: Callable[[], KeyProvider] | None = None,
        max_entries: int = 50_000,
    ):
        if (provider is None) == (factory is None):
            raise ValueError("give a key provider or a factory that builds one")
        self._provider = provider
        self._factory = factory
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Keyring(<keys hidden>)"

    @property
    def provider(self) -> KeyProvider:
        if self._provider is None:
            with self._lock:
                if self._provider is None:
                    assert self._factory is not None
                    self._provider = self._factory()
        return self._provider

    @property
    def master_key_id(self) -> str:
        return self.provider.key_id

    def new_wrapped_key(self, context: bytes, wrap: Callable[[bytes, bytes], bytes] | None = None) -> bytes:
        """A fresh 256-bit key, returned wrapped (by the master key unless `wrap` is given)."""
        key = os.urandom(32)
        wrapped = (wrap or self.provider.wrap)(key, context)
        self._remember(self._slot(wrapped, context), key)
        return wrapped

    def unwrap(self, wrapped: bytes, context: bytes, unwrap: Callable[[bytes, bytes], bytes] | None = None) -> bytes:
        slot = self._slot(wrapped, context)
        with self._lock:
            key = self._cache.get(slot)
            if key is not None:
                self._cache.move_to_end(slot)
                return key
        key = (unwrap or self.provider.unwrap)(wrapped, context)
        self._remember(slot, key)
        return key

    def forget(self, wrapped: bytes, context: bytes) -> None:
        with self._lock:
            self._cache.pop(self._slot(wrapped, context), None)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def _slot(self, wrapped: bytes, context: bytes) -> bytes:
        return hashlib.sha256(len(context).to_bytes(4, "big") + context + wrapped).digest()

    def _remember(self, slot: bytes, key: bytes) -> None:
        with self._lock:
            self._cache[slot] = key
            self._cache.move_to_end(slot)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)


def aead(key: bytes) -> AESGCM:
    return AESGCM(key)


def install_keyring(database: Any, settings: Settings) -> Keyring:
    """Give a Database the process keyring (master key loaded lazily from settings)."""
    existing = getattr(database, "keyring", None)
    if isinstance(existing, Keyring):
        return existing
    keyring = Keyring(factory=lambda: provider_from_settings(settings))
    database.keyring = keyring
    return keyring
