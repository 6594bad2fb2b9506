"""Steps that core areas add to `carnet init` (key material, …); each is idempotent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Step = Callable[[Any, Any, Any], Iterator[str]]


def steps() -> list[Step]:
    from carnet_core.audit.signing import init_step as audit_signing_key
    from carnet_core.encryption.legacy import legacy_values_step
    from carnet_core.encryption.setup import master_key_step
    from carnet_core.patients.prefixes import backfill_step as patient_prefixes

    found: list[Step] = [master_key_step, legacy_values_step, patient_prefixes, audit_signing_key]
    return found
