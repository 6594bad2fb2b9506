"""Errors shared by core and plugins, with no web framework in sight (services raise them).

One convention for bad input everywhere:

- a service raises `InvalidInput({"field": FieldError("code", N_("English msgid"), **params)})`
  (or a subclass, e.g. `PatientInvalid`); the message is a msgid, translated where it is shown;
- the JSON API answers **422** with
  `{"status_code": 422, "detail": "...", "errors": [{"field": ..., "code": ..., "message": ...}]}`
  (core's exception handler does it when the error is not caught);
- a body that does not even match the API's schema (malformed JSON, wrong type, unknown or
  missing field) answers **400** with the same body shape (codes `invalid`, `unknown_field`,
  `required`);
- an HTML form re-renders itself as `text/html` with the French message next to each field, with
  `carnet_core.web.forms.form_page` (422, nothing written).
"""

from __future__ import annotations

from typing import Any


class FieldError(ValueError):
    """What is wrong with one field: a stable `code` for programs, an English msgid (translated
    where it is shown) and its variables."""

    def __init__(self, code: str, message: str, **params: Any):
        self.code = code
        self.message = message
        self.params = params
        super().__init__(message % params if params else message)


class InvalidInput(ValueError):
    """Input rejected; `errors` maps each field to what is wrong with it. Nothing was written."""

    def __init__(self, errors: dict[str, FieldError | str]):
        self.errors: dict[str, FieldError] = {
            k: v if isinstance(v, FieldError) else FieldError("invalid", v) for k, v in errors.items()
        }
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class NotFound(LookupError):
    """The object does not exist in this clinic, or this person may not see it: answer 404 and
    reveal nothing."""
