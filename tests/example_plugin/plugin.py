"""Wiring of the example plugin: routes, permission, navigation, panel, actor, schedule, observers."""

from datetime import timedelta

from carnet_core import hookimpl
from carnet_core.contrib import PUBLIC, ActorSpec, NavItem, Panel, Permission, Schedule

CARNET_CORE_REQUIRES = ">=0.1,<0.2"
__version__ = "0.3.1"

# What the hooks saw, so tests can assert which clinics' events reached the plugin.
SEEN: dict[str, list] = {
    "toggled": [], "audit": [], "demo": [], "greeted": [], "context": [], "exported": [], "erased": [],
    "verified": [], "clinic_exported": [], "clinic_imported": [], "home": [],
}
# Care the example plugin records, per clinic slug: {patient_id: date} (tests set it).
LAST_CARE: dict[str, dict] = {}


@hookimpl
def register_permissions():
    return [Permission("example.view", "See the example page", roles=("owner", "practitioner"))]


@hookimpl
def register_routes():
    from example_plugin.controllers import index

    return [index]


@hookimpl
def register_api_routes():
    from example_plugin.controllers import api_ping

    return [api_ping]


@hookimpl
def register_public_routes():
    from example_plugin.controllers import public_hello

    return [public_hello]


@hookimpl
def navigation_items(clinic, user):
    return [NavItem(label="Example", href="/example/", permission="example.view", order=50)]


@hookimpl
def patient_panels(clinic, patient, user, db):
    return [Panel(title="Example panel", template="example/_panel.html", context={"note": "from example"})]


@hookimpl
def home_panels(clinic, user, db):
    SEEN["home"].append((clinic.slug, user.user_id))
    return [Panel(title="Example today", template="example/_panel.html", context={"note": "3 reports to write"},
                  permission="example.view", order=5)]


@hookimpl
def export_patient_data(clinic, patient, db):
    SEEN["exported"].append((clinic.slug, patient.id))
    return {"greeting": "bonjour", "patient_id": patient.id}


@hookimpl
def erase_patient_data(clinic, patient, db):
    SEEN["erased"].append((clinic.slug, patient.id))
    LAST_CARE.get(clinic.slug, {}).pop(patient.id, None)


@hookimpl
def verify_clinic_data(clinic, db):
    SEEN["verified"].append(clinic.slug)
    return []


@hookimpl
def export_clinic_data(clinic, db):
    SEEN["clinic_exported"].append(clinic.slug)
    # a third-party plugin's own records (rows of its tables, or anything it keeps elsewhere)
    return iter([("greeting", {"id": 1, "text": "bonjour"}), ("greeting", {"id": 2, "text": "au revoir"})])


@hookimpl
def import_clinic_data(clinic, db, archive):
    # its own part of the archive only: what export_clinic_data wrote, back where it keeps it
    greetings = list(archive.records("greeting"))
    SEEN["clinic_imported"].append((clinic.slug, archive.entities(), greetings))
    return {"greeting": len(greetings)}


@hookimpl
def patient_data_kept(clinic, patient_id, db):
    return None  # keeps nothing after an erasure


@hookimpl
def last_care_dates(clinic, db):
    return dict(LAST_CARE.get(clinic.slug, {})) or None


@hookimpl
def template_context(request):
    SEEN["context"].append(request.scope["state"]["principal"].clinic_id)
    return {"example_banner": "example-context-value"}


@hookimpl
def register_actors():
    from example_plugin.jobs import greet

    return [ActorSpec("greet", greet, max_retries=0)]


@hookimpl
def register_schedules():
    return [Schedule("greet-clinics", actor="example.greet", every=timedelta(minutes=5))]


@hookimpl
def clinic_plugin_toggled(clinic, plugin, enabled):
    SEEN["toggled"].append((clinic.slug, plugin, enabled))


@hookimpl
def audit_event(event):
    SEEN["audit"].append(event)


@hookimpl
def demo_data(clinic, db, context):
    SEEN["demo"].append(clinic.slug)


PUBLIC_PERMISSION = PUBLIC


def install(inline_plugins):
    """Register the example plugin for one test, with a clean record of what its hooks saw."""
    import sys

    inline_plugins.add("example", sys.modules[__name__])
    for seen in SEEN.values():
        seen.clear()
    LAST_CARE.clear()
    return inline_plugins
