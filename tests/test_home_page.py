"""The home page is today's work (issue 13): a panel per module the clinic enabled (the
`home_panels` hook), core's patient search and the shortcuts; a clinic without any module still
gets a useful page, and a visitor the presentation."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from example_plugin import plugin as example

from carnet_core.plugin_api import N_, Count, Link, Nn_, Panel, Permission, count_panel, hookimpl


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


class Counting:
    """A module with core's count panel and a panel filled lazily, for practitioners only;
    `work` records what they computed."""

    CARNET_CORE_REQUIRES = ">=0.1,<1"

    def __init__(self) -> None:
        self.work: list[str] = []

    def _count(self, name: str, n: int) -> int:
        self.work.append(name)
        return n

    @hookimpl
    def register_permissions(self) -> list[Permission]:
        return [Permission("counting.view", "Voir les comptes", roles=("practitioner",))]

    @hookimpl
    def home_panels(self, clinic: Any, user: Any, db: Any) -> list[Panel]:
        counts = [Count(lambda: self._count("reports", 2), Nn_("report to write", "reports to write"),
                        N_("No report to write."), href="/counting/reports"),
                  Count(lambda: self._count("letters", 0), Nn_("letter to send", "letters to send"),
                        N_("No letter to send."))]
        return [count_panel("Counting", counts, [Link("Open the reports", "/counting/")],
                            permission="counting.view", order=6),
                Panel("Filled", "example/_panel.html", permission="counting.view", order=7,
                      fill=lambda: {"note": f"filled {self._count('filled', 1)}"})]


COUNTING = Counting()


@pytest.fixture
def inline_plugins(inline_plugins, request):
    inline_plugins.add("example", example)
    example.SEEN["home"].clear()
    if getattr(request, "param", None) == "misspelt":
        inline_plugins.add("bilans", Misspelt())
    if getattr(request, "param", None) == "counting":
        COUNTING.work.clear()
        inline_plugins.add("counting", COUNTING)
    return inline_plugins


@pytest.mark.parametrize("inline_plugins", ["counting"], indirect=True)
def test_a_count_panel_is_counted_and_a_panel_filled_only_for_members_who_may_see_them(
        inline_plugins, client, make_clinic, staff, login_as):
    clinic = make_clinic("comptes", plugins=["counting"])
    login_as(client, staff("secretary", clinic=clinic))  # lacks counting.view
    html = client.get("/").text
    assert "Counting" not in panel_titles(html) and "Filled" not in panel_titles(html)
    assert COUNTING.work == []  # nothing counted, filled or read for a panel she is not shown
    client.post("/logout")
    login_as(client, staff("practitioner", clinic=clinic))
    html = client.get("/").text
    assert panel_titles(html)[:2] == ["Counting", "Filled"]
    assert '<strong>2</strong> <a href="/counting/reports">reports to write</a>' in html
    assert '<p class="home-count">No letter to send.</p>' in html and '<a href="/counting/">Open the reports</a>' in html
    assert '<p class="example-panel">filled 1</p>' in html
    assert sorted(COUNTING.work) == ["filled", "letters", "reports"]  # each once


# Every in-repo module's home panel: its title and the roles that see it (one row per module).
MODULE_PANELS = [
    ("scheduling", "Rendez-vous du jour", ("owner", "practitioner", "secretary")),
    ("billing", "Facturation", ("owner", "practitioner", "secretary")),
    ("consent", "Consentements", ("owner", "practitioner", "secretary")),
    ("telecare", "Messagerie et télésoin", ("owner", "practitioner", "secretary")),
]


@pytest.mark.parametrize(("module", "title", "roles"), MODULE_PANELS, ids=[row[0] for row in MODULE_PANELS])
def test_each_module_shows_its_home_panel_to_its_roles_and_only_where_enabled(
        module, title, roles, client, make_clinic, staff, login_as):
    avec = make_clinic(f"avec-{module}", plugins=[module])
    for role in ("owner", "practitioner", "secretary"):
        login_as(client, staff(role, clinic=avec))
        assert (title in panel_titles(client.get("/").text)) == (role in roles), role
        client.post("/logout")
    login_as(client, staff("owner", clinic=make_clinic(f"sans-{module}", plugins=[])))
    assert title not in panel_titles(client.get("/").text)


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
