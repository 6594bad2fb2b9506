"""Helpers shared by the scheduling handlers: hooks for the clinic, error answers."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException, NotFoundException

from carnet_core.web.guards import principal_of
from carnet_core.web.state import carnet_state
from carnet_scheduling.services.errors import NotFound, SchedulingError


class FieldErrors(HTTPException):
    """422 with field errors: `{"detail": ..., "errors": [{"field", "message"}]}`; nothing written."""

    status_code = 422


def field_error(exc: SchedulingError) -> FieldErrors:
    return FieldErrors(detail="invalid input", extra=[{"field": exc.field, "message": exc.message}])


def hooks_for(request: Request[Any, Any, Any]) -> Any:
    """Hook caller limited to the plugins this clinic enabled."""
    return carnet_state(request).host.for_clinic(principal_of(request).enabled_plugins)


def plugin_settings(request: Request[Any, Any, Any]) -> Any:
    from carnet_scheduling.settings import SchedulingSettings

    return carnet_state(request).settings.plugins.get("scheduling") or SchedulingSettings()


def not_found(exc: NotFound) -> NotFoundException:
    return NotFoundException()
