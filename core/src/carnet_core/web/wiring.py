"""Core areas (identity, audit, jobs, patients…) plug their routes and authenticators in here."""

from __future__ import annotations

from typing import Any

from carnet_core.web.state import CarnetState


def wire_core_services(state: CarnetState) -> list[Any]:
    """Register authenticators and return the route handlers of core's areas."""
    handlers: list[Any] = []
    from carnet_core.process import prepare_database

    prepare_database(state.db, state.settings, state.host)
    from carnet_core.audit.controllers import AuditController

    handlers.append(AuditController)

    from carnet_core.identity.wiring import wire as wire_identity

    handlers.extend(wire_identity(state))
    from carnet_core.jobs.web import wire_jobs

    wire_jobs(state)
    from carnet_core.patients.controllers import route_handlers as patient_routes

    handlers.extend(patient_routes())
    from carnet_core.patients.accesses import patient_accesses

    handlers.append(patient_accesses)
    from carnet_core.retention.controllers import HANDLERS as retention_handlers

    handlers.extend(retention_handlers)
    from carnet_core.export.controllers import HANDLERS as export_handlers

    handlers.extend(export_handlers)
    return handlers
