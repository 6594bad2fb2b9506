"""HTML forms: parse a posted form field by field, and re-render it with French field errors.

The convention for every form route of core and plugins (tested over the whole route table by
`tests/test_form_routes.py`):

- parse with the helpers below, collecting each bad field's message in a `FormErrors`;
- a service's `InvalidInput` becomes field messages with `errors_of(request, exc)`;
- answer with `form_page(request, template, context, errors)`: the same page again, `text/html`,
  status 422 (or the status you give, e.g. 409 when the slot was just taken), every field's value
  kept, the message next to the field, and the request's transaction rolled back (nothing written).
"""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any

from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template

from carnet_core.errors import InvalidInput
from carnet_core.web.render import page, translate

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
"""The type of a handler's `data` for a posted HTML form (`data: Form`)."""


class FormErrors(dict[str, str]):
    """Field name -> translated message, shown next to the field."""


def errors_of(request: Request[Any, Any, Any], exc: InvalidInput) -> FormErrors:
    """A service's refusal as field messages in the request's language."""
    return FormErrors({
        name: translate(request, error.message, **error.params) for name, error in exc.errors.items()
    })


def form_page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    *,
    partial: str | None = None,
    status_code: int = 422,
    headers: dict[str, str] | None = None,
) -> Template:
    """The form again with its field errors (`errors` in the template's context): `text/html`,
    a 4xx status, nothing written (the request's transaction is rolled back)."""
    if status_code < 400:
        raise ValueError("form_page answers a refused form: give a 4xx status_code")
    merged = dict(context or {})
    merged["errors"] = FormErrors(errors or {})
    return page(request, template, merged, partial=partial, status_code=status_code, headers=headers)


def text(form: dict[str, Any], name: str, limit: int = 300) -> str:
    """A field's text, stripped and cut at `limit` characters ("" when absent)."""
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()[:limit]


def flag(form: dict[str, Any], name: str) -> bool:
    """A checkbox: true for 1, on, true, yes."""
    return text(form, name, 5).lower() in ("1", "on", "true", "yes")


def _required(request: Request[Any, Any, Any], name: str, errors: FormErrors, required: bool) -> None:
    if required:
        errors[name] = translate(request, "This field is required.")


def integer(request: Request[Any, Any, Any], form: dict[str, Any], name: str, errors: FormErrors,
            *, required: bool = True, low: int = 1, high: int = 2**31 - 1) -> int | None:
    """A whole number between `low` and `high`, or None with the field's message in `errors`."""
    raw = text(form, name, 12)
    if not raw:
        _required(request, name, errors, required)
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        errors[name] = translate(request, "Enter a whole number between %(low)s and %(high)s.", low=low, high=high)
        return None
    return int(raw)


def day(request: Request[Any, Any, Any], form: dict[str, Any], name: str, errors: FormErrors,
        *, required: bool = True) -> date | None:
    """A date (YYYY-MM-DD) between 2000 and 2099, or None with the field's message in `errors`."""
    raw = text(form, name, 10)
    if not raw:
        _required(request, name, errors, required)
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
    """A time of day (HH:MM), or None with the field's message in `errors`."""
    raw = text(form, name, 8)
    if not raw:
        _required(request, name, errors, required)
        return None
    try:
        return time.fromisoformat(raw)
    except ValueError:
        errors[name] = translate(request, "Enter a time such as 17:30.")
        return None
