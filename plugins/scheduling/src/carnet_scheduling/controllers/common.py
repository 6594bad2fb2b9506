"""Helpers shared by the scheduling handlers: hooks for the clinic, error answers."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import NotFoundException

from carnet_core.plugin_api import clinic_hooks
from carnet_core.plugin_api import plugin_settings as _plugin_settings
from carnet_scheduling.services.errors import NotFound, SchedulingError


def field_error(exc: SchedulingError) -> SchedulingError:
    """Refused input on the API: a SchedulingError is core's InvalidInput, which core answers with
    422 and `{"status_code", "detail", "errors": [{"field", "code", "message"}]}`, nothing written."""
    return exc


def hooks_for(request: Request[Any, Any, Any]) -> Any:
    """Hook caller limited to the plugins this clinic enabled."""
    return clinic_hooks(request)


def plugin_settings(request: Request[Any, Any, Any]) -> Any:
    from carnet_scheduling.settings import SchedulingSettings

    return _plugin_settings(request, "scheduling") or SchedulingSettings()


def not_found(exc: NotFound) -> NotFoundException:
    return NotFoundException()
