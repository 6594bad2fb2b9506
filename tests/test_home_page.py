"""The home page is today's work (issue 13): a panel per module the clinic enabled (the
`home_panels` hook), core's patient search and the shortcuts; a clinic without any module still
gets a useful page, and a visitor the presentation."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from example_plugin import plugin as example

from carnet_core.plugin_api import Panel, Permission, hookimpl


def panel_titles(html: str) -> list[str]:
    return re.findall(r'<h2 id="home-panel-\d+">([^<]+)</h2>', html)


def shortcuts(html: str) -> list[str]:
    block = html.split('<nav class="home-links"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'<a href="([^"]+)">', block)


class Misspelt:
    """A module whose home panel names a permission nobody declares."""

    CARNET_CORE_REQUIRES = ">=0.1,<1"

    @hookimpl
    def register_permissions(self) -> list[Permission]:
        return [Permission("bilans.view", "Voir les bilans", roles=("owner", "practitioner"))]

    @hookimpl
    def home_panels(self, clinic: Any, user: Any, db: Any) -> list[Panel]:
        return [Panel("Bilans à rédiger", "core/_home_patients.html", permission="bilans.veiw")]


@pytest.fixture
def inline_plugins(inline_plugins, request):
    inline_plugins.add("example", example)
    example.SEEN["home"].clear()
    if getattr(request, "param", None) == "misspelt":
        inline_plugins.add("bilans", Misspelt())
    return inline_plugins


def test_hook_home_panels_a_module_panel_for_holders_of_its_permission_in_clinics_that_enabled_it(
        inline_plugins, client, make_clinic, staff, login_as):
    avec = make_clinic("avec-exemple", plugins=["example"])
    practitioner = staff("practitioner", clinic=avec)
    login_as(client, practitioner)
    html = client.get("/").text
    # by order: the module's panel (5) before core's patient search (90); its context reaches its template
    assert panel_titles(html) == ["Example today", "Trouver un patient"]
    assert '<p class="example-panel">3 reports to write</p>' in html
    assert example.SEEN["home"] == [("avec-exemple", practitioner.id)]
    client.post("/logout")
    login_as(client, staff("secretary", clinic=avec))  # lacks example.view
    assert "Example today" not in client.get("/").text
    client.post("/logout")
    sans = make_clinic("sans-exemple", plugins=[])
    login_as(client, staff("owner", clinic=sans))
    example.SEEN["home"].clear()
    assert "Example today" not in client.get("/").text and example.SEEN["home"] == []


@pytest.mark.parametrize("inline_plugins", ["misspelt"], indirect=True)
def test_a_home_panel_with_an_undeclared_permission_fails_the_page_naming_the_fix(
        inline_plugins, client, clinic, staff, login_as, caplog):
    login_as(client, staff("owner"))
    caplog.set_level(logging.ERROR)
    assert client.get("/").status_code == 500
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    message = str(errors[-1].exc_info[1])
    assert "home panel 'Bilans à rédiger' of plugin 'bilans'" in message and "'bilans.veiw'" in message


def test_a_clinic_without_modules_gets_the_patient_search_and_its_shortcuts(client, make_clinic, staff, login_as):
    bare = make_clinic("sans-modules", plugins=[])
    login_as(client, staff("secretary", clinic=bare, name="Sonia Secrétaire"))
    response = client.get("/")
    html = response.text
    assert response.status_code == 200
    assert "Bonjour, Sonia Secrétaire" in html
    assert panel_titles(html) == ["Trouver un patient"]
    assert 'hx-post="/patients/search"' in html and '<label for="home-q">' in html
    assert 'href="/patients/new"' in html
    assert shortcuts(html) == ["/patients", "/settings"]
    assert 'class="cards"' not in html  # no longer a grid of tiles


def test_a_visitor_gets_the_presentation_and_no_panel(client):
    html = client.get("/").text
    assert 'class="hero"' in html and 'href="/login"' in html
    assert "home-panel" not in html
