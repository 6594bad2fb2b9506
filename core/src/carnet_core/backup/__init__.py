"""Backups of the database (no key material), restore into an empty instance, restore drills."""
