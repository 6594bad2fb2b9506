"""The scheduled backup: core's `core.backup` actor, fired hourly by the scheduler, makes a backup
when the newest one is older than CARNET_BACKUP_EVERY_HOURS (0: never), keeps the newest
CARNET_BACKUP_KEEP, then runs the restore drill on it.

Idempotent by what it checks: a redelivered or doubled message finds a backup younger than the
interval and does nothing. It takes no arguments (the backup is of the whole instance)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlmodel import select

from carnet_core.db.base import utcnow

log = logging.getLogger("carnet.backup")


def backup_due(job_settings: Any, db: Any) -> bool:
    from carnet_core.backup.models import BackupRun

    hours = job_settings.backup_every_hours
    if hours == 0:
        return False
    with db.session(unscoped=True) as s:
        newest = s.exec(select(BackupRun.created_at).where(BackupRun.pruned_at.is_(None))
                        .order_by(BackupRun.created_at.desc()).limit(1)).first()
    return newest is None or newest <= utcnow() - timedelta(hours=hours)


def scheduled_backup(job: Any) -> None:
    from carnet_core.backup.services import BackupError, create_backup, drill

    if not backup_due(job.settings, job.db):
        return
    result = create_backup(job.settings, job.host, job.db, trigger="job")
    log.info("backup %s written (%d older removed)", result.name, len(result.pruned))
    try:
        outcome = drill(job.settings, job.host, job.db, result.name)
    except BackupError as exc:  # the backup stands; the page shows it was not drilled
        log.warning("restore drill of %s could not run: %s", result.name, exc)
        return
    if not outcome.ok:
        log.error("restore drill of %s FAILED: run `carnet backup drill %s` to see which check", result.name,
                  result.name)
