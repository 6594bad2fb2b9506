"""Every core hook, typed, with when it is called and what to return.

A plugin module implements these with ``@hookimpl``. Hooks that concern one clinic's events are
called only for plugins that clinic has enabled (see ``PluginHost.for_clinic``).

The exception are the data-lifecycle hooks named in ``DATA_LIFECYCLE_HOOKS`` (a patient's export
and erasure; a clinic's export and retention to come): disabling a module keeps its data, so these
run for every installed, allowed plugin, enabled for the clinic or not, through
``PluginHost.lifecycle`` / ``PluginHost.lifecycle_each``. Asking ``for_clinic`` or
``call_each(only=...)`` for one of them raises, so no caller can skip a disabled module's data.
A plugin that holds nothing for the clinic or patient returns ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel

    from carnet_core.contrib import ActorSpec, NavItem, Panel, Permission, Schedule, SettingsItem

PROJECT = "carnet"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# Hooks that reach a clinic's data whatever modules it has enabled (see the module docstring).
# A new data-lifecycle hook (export_clinic_data, retention, destruction) is added here too.
DATA_LIFECYCLE_HOOKS: frozenset[str] = frozenset({
    "export_patient_data", "erase_patient_data", "verify_clinic_data", "last_care_dates", "patient_data_kept",
    "export_clinic_data", "import_clinic_data",
})


@hookspec(firstresult=True)
def register_settings() -> type[BaseModel] | None:
    """At start: return the plugin's settings model, filled from CARNET_<PLUGIN>_* variables."""


@hookspec
def register_hookspecs() -> Any:
    """At start: return a module or class of the plugin's own `<plugin>_*` hookspecs (others use optionalhook)."""


@hookspec
def register_routes() -> list[Any]:
    """At start: return Litestar handlers or controllers; core mounts them under /<plugin>."""


@hookspec
def register_api_routes() -> list[Any]:
    """At start: return JSON handlers or controllers; core mounts them under /api/v1/<plugin>."""


@hookspec
def register_public_routes() -> list[Any]:
    """At start: return handlers for patients without accounts, mounted under /p/{clinic_slug}/<plugin>."""


@hookspec
def register_permissions() -> list[Permission]:
    """At start: return the permissions the plugin's routes declare, with default roles."""


@hookspec
def register_actors() -> list[ActorSpec]:
    """At start, after the broker exists: return job functions; core declares `<plugin>.<name>`."""


@hookspec
def register_schedules() -> list[Schedule]:
    """At start: return periodic work; the one active scheduler enqueues it."""


@hookspec
def navigation_items(clinic: Any, user: Any) -> list[NavItem]:
    """On each page for a clinic that enabled the plugin: return navigation entries."""


@hookspec
def settings_items(clinic: Any, user: Any) -> list[SettingsItem]:
    """On the Réglages page of a clinic that enabled the plugin: return its settings pages, each with a theme."""


@hookspec
def home_panels(clinic: Any, user: Any, db: Any) -> list[Panel]:
    """On the home page of a clinic that enabled the plugin: return panels of today's work (short lists, counts)."""


@hookspec
def patient_panels(clinic: Any, patient: Any, user: Any, db: Any) -> list[Panel]:
    """On the patient page of a clinic that enabled the plugin: return panels to show."""


@hookspec
def template_context(request: Any) -> dict[str, Any]:
    """On each page render: return extra variables for templates."""


@hookspec
def audit_event(event: Any) -> None:
    """After an audit record is written for a clinic that enabled the plugin: observe only."""


@hookspec
def audit_resource_labels() -> dict[str, str]:
    """Once per process: the plugin's audited record kinds in words, {resource_type: English msgid}."""


@hookspec
def audit_checkpoint_signed(checkpoint: Any) -> None:
    """After a signed audit checkpoint or purge anchor commits (any clinic, every plugin): send it to a witness."""


@hookspec
def clinic_plugin_toggled(clinic: Any, plugin: str, enabled: bool) -> None:
    """After a clinic enables or disables a plugin (the toggled plugin itself is always told)."""


@hookspec
def export_patient_data(clinic: Any, patient: Any, db: Any) -> dict[str, Any] | None:
    """Data lifecycle, every installed plugin even if disabled: return its data about the patient (JSON) or None."""


@hookspec
def erase_patient_data(clinic: Any, patient: Any, db: Any) -> None:
    """Data lifecycle, every installed plugin even if disabled: delete or shred all its rows about the patient."""


@hookspec
def verify_clinic_data(clinic: Any, db: Any) -> list[str] | None:
    """Data lifecycle, every installed plugin even if disabled: return its integrity problems (ids only; [] intact)."""


@hookspec
def patient_data_kept(clinic: Any, patient_id: int, db: Any) -> list[str] | None:
    """Data lifecycle, every installed plugin even if disabled: return what it keeps after erasure and why (msgids)."""


@hookspec
def last_care_dates(clinic: Any, db: Any) -> dict[int, Any] | None:
    """Data lifecycle, every installed plugin even if disabled: return {patient_id: date of last care} or None."""


@hookspec
def export_clinic_data(clinic: Any, db: Any) -> Iterable[tuple[str, dict[str, Any]]] | None:
    """Data lifecycle, every installed plugin even if disabled: yield (entity, record) for all its rows, or None."""


@hookspec
def import_clinic_data(clinic: Any, db: Any, archive: Any) -> dict[str, int] | None:
    """Data lifecycle, every installed plugin even if disabled: write back its part of a clinic export (archive.records(entity), archive.file(path)); return {entity: records written}, or None."""  # noqa: E501


@hookspec
def demo_data(clinic: Any, db: Any, context: dict[str, Any]) -> None:
    """During `carnet demo`: add believable sample data to the demo clinic."""


@hookspec
def register_cli_commands() -> list[Any]:
    """When `carnet` runs: return click commands, each named after the plugin (`carnet <plugin> …`)."""


@hookspec(firstresult=True)
def patient_allows(clinic_id: int, patient_id: int, purpose: str, db: Any) -> bool | None:
    """From `purpose_allowed`, clinics that enabled the plugin: does the patient allow `purpose` now? True/False, or None (next plugin, then the default)."""  # noqa: E501


@hookspec(firstresult=True)
def send_sms(to: str, body: str, settings: Any) -> str | None:
    """To send an SMS: a transport plugin returns a message id; core falls back to the SMS folder."""
