"""The `Sealed` column type: bytes produced by `seal()`, never plaintext."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

FORMAT_V1 = 0x01
KIND_CLINIC = ord("c")  # sealed with the clinic's data key (version in the header)
KIND_SUBJECT = ord("s")  # sealed with a data subject's key (key row id in the header)
HEADER_LEN = 6  # format (1) + kind (1) + key reference (4, big-endian)
NONCE_LEN = 12
TAG_LEN = 16


class Sealed(sa.types.TypeDecorator):
    """A column holding an AES-256-GCM sealed value (see `carnet_core.encryption.seal`).

    Assigning a `str` raises: plaintext must never reach such a column by accident.
    """

    impl = sa.LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, memoryview):
            value = bytes(value)
        if not isinstance(value, bytes) or len(value) < HEADER_LEN + NONCE_LEN + TAG_LEN or value[0] != FORMAT_V1:
            raise TypeError(
                "a Sealed column only takes values from carnet_core.encryption.seal(); "
                "assign with seal(db, obj, column, value)"
            )
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> bytes | None:
        if value is None:
            return None
        return bytes(value)


def is_sealed_column(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, Sealed)
