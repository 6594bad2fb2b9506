"""Réglages: one page listing every settings page the member may open, grouped by theme.

Core and each module the clinic enabled contribute their settings pages through the
`settings_items(clinic, user)` hook (`SettingsItem`); `contributed` keeps the entries the member's
permissions open and fails the page on an undeclared permission or an unknown theme."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from carnet_core.contrib import AUTHENTICATED, SETTINGS_THEMES, SettingsItem
from carnet_core.i18n import N_
from carnet_core.web.render import contributed, page, translate

# The heading of each theme, in SETTINGS_THEMES's order.
THEME_HEADINGS: dict[str, str] = {
    "practice": N_("Practice"),
    "team": N_("Team"),
    "patients": N_("Patients and consent"),
    "agenda": N_("Agenda and reminders"),
    "billing": N_("Billing"),
    "messages": N_("Messaging"),
    "account": N_("My account"),
    "other": N_("Other settings"),
}


def settings_groups(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """[{"theme", "heading", "items"}] in the themes' order, only themes with an entry this member
    may open; entries by their order, then label."""
    from carnet_core.web.guards import principal_of

    principal = principal_of(request)
    items: list[SettingsItem] = contributed(request, "settings_items", "settings item",
                                            clinic=principal.clinic, user=principal)
    groups = []
    for theme in SETTINGS_THEMES:
        mine = sorted((i for i in items if i.theme == theme), key=lambda i: (i.order, i.label))
        if mine:
            groups.append({"theme": theme, "heading": translate(request, THEME_HEADINGS[theme]), "items": mine})
    return groups


@get("/settings", name="core.settings", opt={"permission": AUTHENTICATED}, sync_to_thread=True)
def settings_index(request: Request[Any, Any, Any]) -> Template:
    return page(request, "core/settings.html", {"groups": settings_groups(request)})
