"""The `settings_items` hook (issue 13, Réglages): a plugin's entry shows under its theme for the
holders of its permission in clinics that enabled it; an undeclared permission or an unknown theme
fails the page naming the fix."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from litestar import get

from carnet_core.plugin_api import Permission, SettingsItem, hookimpl


class Bilans:
    CARNET_CORE_REQUIRES = ">=0.1,<1"

    def __init__(self, permission: str = "bilans.configure", theme: str = "other") -> None:
        self.permission, self.theme = permission, theme

    @hookimpl
    def register_permissions(self) -> list[Permission]:
        return [Permission("bilans.configure", "Régler les bilans", roles=("owner", "practitioner"))]

    @hookimpl
    def register_routes(self) -> list[Any]:
        @get("/setup", opt={"permission": "bilans.configure"}, sync_to_thread=True)
        def setup() -> dict[str, str]:
            return {"bilans": "ok"}

        return [setup]

    @hookimpl
    def settings_items(self, clinic: Any, user: Any) -> list[SettingsItem]:
        return [SettingsItem("Bilans", "/bilans/setup", "Les modèles de bilan du cabinet.",
                             permission=self.permission, theme=self.theme)]


@pytest.fixture
def inline_plugins(inline_plugins, request):
    inline_plugins.add("bilans", Bilans(**getattr(request, "param", {})))
    return inline_plugins


def test_hook_settings_items_a_plugin_entry_under_its_theme_for_holders_of_its_permission(
        inline_plugins, client, make_clinic, staff, login_as):
    avec = make_clinic("avec-bilans", plugins=["bilans"])
    login_as(client, staff("practitioner", clinic=avec))
    html = client.get("/settings").text
    assert "Autres réglages" in html and '<a href="/bilans/setup">Bilans</a>' in html
    assert "Les modèles de bilan du cabinet." in html
    client.post("/logout")
    login_as(client, staff("secretary", clinic=avec))  # lacks bilans.configure
    assert "/bilans/setup" not in client.get("/settings").text
    client.post("/logout")
    sans = make_clinic("sans-bilans", plugins=[])
    login_as(client, staff("owner", clinic=sans))
    assert "/bilans/setup" not in client.get("/settings").text


def _error_logged(caplog: pytest.LogCaptureFixture) -> str:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert errors, "the page failed without logging why"
    return str(errors[-1].exc_info[1])


@pytest.mark.parametrize("inline_plugins", [{"permission": "bilans.configur"}], indirect=True)
def test_an_entry_with_an_undeclared_permission_fails_the_page_naming_the_fix(
        inline_plugins, client, clinic, staff, login_as, caplog):
    login_as(client, staff("owner"))
    assert client.get("/").status_code == 200  # only the Réglages page shows the entry
    caplog.set_level(logging.ERROR)
    assert client.get("/settings").status_code == 500
    message = _error_logged(caplog)
    assert "settings item 'Bilans' of plugin 'bilans'" in message
    assert "'bilans.configur'" in message and "register_permissions" in message


@pytest.mark.parametrize("inline_plugins", [{"theme": "bilans"}], indirect=True)
def test_an_entry_under_an_unknown_theme_fails_the_page_naming_the_themes(
        inline_plugins, client, clinic, staff, login_as, caplog):
    login_as(client, staff("owner"))
    caplog.set_level(logging.ERROR)
    assert client.get("/settings").status_code == 500
    message = _error_logged(caplog)
    assert "settings item 'Bilans' of plugin 'bilans' names the theme 'bilans'" in message
    assert "practice, team, patients, agenda, billing, messages, account, other" in message
