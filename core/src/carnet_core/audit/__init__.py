"""Tamper-evident audit trail: `record()` in the caller's transaction, hash chain per clinic,
signed checkpoints, verification, retention purge, and the owners' audit pages."""

from carnet_core.audit.services import (
    AuditError,
    AuditEvent,
    accesses_for_patient,
    record,
    record_at_commit,
    record_many,
    record_many_at_commit,
)

__all__ = ["AuditError", "AuditEvent", "accesses_for_patient", "record", "record_at_commit", "record_many",
           "record_many_at_commit"]
