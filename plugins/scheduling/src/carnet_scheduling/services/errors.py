"""Scheduling errors. Bad input raises SchedulingError (core's InvalidInput) naming the field and the fix."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import FieldError, InvalidInput


class SchedulingError(InvalidInput):
    """Input that cannot be accepted; `field` names what to change, `message` is an English msgid
    (translated where shown), `code` a stable code for API clients. Core answers it on the API
    with 422 and the field error (see `carnet_core.errors`)."""

    def __init__(self, field: str, message: str, code: str = "invalid"):
        super().__init__({field: FieldError(code, message)})
        self.field = field
        self.message = message


class NotFound(LookupError):
    """The object does not exist in this clinic (answer 404, reveal nothing)."""


class SlotTaken(Exception):
    """The time is already taken. `conflict` is the occupying appointment of this clinic, when visible
    (None when it belongs to another clinic the practitioner works at); `reason` says what clashed."""

    def __init__(self, reason: str, conflict: Any = None):
        super().__init__(reason)
        self.reason = reason  # "practitioner_busy", "room_busy", "patient_already_booked_that_day"
        self.conflict = conflict


def free_text(field: str, value: str | None, *, required: bool = False) -> str:
    """`value` stripped, checked by core's one free-text validator (no control or bidi characters,
    combining marks capped, a visible character when `required`); SchedulingError names the field.
    Every text a person types into scheduling goes through here, from the API and from the forms."""
    from carnet_core.plugin_api import text_problem

    text = (value or "").strip()
    problem = text_problem(text, required=required)
    if problem is not None:
        raise SchedulingError(field, problem.message)
    return text
