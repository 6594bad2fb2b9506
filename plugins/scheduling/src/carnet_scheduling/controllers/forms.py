"""Form parsing for the scheduling pages: every value checked, errors by field, never a 500."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any

from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.params import Body

from carnet_core.web.render import translate
from carnet_scheduling.services.calendar import NonexistentLocalTime, local_to_utc

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
MAX_FIELD = 20_000


class FormErrors(dict[str, str]):
    """Field name -> translated message."""


def text(form: dict[str, Any], name: str, limit: int = 300) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()[:limit]


def integer(request: Request[Any, Any, Any], form: dict[str, Any], name: str, errors: FormErrors,
            *, required: bool = True, low: int = 1, high: int = 2**31 - 1) -> int | None:
    raw = text(form, name, 12)
    if not raw:
        if required:
            errors[name] = translate(request, "This field is required.")
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        errors[name] = translate(request, "Enter a whole number between %(low)s and %(high)s.", low=low, high=high)
        return None
    return int(raw)


def day(request: Request[Any, Any, Any], form: dict[str, Any], name: str, errors: FormErrors,
        *, required: bool = True) -> date | None:
    raw = text(form, name, 10)
    if not raw:
        if required:
            errors[name] = translate(request, "This field is required.")
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        errors[name] = translate(request, "Enter a date such as 2026-03-31.")
        return None
    if not 2000 <= value.year <= 2099:
        errors[name] = translate(request, "Enter a date between 2000 and 2099.")
        return None
    return value


def clock(request: Request[Any, Any, Any], form: dict[str, Any], name: str, errors: FormErrors,
          *, required: bool = True) -> time | None:
    raw = text(form, name, 8)
    if not raw:
        if required:
            errors[name] = translate(request, "This field is required.")
        return None
    try:
        return time.fromisoformat(raw)
    except ValueError:
        errors[name] = translate(request, "Enter a time such as 17:30.")
        return None


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


def flag(form: dict[str, Any], name: str) -> bool:
    return text(form, name, 5).lower() in ("1", "on", "true", "yes")


def safe_next(value: str | None, default: str = "/scheduling/") -> str:
    """Only our own agenda pages (no open redirect)."""
    if value and value.startswith("/scheduling/") and "//" not in value and "\\" not in value and len(value) < 500:
        return value
    return default
