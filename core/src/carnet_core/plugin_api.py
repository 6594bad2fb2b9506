"""The stable surface of carnet-core for plugins: import from here, and from nowhere else in core.

    from carnet_core.plugin_api import hookimpl, Permission, NavItem, page, form_page, record, seal

Everything a plugin needs is named below, grouped by what it is for; docs/PLUGINS.md is the guide.
Within a core version range (`carnet-core>=0.1,<0.2` in a plugin's dependencies) these names keep
their meaning and signature; any other module of `carnet_core` is internal and may change in a
minor release. Tests may also import `carnet_core.testing` (fixtures and helpers).
`tests/test_plugin_imports.py` holds the repository's plugins to this.

Why a module of its own rather than `carnet_core/__init__.py`: every core module imports
`carnet_core.<area>`, which runs the package's `__init__` first, so a package-level surface would
import the whole of core (Litestar, SQLAlchemy, the key provider) for the CLI's `--help`, and each
core module would import itself in a cycle. Here names are resolved lazily (PEP 562): a service
that imports `seal` loads the encryption area only, never the web framework, so "services never
import Litestar" still holds for plugin services that use this module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> module that defines it. Grouped as in docs/PLUGINS.md.
_NAMES: dict[str, str] = {
    # hooks
    "hookimpl": "carnet_core.hookspecs",
    "hookspec": "carnet_core.hookspecs",
    # contribution types (what hooks return) and the two pseudo-permissions
    "Permission": "carnet_core.contrib",
    "NavItem": "carnet_core.contrib",
    "Panel": "carnet_core.contrib",
    "Count": "carnet_core.contrib",
    "Link": "carnet_core.contrib",
    "count_panel": "carnet_core.contrib",
    "SettingsItem": "carnet_core.contrib",
    "SETTINGS_THEMES": "carnet_core.contrib",
    "ActorSpec": "carnet_core.contrib",
    "Schedule": "carnet_core.contrib",
    "PUBLIC": "carnet_core.contrib",
    "AUTHENTICATED": "carnet_core.contrib",
    "ROLES": "carnet_core.contrib",
    "UnknownRole": "carnet_core.contrib",
    # errors (services raise them; core answers them)
    "FieldError": "carnet_core.errors",
    "InvalidInput": "carnet_core.errors",
    "NotFound": "carnet_core.errors",
    "InvalidFields": "carnet_core.web.errors",
    "invalid_fields": "carnet_core.web.errors",
    # database: sessions bound to one clinic, clinic-owned tables, UTC datetimes
    "CarnetSession": "carnet_core.db.session",
    "ClinicOwned": "carnet_core.db.base",
    "UTCDateTime": "carnet_core.db.base",
    "utcnow": "carnet_core.db.base",
    # same-clinic references (models) and their migrations (see carnet_core.db.schema)
    "clinic_key": "carnet_core.db.schema",
    "same_clinic": "carnet_core.db.schema",
    "create_clinic_key": "carnet_core.db.schema",
    "drop_clinic_key": "carnet_core.db.schema",
    "reference_same_clinic": "carnet_core.db.schema",
    "reference_any_clinic": "carnet_core.db.schema",
    "reference_name": "carnet_core.db.schema",
    "enable_clinic_rls": "carnet_core.db.schema",
    "disable_clinic_rls": "carnet_core.db.schema",
    "refuse_changes": "carnet_core.db.schema",
    "drop_refusals": "carnet_core.db.schema",
    # the principal (who asks) and the request's context
    "Principal": "carnet_core.web.principal",
    "principal_of": "carnet_core.web.guards",
    "clinic_hooks": "carnet_core.web.state",
    "settings_of": "carnet_core.web.state",
    "host_of": "carnet_core.web.state",
    "plugin_settings": "carnet_core.web.state",
    "connection_db": "carnet_core.web.state",
    # clinics and staff (read-only for plugins)
    "Clinic": "carnet_core.clinics.models",
    "User": "carnet_core.identity.models",
    "Membership": "carnet_core.identity.models",
    # patients: the one way in (visibility, clinical gate, audit); loading Patient is refused
    "patient_access": "carnet_core.patients.patient_access",
    "PatientAccess": "carnet_core.patients.patient_access",
    "PatientRef": "carnet_core.patients.patient_access",
    "PatientContact": "carnet_core.patients.patient_access",
    "PatientError": "carnet_core.patients.services",
    "PatientNotFound": "carnet_core.patients.services",
    "PatientErased": "carnet_core.patients.services",
    "PatientForbidden": "carnet_core.patients.services",
    "PatientInvalid": "carnet_core.patients.services",
    "check_patient_input": "carnet_core.patients.validation",
    "GuardianContact": "carnet_core.patients.patient_access",
    # "who looked at my file": a patient's accesses as the patient may see them
    "accesses_for_patient_view": "carnet_core.patients.accesses",
    # consent: the one question before an optional processing ("does P allow X now?")
    "purpose_allowed": "carnet_core.purposes",
    "PURPOSES": "carnet_core.purposes",
    # sealing (encryption at rest) and exact-match search
    "Sealed": "carnet_core.encryption",
    "seal": "carnet_core.encryption",
    "open_": "carnet_core.encryption",
    "seal_bytes": "carnet_core.encryption",
    "open_bytes": "carnet_core.encryption",
    "blind_index": "carnet_core.encryption",
    "DecryptionError": "carnet_core.encryption",
    "KeyDestroyed": "carnet_core.encryption",
    # fail closed per record: a damaged value becomes an Unreadable marker (lists, pages, exports)
    "open_or_unreadable": "carnet_core.encryption.unreadable",
    "open_fields": "carnet_core.encryption.unreadable",
    "open_row_value": "carnet_core.encryption.unreadable",
    "readable": "carnet_core.encryption.unreadable",
    "Unreadable": "carnet_core.encryption.unreadable",
    # clinic export: a table's rows for the session's clinic, sealed columns opened, streamed
    "table_records": "carnet_core.export.records",
    "insert_records": "carnet_core.export.records",
    # audit
    "record": "carnet_core.audit",
    "record_many": "carnet_core.audit",
    "record_at_commit": "carnet_core.audit",
    "AuditEvent": "carnet_core.audit",
    # jobs
    "enqueue": "carnet_core.jobs",
    "enqueue_with_options": "carnet_core.jobs",
    "JobContext": "carnet_core.jobs",
    "once": "carnet_core.jobs",
    "already_done": "carnet_core.jobs",
    "already_done_clause": "carnet_core.jobs",
    # patient links (people without accounts)
    "links": "carnet_core.links",
    "client_address": "carnet_core.links.web",
    "keep_page": "carnet_core.links.web",
    "refusal_page": "carnet_core.links.web",
    # outgoing messages
    "Mail": "carnet_core.mail",
    "Attachment": "carnet_core.mail",
    "send_mail": "carnet_core.mail",
    "send_sms": "carnet_core.sms",
    "sms_transport": "carnet_core.sms",
    "message_environment": "carnet_core.web.templating",
    # PDF documents (PDF/A through WeasyPrint, rendered in jobs)
    "render_pdf": "carnet_core.documents",
    "render_html": "carnet_core.documents",
    "html_to_pdf": "carnet_core.documents",
    "PdfAttachment": "carnet_core.documents",
    "PdfUnavailable": "carnet_core.documents",
    # rendering and translation
    "page": "carnet_core.web.render",
    "is_htmx": "carnet_core.web.render",
    "translate": "carnet_core.web.render",
    "translate_plural": "carnet_core.web.render",
    "N_": "carnet_core.i18n",
    "Nn_": "carnet_core.i18n",
    "phone_display": "carnet_core.formatting",
    "long_date": "carnet_core.formatting",
    "long_datetime": "carnet_core.formatting",
    "local_datetime": "carnet_core.formatting",
    "short_date": "carnet_core.formatting",
    # input bounds: ids, free text, dates (one validator for the whole platform)
    "Id": "carnet_core.inputs",
    "Offset": "carnet_core.inputs",
    "MAX_ID": "carnet_core.inputs",
    "id_in_range": "carnet_core.inputs",
    "OptionalIdParam": "carnet_core.web.limits",
    "FreeText": "carnet_core.inputs",
    "OptionalText": "carnet_core.inputs",
    "text_problem": "carnet_core.inputs",
    "check_text": "carnet_core.inputs",
    "TextInvalid": "carnet_core.inputs",
    "Moment": "carnet_core.inputs",
    "Day": "carnet_core.inputs",
    "check_moment": "carnet_core.inputs",
    "DateOutOfRange": "carnet_core.inputs",
    # HTML forms
    "Form": "carnet_core.web.forms",
    "FormErrors": "carnet_core.web.forms",
    "form_page": "carnet_core.web.forms",
    "errors_of": "carnet_core.web.forms",
    "text": "carnet_core.web.forms",
    "flag": "carnet_core.web.forms",
    "integer": "carnet_core.web.forms",
    "day": "carnet_core.web.forms",
    "clock": "carnet_core.web.forms",
}

# Names that are whole modules (used as `links.issue(...)`).
_MODULES = frozenset({"links"})

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module_name = _NAMES.get(name)
    if module_name is None:
        raise AttributeError(
            f"carnet_core.plugin_api has no '{name}'; the stable names are listed in docs/PLUGINS.md "
            "(anything else in carnet_core is internal)"
        )
    module = importlib.import_module(module_name)
    value = module if name in _MODULES else getattr(module, name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and editors: the same names, eagerly
    pass
