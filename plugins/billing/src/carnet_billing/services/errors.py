"""Billing's refusals: core's `InvalidInput` (a French field message where it is shown, 422 in
the API) and `NotFound` (404, revealing nothing)."""

from __future__ import annotations

from carnet_core.plugin_api import FieldError, InvalidInput, NotFound

__all__ = ["BillingInvalid", "NotFound", "refuse"]


class BillingInvalid(InvalidInput):
    """Bad billing input: nothing was written."""


def refuse(field: str, code: str, message: str, **params: object) -> BillingInvalid:
    return BillingInvalid({field: FieldError(code, message, **params)})
