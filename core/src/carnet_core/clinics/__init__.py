"""Clinics (tenants) and the modules each has enabled."""
