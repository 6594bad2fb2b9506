"""What every process (web, worker, scheduler, CLI, tests) does with its database before use."""

from __future__ import annotations

import logging
from typing import Any

from carnet_core.db.session import Database
from carnet_core.settings import Settings

log = logging.getLogger("carnet.db")


def warn_rls_bypass(db: Database) -> str | None:
    """At start: log a warning when PostgreSQL's row-level security does not apply to the role the
    process works as (superuser, BYPASSRLS), naming the fix; once per database (`carnet serve`
    opens it, then the app starts on it). Returns the warning, if logged now."""
    from carnet_core.db.schema import rls_bypass

    if db.rls_checked:
        return None
    db.rls_checked = True
    problem = rls_bypass(db)
    if problem:
        log.warning(problem)
    return problem


def prepare_database(db: Database, settings: Settings, host: Any) -> Database:
    """Give the database its keyring (sealed columns), its audit notifier (audit_event hook) and
    the names of the actors the plugins declare (`enqueue` refuses any other)."""
    from carnet_core.audit.events import install_audit_notifier
    from carnet_core.encryption import install_keyring
    from carnet_core.jobs.outbox import declared_actors

    install_keyring(db, settings)
    install_audit_notifier(db, host)
    db.actors = declared_actors(host)
    return db


def open_database(settings: Settings, host: Any) -> Database:
    """The process's database. Whatever the process creates from here on (the SQLite files, mail,
    SMS, keys) is private, and the state folders and database files made earlier are tightened."""
    from carnet_core import statefiles

    statefiles.private_umask()
    statefiles.tighten(settings, files=False)
    db = prepare_database(Database(settings.database_url, role=settings.database_role), settings, host)
    warn_rls_bypass(db)
    return db


def freeze_startup_heap() -> int:
    """Once a long-running process (web server, worker) has imported and built everything it keeps
    for its lifetime (modules, plugins, app, routes, models): collect, then move what is left out
    of the cyclic garbage collector's reach (`gc.freeze`). Returns the number of objects frozen.

    Python's collector otherwise walks these ~170,000 objects again at every full collection, which
    a request's allocations trigger every few dozen requests: about 2 ms of CPU per week view
    (bench/bench_agenda.py). What is frozen stays alive, as it would have anyway; tests and
    short-lived commands do not call it (each builds and drops apps)."""
    import gc

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
