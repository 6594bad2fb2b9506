"""Hooks the consent plugin publishes for other plugins (scheduling, telecare, …).

Implement them with ``@hookimpl(optionalhook=True)`` so your plugin still loads when consent is
absent. They are called after the change is flushed, in the same transaction, only for plugins the
clinic has enabled; `db` is that clinic's session. An exception rolls the change back: observers
must not raise for ordinary reasons. To *ask* whether a patient allows a purpose, do not listen
to these: call `carnet_core.plugin_api.purpose_allowed` (it works with consent disabled too).
"""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import hookspec


@hookspec
def consent_signed(clinic_id: int, patient_id: int, request_id: int, accepted: list[str], refused: list[str],
                   db: Any) -> None:
    """After a request is complete (every signature it needs is in): the clause keys the patient
    (or, for a minor, every signing parent) accepted and those refused."""


@hookspec
def consent_withdrawn(clinic_id: int, patient_id: int, purpose: str, db: Any) -> None:
    """After the patient, a parent or staff withdrew the agreement to `purpose` (a clause key, e.g.
    "sms_reminders", "telesoin"): stop what depended on it now."""
