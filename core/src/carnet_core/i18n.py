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
DEFAULT_LOCALE = "fr"
locale_var: ContextVar[str] = ContextVar("carnet_locale", default=DEFAULT_LOCALE)


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown (nav labels, …)."""
    return message


class Catalogs:
    """Merged translations per locale for core and the loaded plugins."""

    def __init__(self, by_locale: dict[str, NullTranslations]):
        self.by_locale = by_locale

    def get(self, locale: str) -> NullTranslations:
        return self.by_locale.get(locale) or self.by_locale.get(DEFAULT_LOCALE) or NullTranslations()

    def gettext(self, locale: str, message: str, **variables: Any) -> str:
        text = self.get(locale).gettext(message)
        return text % variables if variables else text

    def ngettext(self, locale: str, singular: str, plural: str, n: int, **variables: Any) -> str:
        text = self.get(locale).ngettext(singular, plural, n)
        variables.setdefault("num", n)
        return text % variables


def _compile(po_path: Any, locale: str) -> Translations:
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def load_catalogs(host: PluginHost) -> Catalogs:
    by_locale: dict[str, NullTranslations] = {}
    for locale in LOCALES:
        merged: Translations | None = None
        for info in host.plugins.values():
            folder = info.resource("translations")
            if folder is None:
                continue
            messages = folder / locale / "LC_MESSAGES"
            if not messages.is_dir():
                continue
            for entry in sorted(messages.iterdir(), key=lambda e: e.name):
                if not entry.name.endswith(".po"):
                    continue
                compiled = _compile(entry, locale)
                if merged is None:
                    merged = compiled
                else:
                    merged.merge(compiled)
        by_locale[locale] = merged or NullTranslations()
    return Catalogs(by_locale)


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
    """Newstyle gettext in templates, reading the locale from the render context."""

    @pass_context
    def _gettext(context: Any, message: str) -> str:
        return catalogs.get(context.get("locale", DEFAULT_LOCALE)).gettext(message)

    @pass_context
    def _ngettext(context: Any, singular: str, plural: str, n: int) -> str:
        return catalogs.get(context.get("locale", DEFAULT_LOCALE)).ngettext(singular, plural, n)

    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
