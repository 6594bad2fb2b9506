"""Envelope encryption: the public API plugins use for their own sensitive columns.

    class Note(ClinicOwned, SQLModel, table=True):
        __sealed_subject__ = "patient_id"          # optional: seal with the patient's key
        body: bytes | None = Field(default=None, sa_type=Sealed)

    seal(db, note, "body", "text")  ->  open_(db, note, "body") == "text"

See docs/DEVELOPING.md, "Sealed columns".
"""

from carnet_core.encryption.keyprovider import KeyProvider, LocalKeyProvider, MasterKeyError
from carnet_core.encryption.keyring import Keyring, install_keyring
from carnet_core.encryption.services import (
    DecryptionError,
    EncryptionError,
    KeyDestroyed,
    KeyringMissing,
    blind_index,
    destroy_subject_key,
    ensure_subject_key,
    open_,
    open_bytes,
    open_many,
    patient_subject,
    seal,
    seal_bytes,
    subject_key_destroyed,
    warm_subject_keys,
)
from carnet_core.encryption.types import Sealed

__all__ = [
    "warm_subject_keys",
    "DecryptionError",
    "EncryptionError",
    "KeyDestroyed",
    "KeyProvider",
    "Keyring",
    "KeyringMissing",
    "LocalKeyProvider",
    "MasterKeyError",
    "Sealed",
    "blind_index",
    "destroy_subject_key",
    "ensure_subject_key",
    "install_keyring",
    "open_",
    "open_bytes",
    "open_many",
    "patient_subject",
    "seal",
    "seal_bytes",
    "subject_key_destroyed",
]
