"""Carnet consent: versioned consent forms signed without an account, evidence, withdrawal."""
