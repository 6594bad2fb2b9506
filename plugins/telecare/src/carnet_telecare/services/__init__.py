"""Telecare's domain logic (no web framework): care relationship and consent, messaging, attachments."""
