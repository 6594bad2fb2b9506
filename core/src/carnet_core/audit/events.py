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

from carnet_core.audit.services import AuditEvent

log = logging.getLogger("carnet.audit")


class AuditNotifier:
    """Calls `audit_event` for committed records on the plugins each clinic has enabled."""

    def __init__(self, db: Any, host: Any):
        self.db = db
        self.host = host

    def _enabled(self, clinic_id: int, info: dict[str, Any]) -> frozenset[str]:
        principal = info.get("principal")
        if principal is not None and getattr(principal, "clinic_id", None) == clinic_id:
            known = getattr(principal, "enabled_plugins", None)
            if known:
                return frozenset(known)
        from carnet_core.clinics.services import enabled_plugins

        with self.db.session(clinic_id=clinic_id) as session:
            return frozenset(enabled_plugins(session, clinic_id, self.host.names))

    def __call__(self, events: list[AuditEvent], info: dict[str, Any]) -> None:
        by_clinic: dict[int, list[AuditEvent]] = defaultdict(list)
        for event in events:
            by_clinic[event.clinic_id].append(event)
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
