"""Value types that plugins return from hooks; core wires them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

PUBLIC = "public"  # permission for routes reachable without login (patient links, booking)
AUTHENTICATED = "authenticated"  # any logged-in staff member of the clinic
ROLES = ("owner", "practitioner", "secretary")  # a member's roles in a clinic; the only role names


class UnknownRole(ValueError):
    """A role name that is not one of ROLES (a typo would otherwise silently match nobody)."""


def unknown_role(role: object) -> UnknownRole:
    return UnknownRole(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")


class Roles(frozenset[str]):
    """A principal's roles. Asking for a role that does not exist (`"praticien" in roles`) raises
    UnknownRole instead of answering False for everyone."""

    def __contains__(self, role: object) -> bool:
        if role not in ROLES:
            raise unknown_role(role)
        return frozenset.__contains__(self, role)


@dataclass(frozen=True)
class Permission:
    """A permission a plugin declares, with the roles that hold it by default."""

    name: str  # "<plugin>.<verb>", e.g. "scheduling.view"
    label: str
    roles: tuple[str, ...] = ("owner",)


@dataclass(frozen=True)
class NavItem:
    """An entry in the main navigation."""

    label: str
    href: str
    permission: str = AUTHENTICATED
    order: int = 100
    icon: str | None = None


@dataclass(frozen=True)
class Panel:
    """A block shown on the patient page or the home page; `template` is rendered with `context`.

    `fill`, when given, computes the rest of the context (its queries, its audited reads) and is
    called by core only for a member who holds `permission`: a plugin returns its panel without
    checking the permission itself, and does no work for a member who will not see it."""

    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 100
    permission: str = AUTHENTICATED
    fill: Callable[[], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Count:
    """One line of a count panel (`count_panel`): a number with its noun ("3 notes impayées"),
    or a sentence when it is zero ("Aucune note impayée."). `noun` is `Nn_("unpaid note",
    "unpaid notes")` and `none` an `N_` msgid, both of the plugin's catalog; `value` is called
    only for a member who may see the panel."""

    value: Callable[[], int]
    noun: tuple[str, str]
    none: str
    href: str | None = None  # where the number leads (a list of those items)


@dataclass(frozen=True)
class Link:
    """A link under a panel: a msgid of the plugin's catalog and an address."""

    label: str
    href: str


COUNT_PANEL_TEMPLATE = "core/_count_panel.html"


def count_panel(title: str, counts: list[Count], links: list[Link] | None = None, *, permission: str,
                order: int = 100) -> Panel:
    """The common home panel of a module: a few counts (a number and what it counts) and the
    links to the module's pages. Core counts and translates in the plugin's catalog once it knows
    the member may see the panel; the numbers, never a name or an amount."""
    return Panel(title, COUNT_PANEL_TEMPLATE, {"counts": tuple(counts), "links": tuple(links or ())},
                 order=order, permission=permission)


# The themes of the Réglages page (`/settings`), in the order it shows them: what a `SettingsItem`
# names as its `theme` (core gives each its heading).
SETTINGS_THEMES = ("practice", "team", "patients", "agenda", "billing", "messages", "account", "other")


@dataclass(frozen=True)
class SettingsItem:
    """An entry of the Réglages page: a settings page of the plugin, under one of
    SETTINGS_THEMES, with a one-line description (both msgids, translated where shown)."""

    label: str
    href: str
    description: str
    permission: str = AUTHENTICATED
    theme: str = "other"
    order: int = 100


@dataclass(frozen=True)
class ActorSpec:
    """A job function that core declares as the Dramatiq actor `<plugin>.<name>`."""

    name: str
    fn: Callable[..., Any]
    max_retries: int = 5
    max_age_ms: int | None = None
    time_limit_ms: int = 5 * 60 * 1000
    queue: str | None = None  # defaults to the plugin name


@dataclass(frozen=True)
class Schedule:
    """Periodic work. `per_clinic` enqueues once per clinic that enabled the plugin,
    with the clinic id as the actor's first argument."""

    name: str
    actor: str  # full actor name, "<plugin>.<name>"
    every: timedelta
    per_clinic: bool = True
    kwargs: dict[str, Any] = field(default_factory=dict)
