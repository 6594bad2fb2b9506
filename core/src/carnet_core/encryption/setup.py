"""`carnet init` step: create the master key file once, and check that the key in use matches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlmodel import select

from carnet_core.encryption.keyprovider import (
    MasterKeyError,
    create_master_key_file,
    default_master_key_path,
    provider_from_settings,
)
from carnet_core.encryption.models import DataKey
from carnet_core.encryption.services import _data_key_context
from carnet_core.settings import Settings


def master_key_step(settings: Settings, host: Any, db: Any) -> Iterator[str]:
    with db.session(unscoped=True) as session:
        sample = session.exec(select(DataKey).order_by(DataKey.id).limit(1)).first()
    configured = bool(settings.master_key or settings.master_key_file)
    path = default_master_key_path(settings)
    if not configured and not path.exists():
        if sample is not None:
            raise MasterKeyError(
                f"the database holds wrapped clinic keys but the master key {path} is missing; "
                "restore it from backup (creating a new one would make all patient data unreadable)"
            )
        create_master_key_file(path)
        yield f"master key: created {path} (mode 0600) — back it up apart from the database"
    provider = provider_from_settings(settings)
    if sample is not None:
        provider.unwrap(sample.wrapped, _data_key_context(sample.clinic_id, sample.purpose, sample.version))
        yield f"master key: {provider.key_id}, opens the stored clinic keys"
    else:
        yield f"master key: {provider.key_id}"
