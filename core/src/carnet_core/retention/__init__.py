"""Retention of patient records: archival, destruction with an owner's confirmation, legal holds."""
