"""Test support for core and plugin authors (loaded by pytest through the `carnet` pytest11 entry)."""
