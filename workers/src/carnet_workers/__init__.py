"""Carnet worker and scheduler entry points."""
