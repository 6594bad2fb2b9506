"""Rendering helpers for controllers: full page or htmx partial, with the shell's context."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from litestar import Request
from litestar.enums import MediaType
from litestar.response import Template
from markupsafe import Markup

from carnet_core.contrib import AUTHENTICATED, COUNT_PANEL_TEMPLATE, PUBLIC, SETTINGS_THEMES, NavItem
from carnet_core.i18n import domain_of_module, negotiate
from carnet_core.plugins import PluginError
from carnet_core.sms import sms_transport
from carnet_core.web.guards import principal_of
from carnet_core.web.state import carnet_state

LANG_COOKIE = "carnet_lang"


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def locale_of(request: Request[Any, Any, Any]) -> str:
    state = carnet_state(request)
    return negotiate(
        request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE), state.settings.locale
    )


def translate(request: Request[Any, Any, Any], message: str, **variables: Any) -> str:
    """Translate a message from Python code (flash messages, errors) for this request."""
    state = carnet_state(request)
    handler = request.scope.get("route_handler")
    module = getattr(getattr(handler, "fn", None), "__module__", None)
    return state.extras["catalogs"].gettext(locale_of(request), message, domain_of_module(module), **variables)


def translate_plural(request: Request[Any, Any, Any], singular: str, plural: str, n: int, **variables: Any) -> str:
    """The singular or plural form for `n` (the language's own rule), translated for this request
    like `translate`; `%(num)s` in either form is `n`. For counts written from Python code ("1 jour
    avant", "2 jours avant"); templates use `ngettext`."""
    state = carnet_state(request)
    handler = request.scope.get("route_handler")
    module = getattr(getattr(handler, "fn", None), "__module__", None)
    return state.extras["catalogs"].ngettext(locale_of(request), singular, plural, n, domain_of_module(module),
                                             **variables)


def navigation(request: Request[Any, Any, Any]) -> list[NavItem]:
    principal = principal_of(request)
    if not principal.is_authenticated:
        return []
    items: list[NavItem] = contributed(
        request, "navigation_items", "navigation item", clinic=principal.clinic, user=principal,
    )
    return sorted(items, key=lambda i: (i.order, i.label))


def contributed(request: Request[Any, Any, Any], hook: str, kind: str, **kwargs: Any) -> list[Any]:
    """What the clinic's plugins return from `hook` (navigation items, patient and home panels,
    settings items), keeping the items the principal may see. An item whose permission no plugin declares
    would be hidden from everyone without a word: the page fails instead, naming the plugin and the
    fix; so does a settings item under a theme the Réglages page does not have."""
    state = carnet_state(request)
    principal = principal_of(request)
    seen: list[Any] = []
    for plugin, group in state.host.call_each(hook, only=set(principal.enabled_plugins), **kwargs):
        for item in group or []:
            permission = item.permission
            if permission not in (PUBLIC, AUTHENTICATED) and permission not in state.permissions:
                raise PluginError(
                    f"{kind} {getattr(item, 'label', None) or item.title!r} of plugin '{plugin}' needs "
                    f"permission '{permission}', which no plugin declares; declare it in the plugin's "
                    f"register_permissions (named '{plugin}.<verb>') or use a declared one "
                    f"('{AUTHENTICATED}' for every member)"
                )
            theme = getattr(item, "theme", None)
            if theme is not None and theme not in SETTINGS_THEMES:
                raise PluginError(
                    f"{kind} {item.label!r} of plugin '{plugin}' names the theme {theme!r}; "
                    f"the themes are {', '.join(SETTINGS_THEMES)} ('other' for anything else)"
                )
            if principal.can(permission):
                seen.append(_in_words_of(request, plugin, _filled(item)))
    return seen


def _filled(item: Any) -> Any:
    """A panel with its lazy part computed (`Panel.fill`, a count panel's values): only now that
    the member is known to see it, so nobody pays (or is traced) for a panel they are not shown."""
    counted = getattr(item, "template", None) == COUNT_PANEL_TEMPLATE
    fill = getattr(item, "fill", None)
    if fill is None and not counted:
        return item
    context = {**item.context, **(fill() if fill is not None else {})}
    if counted:
        context["values"] = [c.value() for c in context["counts"]]
    return replace(item, context=context, fill=None)


def rendered_panels(request: Request[Any, Any, Any], panels: list[Any]) -> list[dict[str, Any]]:
    """Panels (patient page, home page) by order then title, each template rendered with the page's
    context, the panel's own `context` spread out (`{{ note }}`) and the panel itself
    (`{{ panel.context.note }}`): [{"title", "html"}]."""
    env = carnet_state(request).templates
    base = base_context(request)
    rendered = []
    for p in sorted(panels, key=lambda p: (p.order, p.title)):
        html = env.get_template(p.template).render({**base, **p.context, "panel": p})
        # the output of an autoescaping template: its values are escaped already
        rendered.append({"title": p.title, "html": Markup(html)})  # noqa: S704
    return rendered


def _in_words_of(request: Request[Any, Any, Any], plugin: str, item: Any) -> Any:
    """The item with its label (or title) and description translated in the gettext domain of the
    plugin that gave it: a nav label is the same word on every page, whichever plugin's template
    draws the shell."""
    catalogs = carnet_state(request).extras["catalogs"]
    locale = locale_of(request)
    words: dict[str, Any] = {field: catalogs.gettext(locale, getattr(item, field), plugin)
                             for field in ("label", "title", "description") if getattr(item, field, None)}
    if getattr(item, "template", None) == COUNT_PANEL_TEMPLATE:
        context = item.context
        lines = [{"count": n, "href": c.href,
                  "text": catalogs.ngettext(locale, *c.noun, n, plugin) if n
                  else catalogs.gettext(locale, c.none, plugin)}
                 for c, n in zip(context["counts"], context["values"], strict=True)]
        links = [{"label": catalogs.gettext(locale, link.label, plugin), "href": link.href}
                 for link in context["links"]]
        words["context"] = {**context, "lines": lines, "links": links}
    return replace(item, **words)


def base_context(request: Request[Any, Any, Any]) -> dict[str, Any]:
    state = carnet_state(request)
    principal = principal_of(request)
    context: dict[str, Any] = {
        "principal": principal,
        "clinic": principal.clinic or request.scope.get("state", {}).get("public_clinic"),
        "nav": navigation(request),
        "locale": locale_of(request),
        "current_path": request.url.path,
        # a page for patients (under /p/<clinic>/, reached through their links): no staff login in the shell
        "patient_side": "public_clinic" in request.scope.get("state", {}),
        "csrf_token": request.scope.get("_csrf_token", ""),
        "core_version": state.host.plugins["core"].version,
        # whether an SMS really leaves (a provider plugin implements `send_sms`): every page that
        # would announce an SMS says only what will be sent (otherwise it is only written to a folder)
        "sms_ready": sms_transport(state.host) is not None,
    }
    hooks = state.host.for_clinic(principal.enabled_plugins)
    for extra in hooks.template_context(request=request):
        if extra:
            context.update(extra)
    return context


def page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any] | None = None,
    *,
    partial: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    keep: bool = False,
) -> Template:
    """The full page, or `partial` alone when htmx asks (HX-Request).

    Always `text/html`, whatever the handler's return annotation (Litestar would otherwise give a
    handler annotated `-> object` or `-> Any` the JSON media type, and the browser would print the
    page's source). A status of 400 or more rolls the request's transaction back, unless `keep`
    (a refusal that must be recorded, such as a patient link's failed attempt)."""
    name = partial if partial and is_htmx(request) else template
    if status_code >= 400 and not keep:
        session = request.scope.get("state", {}).get("db_session")
        if session is not None:
            session.rollback()
    merged = base_context(request)
    merged.update(context or {})
    media_type = MediaType.HTML if name.endswith(".html") else None
    return Template(template_name=name, context=merged, status_code=status_code, headers=headers,
                    media_type=media_type)
