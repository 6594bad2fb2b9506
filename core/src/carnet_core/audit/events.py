"""Telling plugins about audit records: the `audit_event` hook, after the transaction commits.

`record()` collects each record in the session (`db.info`); when that session commits, the
notifier installed on the process's Database calls `audit_event(event=AuditEvent)` on core and
the plugins the record's clinic has enabled. Observers only observe: they run after the commit,
cannot undo or block the action, and their errors are logged and swallowed. Records of a
transaction that rolls back are never announced.

Each process entry point installs the notifier where it builds its Database: the web app
(web/wiring.py), the CLI (cli.py Runtime.db), the worker, and the test fixtures.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from carnet_core.audit.services import AuditEvent

log = logging.getLogger("carnet.audit")
ENABLED_KEY = "_audit_enabled_plugins"


class AuditNotifier:
    """Calls `audit_event` for committed records on the plugins each clinic has enabled."""

    def __init__(self, db: Any, host: Any):
        self.db = db
        self.host = host

    def observes(self) -> bool:
        """Whether any installed plugin (core included) implements `audit_event`: when none does,
        core's batches at commit are written without building their events."""
        return bool(self.host.hook.audit_event.get_hookimpls())

    def prepare(self, session: Any, events: list[AuditEvent]) -> None:
        """Before the commit, in the same transaction: which plugins each clinic has enabled."""
        from carnet_core.clinics.models import ClinicPlugin

        clinic_ids = {e.clinic_id for e in events}
        principal = session.info.get("principal")
        known: dict[int, frozenset[str]] = {}
        if getattr(principal, "clinic_id", None) in clinic_ids and getattr(principal, "enabled_plugins", None):
            known[principal.clinic_id] = frozenset(principal.enabled_plugins)
        missing = clinic_ids - set(known)
        if missing and not self._observers():
            # no plugin observes audit records: which ones a clinic enabled changes nothing (a job's
            # or a command's transaction skips the query)
            known.update((clinic_id, frozenset()) for clinic_id in missing)
            missing = set()
        if missing:
            table = ClinicPlugin.__table__
            rows = session.connection().execute(
                sa.select(table.c.clinic_id, table.c.plugin).where(
                    table.c.clinic_id.in_(missing), table.c.enabled.is_(True)
                )
            )
            found: dict[int, set[str]] = defaultdict(set)
            for clinic_id, plugin in rows:
                found[clinic_id].add(plugin)
            for clinic_id in missing:
                known[clinic_id] = frozenset(found[clinic_id] & set(self.host.names))
        session.info[ENABLED_KEY] = known

    def _observers(self) -> set[str]:
        """The loaded plugins (core aside) that implement `audit_event`."""
        from carnet_core.plugins import CORE_PLUGIN

        pm = self.host.pm
        return {pm.get_name(impl.plugin) for impl in pm.hook.audit_event.get_hookimpls()} - {CORE_PLUGIN}

    def _enabled(self, clinic_id: int, info: dict[str, Any]) -> frozenset[str]:
        return info.get(ENABLED_KEY, {}).get(clinic_id, frozenset())

    def __call__(self, events: list[AuditEvent], info: dict[str, Any]) -> None:
        by_clinic: dict[int, list[AuditEvent]] = defaultdict(list)
        for event in events:
            by_clinic[event.clinic_id].append(event)
        try:
            self._announce(by_clinic, info)
        finally:
            info.pop(ENABLED_KEY, None)

    def _announce(self, by_clinic: dict[int, list[AuditEvent]], info: dict[str, Any]) -> None:
        for clinic_id, clinic_events in by_clinic.items():
            caller = self.host.for_clinic(self._enabled(clinic_id, info)).audit_event
            # Each observer on its own: one that fails does not silence the others.
            impls = caller.get_hookimpls()
            for event in clinic_events:
                for impl in impls:
                    try:
                        impl.function(event=event)
                    except Exception:
                        log.exception("audit_event observer %s failed (record seq %s)", impl.plugin_name, event.seq)


def install_audit_notifier(db: Any, host: Any) -> None:
    """Make every session of `db` announce its committed audit records to `host`'s plugins."""
    db.audit_notifier = AuditNotifier(db, host)
