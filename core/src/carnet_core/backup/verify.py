"""`carnet verify`: every check an instance can run on its own data, after a restore in particular.

- the audit trail of each clinic (chain, signed checkpoints, the checkpoint log in CARNET_HOME/keys);
- the keys: every sealed value opens with the configured master key (`carnet check`);
- each installed plugin's own verifier (`verify_clinic_data`, enabled for the clinic or not), such
  as billing's hash chain of issued notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Check:
    clinic: str | None
    name: str  # "audit" | "keys" | a plugin name
    ok: bool
    detail: str


def log_until(log: Any, until: datetime) -> tuple[Any, int]:
    """The checkpoint log as it stood at `until` (a backup's time), and how many lines came later."""
    from carnet_core.audit.checkpoints import CheckpointLog

    kept = [e for e in log.entries if e.checkpoint.created_at <= until]
    return CheckpointLog(log.path, kept, list(log.unreadable), log.torn_tail), len(log.entries) - len(kept)


def verify_instance(settings: Any, host: Any, database: Any, until: datetime | None = None) -> list[Check]:
    """Every check, in order: audit, keys, plugins. `until` (a restored backup's time) verifies the
    audit trail against the checkpoint log as it stood then; later lines are reported in a note."""
    from sqlmodel import select

    from carnet_core.audit.checkpoints import read_log
    from carnet_core.audit.integrity import snapshot, verify_clinic, verify_log
    from carnet_core.clinics.models import Clinic
    from carnet_core.clinics.services import list_clinics
    from carnet_core.db.migrate import import_models, owned_prefixes
    from carnet_core.encryption.check import check_clinic
    from carnet_core.encryption.keyprovider import MasterKeyError
    from carnet_core.encryption.rewrap import sealed_tables

    checks: list[Check] = []
    with database.session(unscoped=True) as db:
        clinics = list_clinics(db)
    log = read_log(settings.keys_dir)
    if until is not None:
        log, later = log_until(log, until)
        if later:
            checks.append(Check(None, "audit", True, f"{later} checkpoint(s) logged after the backup was made: "
                                "what was written after it is not in this backup"))
    with snapshot(database) as db:
        for clinic in clinics:
            r = verify_clinic(db, clinic.id, settings.keys_dir, log=log)
            checks.append(Check(clinic.slug, "audit", r.ok, f"{r.records} record(s), {r.checkpoints} checkpoint(s)"
                                if r.ok else f"BROKEN at {r.problem.describe()}"))
        existing = set(db.exec(select(Clinic.id)))
        for r in verify_log(log, settings.keys_dir, existing):
            checks.append(Check(None, "audit", r.ok, "checkpoint log" if r.ok else f"BROKEN at {r.problem.describe()}"))
    import_models(host)
    tables = sealed_tables(owned_prefixes(host))
    for clinic in clinics:
        try:
            report = check_clinic(database, clinic.id, tables)
        except MasterKeyError as exc:
            checks.append(Check(clinic.slug, "keys", False, str(exc)))
            continue
        damaged = report.damaged or []
        checks.append(Check(clinic.slug, "keys", not damaged, f"{report.values} sealed value(s) opened"
                            + (f", {len(damaged)} damaged" if damaged else "")))
    for clinic in clinics:
        with database.session(clinic_id=clinic.id) as db:
            for plugin, problems in host.lifecycle_each("verify_clinic_data", clinic=clinic, db=db):
                checks.append(Check(clinic.slug, plugin, not problems,
                                    "intact" if not problems else "; ".join(problems[:5])))
    return checks
