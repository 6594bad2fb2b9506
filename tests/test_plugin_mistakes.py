"""Mistakes a plugin author makes fail at start or at the call, with a message that names the fix.

Each used to be silent: a navigation entry or a panel that nobody ever sees, a permission granted
to a role that does not exist, a job enqueued for an actor that no plugin declares (the outbox row
waits for a worker that will never run it), a test plugin registered once the app was built (its
routes answer 404). The schema mistakes are covered in `tests/test_schema_contract.py`: a sealed
column on a table that is not clinic-owned, a plugin table without the `<plugin>_` prefix, a
model that no longer matches its migrations (`carnet init` exits 1).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import get

from carnet_core.plugin_api import ActorSpec, NavItem, Panel, Permission, Principal, hookimpl
from carnet_core.plugins import PluginError


def _done(patient_id: int) -> None:
    return None


class Mistaken:
    """A plugin with one mistake, chosen per test: `Mistaken(nav="...")`, `Mistaken(roles=...)`."""

    CARNET_CORE_REQUIRES = ">=0.1,<1"

    def __init__(self, nav: str = "bilans.view", panel: str = "bilans.view",
                 roles: tuple[str, ...] = ("owner", "practitioner")) -> None:
        self.nav, self.panel, self.roles = nav, panel, roles

    @hookimpl
    def register_permissions(self) -> list[Permission]:
        return [Permission("bilans.view", "Voir les bilans", roles=self.roles)]

    @hookimpl
    def register_routes(self) -> list[Any]:
        @get("/", opt={"permission": "bilans.view"}, sync_to_thread=True)
        def index() -> dict[str, str]:
            return {"bilans": "ok"}

        return [index]

    @hookimpl
    def register_actors(self) -> list[ActorSpec]:
        return [ActorSpec("compute", _done)]

    @hookimpl
    def navigation_items(self, clinic: Any, user: Any) -> list[NavItem]:
        return [NavItem("Bilans", "/bilans", permission=self.nav)]

    @hookimpl
    def patient_panels(self, clinic: Any, patient: Any, user: Any, db: Any) -> list[Panel]:
        return [Panel("Bilans", "core/error.html", {"status": 200, "detail": None}, permission=self.panel)]


def _error_logged(caplog: pytest.LogCaptureFixture) -> str:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert errors, "the page failed without logging why"
    return str(errors[-1].exc_info[1])


# --- 1. a navigation entry or a patient panel with a permission that no plugin declares ----------

def _enable(carnet_db, clinic, plugin: str) -> None:
    from carnet_core.clinics.services import set_plugin_enabled

    with carnet_db.session(unscoped=True) as db:
        set_plugin_enabled(db, clinic.id, plugin, True, [plugin])


def test_a_nav_item_with_an_undeclared_permission_fails_the_page_naming_the_fix(
        inline_plugins, client, make_clinic, carnet_db, staff, login_as, caplog):
    # Logged in first (every page carries the navigation), then the clinic enables the module.
    clinic = make_clinic("cabinet-bilans", plugins=[])
    login_as(client, staff("owner", clinic=clinic))
    _enable(carnet_db, clinic, "bilans")
    caplog.set_level(logging.ERROR)
    response = client.get("/")
    assert response.status_code == 500
    message = _error_logged(caplog)
    assert "navigation item 'Bilans' of plugin 'bilans'" in message
    assert "'bilans.veiw'" in message and "register_permissions" in message


@pytest.fixture
def inline_plugins(inline_plugins, request):
    """The test's `Mistaken` plugin, registered before the host is built (default: a misspelt nav
    permission; parametrize indirectly for another mistake)."""
    inline_plugins.add("bilans", Mistaken(**getattr(request, "param", {"nav": "bilans.veiw"})))
    return inline_plugins


@pytest.mark.parametrize("inline_plugins", [{"panel": "bilans.clinical"}], indirect=True)
def test_a_patient_panel_with_an_undeclared_permission_fails_the_page_naming_the_fix(
        inline_plugins, client, clinic, staff, login_as, carnet_db, caplog):
    from carnet_core.patients.services import create_patient

    owner = staff("owner")
    login_as(client, owner)
    principal = Principal(kind="user", user_id=owner.id, clinic_id=clinic.id, roles=frozenset({"owner"}),
                          permissions=frozenset({"core.patients.view", "core.patients.edit"}))
    with carnet_db.session(clinic_id=clinic.id) as db:
        patient_id = create_patient(db, principal, {"last_name": "Durand", "first_name": "Léa"}).id
    caplog.set_level(logging.ERROR)
    assert client.get("/").status_code == 200  # the nav item itself is fine
    response = client.get(f"/patients/{patient_id}")
    assert response.status_code == 500
    message = _error_logged(caplog)
    assert "patient panel 'Bilans' of plugin 'bilans'" in message
    assert "'bilans.clinical'" in message and "register_permissions" in message


@pytest.mark.parametrize("inline_plugins", [{"nav": "bilans.view"}], indirect=True)
def test_declared_permissions_and_the_pseudo_permissions_are_fine(inline_plugins, client, clinic, staff, login_as):
    login_as(client, staff("owner"))
    response = client.get("/")
    assert response.status_code == 200
    assert 'href="/bilans"' in response.text


# --- 2. a role that does not exist -------------------------------------------------------------

@pytest.mark.parametrize("inline_plugins", [{"nav": "bilans.view", "roles": ("owner", "practicien")}], indirect=True)
def test_a_permission_granted_to_an_unknown_role_fails_at_start(inline_plugins, carnet_settings, plugin_host, carnet_db):
    from carnet_core.web.app import StartupError, create_app

    with pytest.raises(StartupError) as failure:
        create_app(carnet_settings, host=plugin_host, db=carnet_db)
    message = str(failure.value)
    assert "'bilans.view'" in message and "'practicien'" in message
    assert "owner, practitioner, secretary" in message


def test_asking_a_principal_for_an_unknown_role_fails_at_the_call() -> None:
    principal = Principal(kind="user", user_id=1, roles=frozenset({"practitioner"}))
    assert "practitioner" in principal.roles
    assert "owner" not in principal.roles
    with pytest.raises(ValueError, match=r"'praticien'.*owner, practitioner, secretary"):
        "praticien" in principal.roles  # noqa: B015


# --- 3. enqueueing an actor that no installed plugin declares -----------------------------------

@pytest.mark.parametrize("inline_plugins", [{"nav": "bilans.view"}], indirect=True)
def test_enqueueing_an_undeclared_actor_fails_at_the_call(inline_plugins, carnet_db, clinic):
    from carnet_core.jobs import JobsError, enqueue
    from carnet_core.jobs.models import OutboxMessage

    with carnet_db.session(clinic_id=clinic.id) as db:
        enqueue(db, "bilans.compute", 1)  # declared: fine
    with pytest.raises(JobsError) as failure:
        with carnet_db.session(clinic_id=clinic.id) as db:
            enqueue(db, "bilans.compute_scores", 1)
    message = str(failure.value)
    assert "'bilans.compute_scores'" in message
    assert "register_actors" in message and "bilans.compute" in message
    with carnet_db.session(unscoped=True) as db:
        assert db.scalars(sa.select(OutboxMessage.actor)).all() == ["bilans.compute"]


# --- 4. a test plugin registered after the host was built ---------------------------------------

def test_registering_a_test_plugin_after_the_host_was_built_fails_naming_the_fix(client, inline_plugins):
    # `client` built the host and the app from the plugins registered so far: this one would
    # never be mounted, and its routes would answer 404.
    with pytest.raises(PluginError) as failure:
        inline_plugins.add("late", Mistaken())
    message = str(failure.value)
    assert "'late'" in message and "already built" in message
    assert "fixture" in message
    assert client.get("/late/").status_code == 404 and "late" not in client.app.state["carnet"].host.plugins
