"""Imports every core table so SQLModel.metadata is complete (migrations, drift check)."""

from carnet_core.audit.models import AuditCheckpoint, AuditHead, AuditRecord
from carnet_core.backup.models import BackupRun
from carnet_core.clinics.models import Clinic, ClinicPlugin
from carnet_core.encryption.models import DataKey, RewrapProgress, SubjectKey
from carnet_core.export.models import ClinicExport
from carnet_core.identity.models import (
    ApiToken,
    LoginAttempt,
    LoginSession,
    Membership,
    OneTimeLink,
    RecoveryCode,
    User,
)
from carnet_core.jobs.models import FailedJob, JobEffect, JobLease, OutboxMessage, ScheduleState
from carnet_core.links.models import LinkAttempt, PatientLink
from carnet_core.patients.models import Patient, PatientGuardian, PatientNamePrefix, PatientSettings
from carnet_core.retention.models import DestructionEntry, DestructionProposal, LegalHold, RetentionRule

__all__ = [
    "ApiToken", "AuditCheckpoint", "ClinicExport", "BackupRun", "AuditHead", "AuditRecord", "Clinic", "ClinicPlugin",
    "DataKey", "LinkAttempt", "LoginAttempt", "LoginSession", "Membership", "OneTimeLink",
    "Patient", "PatientGuardian", "PatientLink", "PatientNamePrefix", "PatientSettings", "RecoveryCode",
    "RewrapProgress", "SubjectKey", "User",
    "DestructionEntry", "DestructionProposal", "LegalHold", "RetentionRule",
    "FailedJob", "JobEffect", "JobLease", "OutboxMessage", "ScheduleState",
]
