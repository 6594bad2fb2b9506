"""Test support for core and plugin authors (loaded by pytest through the `carnet` pytest11 entry).

A plugin's tests import from `carnet_core.plugin_api` and from here only. Besides the fixtures
(`carnet_core.testing.plugin`) and the identity helpers (`carnet_core.testing.identity`), this
module names what a test inspects but a plugin never touches: the audit and outbox tables, the
jobs helpers, the CLI, the demo clinic's slug and core's account services.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES: dict[str, tuple[str, str | None]] = {
    "AuditRecord": ("carnet_core.audit.models", "AuditRecord"),
    "OutboxMessage": ("carnet_core.jobs.models", "OutboxMessage"),
    "JobEffect": ("carnet_core.jobs.models", "JobEffect"),
    "Patient": ("carnet_core.patients.models", "Patient"),
    "PatientGuardian": ("carnet_core.patients.models", "PatientGuardian"),
    "wait_for_jobs": ("carnet_core.jobs.testing", "wait_for_jobs"),
    "delete_namespace": ("carnet_core.jobs.testing", "delete_namespace"),
    "redis_dump": ("carnet_core.jobs.testing", "redis_dump"),
    "carnet_cli": ("carnet_core.cli", "main"),
    "DEMO_SLUG": ("carnet_core.demo", "DEMO_SLUG"),
    "get_clinic_by_slug": ("carnet_core.clinics.services", "get_clinic_by_slug"),
    "identity_services": ("carnet_core.identity.services", None),
    "csrf_token": ("carnet_core.testing.identity", "csrf_token"),
    "first_of_a_month": ("carnet_core.testing.dates", "first_of_a_month"),
    "first_in_french": ("carnet_core.testing.dates", "first_in_french"),
    "make_staff": ("carnet_core.testing.identity", "make_staff"),
    "browser_login": ("carnet_core.testing.identity", "browser_login"),
    "chromium": ("carnet_core.testing.plugin", "chromium"),
    "enroll": ("carnet_core.testing.identity", "enroll"),
    "Team": ("carnet_core.testing.team", "Team"),
    "register_patients": ("carnet_core.testing.team", "register_patients"),
    "behind_the_back": ("carnet_core.testing.tamper", "behind_the_back"),
    "flip_sealed_byte": ("carnet_core.testing.tamper", "flip_sealed_byte"),
    "test_redis_url": ("carnet_core.testing.plugin", "test_redis_url"),
    "running_process": ("carnet_core.testing.processes", "running_process"),
    "stop_process": ("carnet_core.testing.processes", "stop_process"),
    "serving": ("carnet_core.testing.processes", "serving"),
    "web_process_env": ("carnet_core.testing.processes", "web_process_env"),
    "free_port": ("carnet_core.testing.processes", "free_port"),
    "SmsGateway": ("carnet_core.testing.sms", "SmsGateway"),
    "spy_on_chain_head": ("carnet_core.testing.audit", "spy_on_chain_head"),
    "stream_upload": ("carnet_core.testing.uploads", "stream_upload"),
    "peak_rss_growth": ("carnet_core.testing.uploads", "peak_rss_growth"),
    "test_database_url": ("carnet_core.testing.plugin", "test_database_url"),
    # a clinic archive round trip (`carnet export clinic` then `carnet import clinic`, into `empty_instance`)
    "write_archive": ("carnet_core.export.services", "write_archive"),
    "check_archive": ("carnet_core.export.importing", "check"),
    "import_archive": ("carnet_core.export.importing", "import_archive"),
    # upgrade tests: migrate a database to a revision, fill it the old way, then run `carnet init`
    "build_plugin_host": ("carnet_core.plugins", "build_plugin_host"),
    "open_database": ("carnet_core.process", "open_database"),
    "migrations": ("carnet_core.db.migrate", None),
    "carnet_init": ("carnet_core.setup", "initialise"),
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"carnet_core.testing has no '{name}'")
    module_name, attribute = _NAMES[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
