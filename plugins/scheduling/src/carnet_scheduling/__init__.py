"""Carnet scheduling plugin: agenda, treatment series, availability, calendar feeds."""
