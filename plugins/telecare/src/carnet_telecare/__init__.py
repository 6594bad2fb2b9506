"""Carnet plugin telecare."""
