"""Form parsing for the scheduling pages: core's form helpers, plus a local date and time in the
clinic's time zone and the agenda's safe `next` address."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request

from carnet_core.plugin_api import Form, FormErrors, clock, day, flag, integer, text, translate
from carnet_scheduling.services.calendar import NonexistentLocalTime, local_to_utc

__all__ = ["Form", "FormErrors", "clock", "day", "flag", "integer", "moment", "safe_next", "text"]


def moment(request: Request[Any, Any, Any], form: dict[str, Any], day_field: str, time_field: str,
           tz: str, errors: FormErrors) -> datetime | None:
    """A local date and time (clinic time zone) as a UTC instant."""
    d, t = day(request, form, day_field, errors), clock(request, form, time_field, errors)
    if d is None or t is None:
        return None
    try:
        return local_to_utc(d, t, tz)
    except NonexistentLocalTime:
        errors[time_field] = translate(request, "This time does not exist on that day (clocks change).")
        return None


def safe_next(value: str | None, default: str = "/scheduling/") -> str:
    """Only our own agenda pages (no open redirect)."""
    if value and value.startswith("/scheduling/") and "//" not in value and "\\" not in value and len(value) < 500:
        return value
    return default
