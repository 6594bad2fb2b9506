"""Consent's fixtures (defined in consent_world.py, which the tests import by that unique name)."""

from consent_world import world  # noqa: F401  (the `world` fixture)
