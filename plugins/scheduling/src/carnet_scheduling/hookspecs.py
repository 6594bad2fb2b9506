"""Hooks the scheduling plugin publishes for other plugins (billing, telecare, …).

Implement the event hooks with ``@hookimpl(optionalhook=True)`` so your plugin still loads when
scheduling is absent. They are called after the change is flushed, in the same transaction, only for plugins the
appointment's clinic has enabled; `db` is that clinic's session. Observers must not raise for
ordinary reasons: an exception rolls the change back.
"""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import hookspec


@hookspec
def scheduling_appointment_booked(appointment: Any, modality: str, db: Any) -> None:
    """After an appointment is booked (by staff, a series, online booking or the API); `modality` is
    its type's ("cabinet", "domicile" or "telesoin": telecare opens a video session for the last)."""


@hookspec
def scheduling_appointment_moved(appointment: Any, previous_start: Any, previous_end: Any, db: Any) -> None:
    """After an appointment moved to a new time (or room); previous times are UTC."""


@hookspec
def scheduling_appointment_cancelled(appointment: Any, reason: str, db: Any) -> None:
    """After an appointment is cancelled; `reason` is what the canceller gave."""


@hookspec
def scheduling_appointment_honoured(appointment: Any, db: Any) -> None:
    """After an appointment is marked honoured (the session took place: billing may invoice it)."""


@hookspec
def scheduling_appointment_missed(appointment: Any, excused: bool, db: Any) -> None:
    """After an appointment is marked absent non excusé (`excused=False`) or excused."""


@hookspec
def scheduling_honoured_sessions(db: Any, start: Any, end: Any, practitioner_id: int | None) -> list[dict[str, Any]]:
    """Asked by other plugins (billing): the honoured, billable sessions of `db`'s clinic whose local day
    is in [start, end) (dates), of one practitioner or all (None). Scheduling answers it itself; each
    session is a plain dict: `ref` ("scheduling.appointment:<id>", stable: what an invoice keeps),
    `appointment_id`, `patient_id`, `practitioner_id`, `day`, `starts_at`, `ends_at` (UTC),
    `type_name`, `series_id` (or None), `place` (name and address, or ""). Callers flatten the
    per-plugin lists and must cope with the hook missing (scheduling not installed or not enabled)."""
