"""Scheduling's hook implementations: wiring only, domain code lives in services/."""

from __future__ import annotations

from typing import Any

from carnet_core.hookspecs import hookimpl


@hookimpl
def register_hookspecs() -> Any:
    from carnet_scheduling import hookspecs

    return hookspecs


@hookimpl
def register_settings() -> Any:
    from carnet_scheduling.settings import SchedulingSettings

    return SchedulingSettings


@hookimpl
def register_permissions() -> list[Any]:
    from carnet_scheduling.permissions import PERMISSIONS

    return PERMISSIONS


@hookimpl
def register_api_routes() -> list[Any]:
    from carnet_scheduling.controllers.api import API_HANDLERS

    return API_HANDLERS


@hookimpl
def register_public_routes() -> list[Any]:
    from carnet_scheduling.controllers.public import PUBLIC_HANDLERS

    return PUBLIC_HANDLERS
