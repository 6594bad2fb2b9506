"""Réglages (issue 13): one page listing every settings page a member may open, grouped by theme,
each with its one-line description; core and each enabled module contribute their entries through
the `settings_items` hook."""

from __future__ import annotations

import re
from typing import Any

import pytest

from carnet_core.plugin_api import SETTINGS_THEMES

# What each role finds on the page with every module of this repository enabled.
CORE_OWNER = {"/settings/clinic", "/settings/modules", "/settings/retention", "/settings/export", "/operator", "/settings/users",
              "/settings/patients", "/account"}
SCHEDULING = {"/scheduling/setup", "/scheduling/setup/reminders"}
BILLING_OWNER = {"/billing/profile", "/billing/tariffs", "/billing/followup#schedule-title", "/billing/verify"}
CONSENT = {"/consent/#forms", "/consent/settings"}
TELECARE_OWNER = {"/telecare/settings", "/telecare/hours", "/telecare/templates"}
EXPECTED = {
    "owner": CORE_OWNER | SCHEDULING | BILLING_OWNER | CONSENT | TELECARE_OWNER,
    "practitioner": {"/account", "/billing/profile", "/telecare/hours", "/telecare/templates"},
    "secretary": {"/account", "/telecare/templates"},
}
EVERY = set().union(*EXPECTED.values())


def entries(html: str) -> set[str]:
    """The hrefs of the page's settings entries."""
    lists = re.findall(r'<ul class="settings-list">(.*?)</ul>', html, re.S)
    return {href for block in lists for href in re.findall(r'<a href="([^"]+)"', block)}


def headings(html: str) -> list[str]:
    return re.findall(r'<h2 id="settings-[a-z]+">([^<]+)</h2>', html)


@pytest.fixture
def every_role(client, clinic, staff, login_as):
    """Log in as one role after another on the same client."""
    people = {role: staff(role) for role in EXPECTED}

    def as_(role: str) -> Any:
        client.post("/logout")
        login_as(client, people[role])
        return client

    return as_


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_sees_the_settings_it_may_open_and_each_opens(every_role, role):
    client = every_role(role)
    response = client.get("/settings")
    assert response.status_code == 200
    shown = entries(response.text)
    assert shown == EXPECTED[role]
    for href in shown:  # every entry opens for this role; a settings page links back to Réglages
        page = client.get(href.split("#")[0])
        assert page.status_code == 200, href
        if "#" not in href:
            assert '<nav class="crumbs"' in page.text and 'href="/settings">Réglages</a>' in page.text, href
    for href in EVERY - shown:  # what is not listed, this role may not open (a part of a page aside)
        if "#" not in href:
            assert client.get(href).status_code == 403, href


def test_the_page_is_in_french_grouped_by_theme_with_a_description_per_entry(every_role):
    html = every_role("owner").get("/settings").text
    assert headings(html) == ["Cabinet", "Équipe", "Patients et consentements", "Agenda et rappels", "Facturation",
                              "Messagerie", "Mon compte"]
    assert "<h1>Réglages</h1>" in html
    assert ('<a href="/billing/profile">Profil de facturation</a><span class="muted">Votre nom, numéro RPPS ou '
            "ADELI, SIRET et zone tarifaire, imprimés sur chaque note que vous émettez.</span>") in html
    assert '<a href="/scheduling/setup/reminders">Rappels</a>' in html
    secretary = every_role("secretary").get("/settings").text
    assert headings(secretary) == ["Messagerie", "Mon compte"]


def test_every_member_reaches_reglages_from_the_navigation(every_role):
    for role in EXPECTED:
        html = every_role(role).get("/").text
        assert '<a href="/settings">Réglages</a>' in html, role
        # the clinic's settings pages are no longer entries of the top bar of their own
        nav = html.split('aria-label="Navigation principale"')[1].split("</nav>")[0]
        assert 'href="/settings/users"' not in nav and 'href="/operator"' not in nav
    assert 'aria-current="page">Réglages' in every_role("owner").get("/settings/users").text


def test_a_module_the_clinic_has_not_enabled_lists_nothing(client, make_clinic, staff, login_as):
    bare = make_clinic("sans-modules", plugins=[])
    login_as(client, staff("owner,practitioner", clinic=bare))
    assert entries(client.get("/settings").text) == CORE_OWNER


def test_every_theme_has_a_heading():
    from carnet_core.clinics.settings_index import THEME_HEADINGS

    assert tuple(THEME_HEADINGS) == SETTINGS_THEMES
