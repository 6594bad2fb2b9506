"""Jinja environment: core templates, then each plugin's templates under its own namespace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jinja2 import (
    BaseLoader,
    Environment,
    StrictUndefined,
    Template,
    TemplateNotFound,
    Undefined,
    pass_context,
    select_autoescape,
)

from carnet_core.encryption.unreadable import Unreadable, page_gettext
from carnet_core.formatting import local_datetime, long_date, long_datetime, phone_display, short_date
from carnet_core.i18n import DEFAULT_LOCALE, Catalogs, install_jinja

if TYPE_CHECKING:
    from carnet_core.plugins import PluginHost


class NamespacedLoader(BaseLoader):
    """`core/x.html` comes from core, `<plugin>/x.html` from that plugin only: no plugin can
    override another's templates by accident."""

    def __init__(self, host: PluginHost):
        self.roots = {}
        for name, info in host.plugins.items():
            folder = info.resource("templates")
            if folder is not None:
                self.roots[name] = folder

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Any]:
        namespace, _, rest = template.partition("/")
        root = self.roots.get(namespace)
        if root is None or not rest or ".." in template.split("/"):
            raise TemplateNotFound(template)
        node = root / namespace
        for part in rest.split("/"):
            node = node / part
        if not node.is_file():
            raise TemplateNotFound(template)
        source = node.read_text(encoding="utf-8")
        filename = str(node)
        return source, filename, lambda: True

    def list_templates(self) -> list[str]:
        return []


def build_environment(host: PluginHost, catalogs: Catalogs, debug: bool = False, html: bool = True) -> Environment:
    """Core's Jinja environment. A damaged sealed value (`Unreadable`) shows as "données illisibles
    (n° 12)" in the page's language wherever a template prints it, in every page of core and
    plugins: HTML pages through the marker's `__html__` and the gettext each render sets (no hook
    per printed value: a week view prints 3,000), plain-text ones (`html=False`) through
    `finalize`."""

    @pass_context
    def finalize(context: Any, value: Any) -> Any:
        if isinstance(value, Unreadable):
            return value.translated(catalogs.get(context.get("locale", DEFAULT_LOCALE)).gettext)
        return value

    class PageTemplate(Template):
        def render(self, *args: Any, **kwargs: Any) -> str:
            values = dict(*args, **kwargs)
            locale = values.get("locale", self.globals.get("locale", DEFAULT_LOCALE))
            token = page_gettext.set(catalogs.get(locale).gettext)
            try:
                return super().render(values)
            finally:
                page_gettext.reset(token)

    env = Environment(
        loader=NamespacedLoader(host),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined if debug else Undefined,
        auto_reload=debug,
        **({} if html else {"finalize": finalize}),
    )
    if html:
        env.template_class = PageTemplate
    install_jinja(env, catalogs)
    env.filters["datetime_local"] = _datetime_local
    env.filters["phone"] = phone_display
    env.filters["short_date"] = short_date
    env.filters["long_date"] = _long_date
    env.filters["long_datetime"] = _long_datetime
    return env


def _clinic_tz(context: Any) -> str | None:
    """The time zone of the page's clinic (the principal's, or a patient page's public clinic)."""
    clinic = context.get("clinic")
    return getattr(clinic, "timezone", None) if clinic else None


@pass_context
def _long_date(context: Any, value: Any, weekday: bool = True, year: bool = True) -> str:
    return long_date(value, context.get("locale", DEFAULT_LOCALE), weekday=weekday, year=year, tz=_clinic_tz(context))


@pass_context
def _long_datetime(context: Any, value: Any, weekday: bool = True, year: bool = True) -> str:
    return long_datetime(value, _clinic_tz(context), context.get("locale", DEFAULT_LOCALE), weekday=weekday,
                         year=year)


@pass_context
def _datetime_local(context: Any, value: Any, tz: Any = None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """A stored moment in `tz`, by default the page's clinic's time zone (Europe/Paris without one)."""
    return local_datetime(value, tz or _clinic_tz(context), fmt)


_MESSAGE_ENV = "_carnet_message_environment"


def message_environment(host: PluginHost) -> Environment:
    """A Jinja environment for plain-text message templates (e-mail and SMS bodies) outside a
    request, e.g. in jobs: same template folders and gettext catalogs as the web, no HTML escaping.
    Built once per plugin host; `env.globals["gettext_catalogs"]` translates from Python."""
    env = getattr(host, _MESSAGE_ENV, None)
    if env is None:
        from carnet_core.i18n import load_catalogs

        catalogs = load_catalogs(host)
        env = build_environment(host, catalogs, html=False)
        env.autoescape = False  # plain-text bodies
        env.globals["gettext_catalogs"] = catalogs
        setattr(host, _MESSAGE_ENV, env)
    return env
