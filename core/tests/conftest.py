"""Fixtures shared by core's audit tests."""

import pytest
from audit_tampering import write_trail

from carnet_core.audit.signing import ensure_signing_key


@pytest.fixture
def keys_dir(carnet_settings):
    """The audit key folder, with a signing key pair."""
    ensure_signing_key(carnet_settings.keys_dir)
    return carnet_settings.keys_dir


@pytest.fixture
def trail(carnet_db, clinic, keys_dir):
    """Ten records in the test clinic, signed checkpoints at seq 5 and seq 10."""
    write_trail(carnet_db, clinic.id, keys_dir)
    return clinic
