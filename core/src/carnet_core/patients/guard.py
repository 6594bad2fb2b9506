"""Plugins reach patients through core's patient access, never by loading the tables themselves.

A plugin that runs `db.get(Patient, id)`, `select(Patient)`, a join on `core_patient` or
`core_patient_guardian`, or a lazy load of them, skips the registry's visibility rules and the
clinical gate. When the Database has a guard (`Database.patient_guard`: the top-level packages of
the loaded plugins, set by core's pytest plugin and by `carnet plugins check`), such a statement
fails with DirectPatientAccess naming `carnet_core.patients.access`. The guard looks at the first
frame outside SQLAlchemy and core's session layer: statements issued by core (the registry, the
patient access) pass, statements issued by a plugin's own module fail. It works for a stranger's
plugin as much as for ours, since it judges the running code and not the repository's files; a
static check of imports would miss `importlib`, re-exports and raw `sa.table("core_patient")`.

Off in production (no guard: nothing is inspected); a plugin's test suite runs with it.
"""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy import event, orm

from carnet_core.db.session import PATIENT_GUARD, CarnetSession, _tables_in

GUARDED_TABLES = frozenset({"core_patient", "core_patient_guardian"})
_MACHINERY = ("sqlalchemy.", "sqlmodel.", "carnet_core.db.", "carnet_core.patients.guard")


class DirectPatientAccess(RuntimeError):
    """A plugin loaded patient rows itself instead of going through core's patient access."""


def _caller(frame: Any) -> tuple[str, str, int]:
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(_MACHINERY):
            return module, frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return "", "", 0


@event.listens_for(CarnetSession, "do_orm_execute")
def _refuse_direct_loads(state: orm.ORMExecuteState) -> None:
    packages = state.session.info.get(PATIENT_GUARD)
    if not packages:
        return
    touched = {getattr(getattr(t, "original", t), "name", None) for t in _tables_in(state.statement)}
    if not touched & GUARDED_TABLES:
        return
    module, filename, line = _caller(sys._getframe(1))
    if module.partition(".")[0] in packages:
        raise DirectPatientAccess(
            f"{module} ({filename}:{line}) reads {', '.join(sorted(touched & GUARDED_TABLES))} itself, "
            "bypassing who may see which patient; use carnet_core.patients.access(db, principal) "
            "(get, names, search, require_clinical, contact, find, register)"
        )


def plugin_packages(host: Any) -> frozenset[str]:
    """The top-level packages of `host`'s plugins other than core (what the guard watches)."""
    from carnet_core.plugins import CORE_PLUGIN

    packages = set()
    for name, info in host.plugins.items():
        if name == CORE_PLUGIN:
            continue
        module = getattr(info, "module", None)
        top = getattr(module, "__name__", None) or type(module).__module__
        if top:
            packages.add(top.partition(".")[0])
    packages.discard("carnet_core")
    return frozenset(packages)
