"""Issue 13, "SMS: when no SMS transport is configured, the reminder settings say so plainly and
the rules show 'SMS non configuré' instead of 'active'": the reminder settings page with and
without an SMS provider plugin (a `send_sms` implementation)."""

from __future__ import annotations

import re

import pytest

from carnet_core.plugin_api import hookimpl, sms_transport
from carnet_scheduling.services import reminders

PAGE = "/scheduling/setup/reminders"


class Gateway:
    """A stand-in SMS provider plugin (records what it is given, sends nothing)."""

    CARNET_CORE_REQUIRES = ">=0.1,<1"

    @hookimpl
    def send_sms(self, to, body, settings):
        return "gw-1"


@pytest.fixture
def inline_plugins(inline_plugins, request):
    if getattr(request, "param", None) == "gateway":
        inline_plugins.add("gateway", Gateway())
    return inline_plugins


def _states(page: str) -> dict[str, str]:
    """Channel and delay of each rule -> the state badge shown."""
    rows = re.findall(
        r"<tr>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td><span class=\"badge [a-z]+\">([^<]+)</span>", page
    )
    return {f"{channel} {when}": state for channel, when, state in rows}


@pytest.mark.parametrize("inline_plugins", ["none"], indirect=True)
def test_without_an_sms_provider_the_page_says_sms_reminders_do_not_leave(
    inline_plugins, world, scoped, client, login_as, staff, plugin_host
):
    assert sms_transport(plugin_host) is None
    with scoped() as db:
        reminders.ensure_default_rules(db)
    login_as(client, staff("owner,practitioner", clinic=world.clinic))
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "Aucun fournisseur SMS n’est configuré." in page.text and "ne partent pas" in page.text
    assert _states(page.text) == {
        "E-mail 7 jours avant": "active",
        "E-mail 1 jour avant": "active",
        "SMS 2 jours avant": "SMS non configuré",
    }


@pytest.mark.parametrize("inline_plugins", ["gateway"], indirect=True)
def test_with_an_sms_provider_sms_rules_are_active(inline_plugins, world, scoped, client, login_as, staff, plugin_host):
    assert sms_transport(plugin_host) == "gateway"
    with scoped() as db:
        reminders.ensure_default_rules(db)
    login_as(client, staff("owner,practitioner", clinic=world.clinic))
    page = client.get(PAGE)
    assert page.status_code == 200 and "Aucun fournisseur SMS" not in page.text
    assert _states(page.text)["SMS 2 jours avant"] == "active"
