"""Translations: French by default, English available. Catalogs (.po) are compiled in memory
at start from core's and each plugin's `translations/<locale>/LC_MESSAGES/*.po`."""

from __future__ import annotations

import io
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import pass_context

if TYPE_CHECKING:
    from carnet_core.plugins import PluginHost

LOCALES = ("fr", "en")
_MEMO_LIMIT = 20_000  # translations remembered per Catalogs (a bound, should a caller build msgids)
DEFAULT_LOCALE = "fr"
locale_var: ContextVar[str] = ContextVar("carnet_locale", default=DEFAULT_LOCALE)


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown (nav labels, …)."""
    return message


def Nn_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 (named like N_, its plural twin)
    """Mark a message with its plural form for extraction (one entry with both forms, as
    `ngettext` gives); it is translated with the number where it is shown (a count panel's noun)."""
    return singular, plural


class Catalogs:
    """Translations per locale: each plugin's own catalog (its gettext domain, named like the
    plugin; core's is "core"), and all of them merged as the last resort.

    A message is looked up in the domain of the code or template showing it first, then in core's,
    then in the merged catalog: two plugins (or a plugin and core) may translate the same English
    msgid differently ("done": "effectué" on core's pages, "faites" for scheduling's sessions)."""

    def __init__(self, by_locale: dict[str, NullTranslations],
                 domains: dict[str, dict[str, NullTranslations]] | None = None):
        self.by_locale = by_locale
        self.domains = domains or {}
        # (locale, msgid, domain) -> translated text, before any %-formatting: the catalogs do not
        # change once loaded, and a week view looks up ~70 messages through three catalogs each.
        self._found: dict[tuple[str, str, str | None], str] = {}

    def get(self, locale: str) -> NullTranslations:
        return self.by_locale.get(locale) or self.by_locale.get(DEFAULT_LOCALE) or NullTranslations()

    def _chain(self, locale: str, domain: str | None) -> list[NullTranslations]:
        own = self.domains.get(locale, {})
        chain = [own[name] for name in dict.fromkeys((domain, "core")) if name and name in own]
        return [*chain, self.get(locale)]

    def gettext(self, locale: str, message: str, domain: str | None = None, **variables: Any) -> str:
        key = (locale, message, domain)
        text = self._found.get(key)
        if text is None:
            text = message
            for catalog in self._chain(locale, domain):
                if message in getattr(catalog, "_catalog", {}) or catalog is self.get(locale):
                    text = catalog.gettext(message)
                    break
            if len(self._found) < _MEMO_LIMIT:  # msgids are the code's and templates' literals
                self._found[key] = text
        return text % variables if variables else text

    def ngettext(self, locale: str, singular: str, plural: str, n: int, domain: str | None = None,
                 **variables: Any) -> str:
        text = self.get(locale).ngettext(singular, plural, n)
        for catalog in self._chain(locale, domain):
            if (singular, 0) in getattr(catalog, "_catalog", {}):
                text = catalog.ngettext(singular, plural, n)
                break
        variables.setdefault("num", n)
        return text % variables


def domain_of_template(name: str | None) -> str:
    """A template's gettext domain: its folder ("scheduling/agenda.html" -> "scheduling")."""
    return (name or "core").split("/", 1)[0]


def domain_of_module(module: str | None) -> str:
    """A module's gettext domain: "carnet_scheduling.controllers.x" -> "scheduling"."""
    head = (module or "").split(".", 1)[0]
    return head.removeprefix("carnet_") if head.startswith("carnet_") else "core"


def _compile(po_path: Any, locale: str) -> Translations:
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def load_catalogs(host: PluginHost) -> Catalogs:
    by_locale: dict[str, NullTranslations] = {}
    domains: dict[str, dict[str, NullTranslations]] = {}
    for locale in LOCALES:
        merged: Translations | None = None
        for name, info in host.plugins.items():
            folder = info.resource("translations")
            if folder is None:
                continue
            messages = folder / locale / "LC_MESSAGES"
            if not messages.is_dir():
                continue
            for entry in sorted(messages.iterdir(), key=lambda e: e.name):
                if not entry.name.endswith(".po"):
                    continue
                domains.setdefault(locale, {})[name] = _compile(entry, locale)
                compiled = _compile(entry, locale)
                if merged is None:
                    merged = compiled
                else:
                    merged.merge(compiled)
        by_locale[locale] = merged or NullTranslations()
    return Catalogs(by_locale, domains)


def negotiate(accept_language: str | None, cookie: str | None, default: str = DEFAULT_LOCALE) -> str:
    """Cookie choice first, then the browser's languages, else the deployment default."""
    if cookie in LOCALES:
        return cookie  # type: ignore[return-value]
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LOCALES:
            return tag
    return default


def install_jinja(env: Any, catalogs: Catalogs) -> None:
    """Newstyle gettext in templates, reading the locale from the render context and the domain
    from the template's folder (core/…, scheduling/…)."""

    @pass_context
    def _gettext(context: Any, message: str) -> str:
        return catalogs.gettext(context.get("locale", DEFAULT_LOCALE), message, domain_of_template(context.name))

    @pass_context
    def _ngettext(context: Any, singular: str, plural: str, n: int) -> str:
        return catalogs.ngettext(context.get("locale", DEFAULT_LOCALE), singular, plural, n,
                                 domain_of_template(context.name))

    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
