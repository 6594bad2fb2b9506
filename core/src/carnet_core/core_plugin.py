"""Core's own contributions through the same hooks plugins use (always enabled)."""

from __future__ import annotations

from typing import Any

from carnet_core.contrib import ActorSpec, NavItem, Panel, Permission, Schedule, SettingsItem
from carnet_core.hookspecs import hookimpl
from carnet_core.i18n import N_
from carnet_core.patients.permissions import patient_permissions


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission("core.manage_modules", "Enable and disable modules", roles=("owner",)),
        Permission("core.clinic.manage", N_("Change the practice's name and address"), roles=("owner",)),
        Permission("core.operator", "See installed plugins and jobs", roles=("owner",)),
        Permission("core.audit.view", "Read the clinic's audit trail", roles=("owner",)),
        Permission("core.retention.manage", N_("Confirm destructions, place legal holds, set retention rules"),
                   roles=("owner",)),
        Permission("core.export", N_("Export the whole clinic's data"), roles=("owner",)),
        Permission("core.manage_users", "Invite staff, change their roles, remove them", roles=("owner",)),
        *patient_permissions(),
        Permission("core.patients.accesses", N_("See who accessed a patient's file"), roles=("owner", "practitioner")),
    ]


@hookimpl
def register_actors() -> list[ActorSpec]:
    from carnet_core.backup.jobs import scheduled_backup
    from carnet_core.export.jobs import export_clinic
    from carnet_core.identity.mail import send_account_link, send_login_alert
    from carnet_core.retention.jobs import retention_daily

    return [
        ActorSpec("retention_daily", retention_daily, max_retries=3, time_limit_ms=30 * 60 * 1000),
        # a backup and its drill may take minutes; one attempt more, never two at once per message
        ActorSpec("backup", scheduled_backup, max_retries=1, time_limit_ms=60 * 60 * 1000),
        # a whole clinic, streamed: minutes for thousands of patients; a failure is shown, not retried
        ActorSpec("export_clinic", export_clinic, max_retries=0, time_limit_ms=2 * 60 * 60 * 1000),
        ActorSpec("send_account_link", send_account_link, max_retries=8),
        ActorSpec("send_login_alert", send_login_alert, max_retries=8),
        ActorSpec("audit_checkpoint", audit_checkpoint, max_retries=3),
    ]


def audit_checkpoint(job: Any) -> None:
    """Sign every clinic's audit chain head (idempotent: an unchanged head is not signed again)."""
    from carnet_core.audit.integrity import checkpoint_all

    checkpoint_all(job.db, job.settings.keys_dir)  # a job returns nothing (Dramatiq keeps no results)


@hookimpl
def register_schedules() -> list[Schedule]:
    from datetime import timedelta

    return [
        Schedule("audit-checkpoint", actor="core.audit_checkpoint", every=timedelta(hours=1), per_clinic=False),
        # hourly check; a backup only when the newest is older than CARNET_BACKUP_EVERY_HOURS
        Schedule("backup", actor="core.backup", every=timedelta(hours=1), per_clinic=False),
        # archival due, destruction proposed (an owner confirms), every clinic
        Schedule("retention", actor="core.retention_daily", every=timedelta(days=1), per_clinic=False),
    ]


@hookimpl
def navigation_items(clinic: Any, user: Any) -> list[NavItem]:
    # The clinic's settings pages (modules, staff, retention, export, operations) are reached
    # through Réglages (`settings_items`), not each from the top bar.
    return [
        NavItem(label=N_("Home"), href="/", order=0),
        NavItem(label=N_("Patients"), href="/patients", permission="core.patients.view", order=10),
        NavItem(label=N_("Audit trail"), href="/audit", permission="core.audit.view", order=800),
        NavItem(label=N_("Settings"), href="/settings", order=900),
    ]


@hookimpl
def settings_items(clinic: Any, user: Any) -> list[SettingsItem]:
    return [
        SettingsItem(N_("The practice"), "/settings/clinic",
                     N_("Its name and address, shown on every page patients see."),
                     permission="core.clinic.manage", theme="practice", order=5),
        SettingsItem(N_("Modules"), "/settings/modules",
                     N_("Turn on only what the practice uses: agenda, billing, consent, messaging."),
                     permission="core.manage_modules", theme="practice", order=10),
        SettingsItem(N_("Record retention"), "/settings/retention",
                     N_("How long files are kept, destructions to confirm, legal holds."),
                     permission="core.retention.manage", theme="practice", order=20),
        SettingsItem(N_("Export the clinic"), "/settings/export",
                     N_("All of the practice's data in one encrypted archive."),
                     permission="core.export", theme="practice", order=30),
        SettingsItem(N_("Operations"), "/operator", N_("Backups, jobs in progress and installed plugins."),
                     permission="core.operator", theme="practice", order=40),
        SettingsItem(N_("Staff and roles"), "/settings/users",
                     N_("Invite colleagues, change their roles, close an account."),
                     permission="core.manage_users", theme="team", order=10),
        SettingsItem(N_("Patient settings"), "/settings/patients",
                     N_("Whether every practitioner sees every patient of the practice."),
                     permission="core.patients.settings", theme="patients", order=10),
        SettingsItem(N_("My account"), "/account", N_("Your password and your recovery codes."),
                     theme="account", order=10),
    ]


@hookimpl
def home_panels(clinic: Any, user: Any, db: Any) -> list[Panel]:
    # finding a patient is everyone's first errand, modules or not
    return [Panel(N_("Find a patient"), "core/_home_patients.html", permission="core.patients.view", order=90)]
