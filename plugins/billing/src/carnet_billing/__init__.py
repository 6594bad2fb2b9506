"""Carnet billing: notes d'honoraires (plugin `billing`)."""
