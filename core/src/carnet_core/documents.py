"""PDF documents from Jinja templates, for plugins (notes d'honoraires, consent forms…).

    pdf = render_pdf(host, "billing/pdf/note.html", {"note": ...}, title="Note 2026-000001",
                     created=note.issued_at)

A template is an HTML page of the plugin (`<plugin>/…`, with its own `<style>`: no file is fetched
from the network, and `base_url` is the plugin's templates folder only when given), translated with
the same catalogs as the web (`locale` in the render context). WeasyPrint lays it out and writes a
PDF/A (`pdf/a-3b` by default: the archival variant that may carry attached files, as Factur-X
needs). Rendering is CPU work of tens of milliseconds to seconds: call it from a job (an actor),
never while answering a request.

Determinism: with the same template, context and `created` moment the bytes are identical (the
document's dates come from `created`, never from the clock), so a document can be re-rendered
from sealed data and compared with a stored SHA-256.

Fonts and style: WeasyPrint's `FontConfiguration` (Pango's font map) and the template's parsed
`<style>` blocks are kept between documents in a rendering kit (`_Kit`), so the system fonts are
loaded and shaped once instead of once per document (about a fifth of a one-page note's rendering
time) and the style parsed once (about a tenth). A render takes the kit returned last (the warmest)
and gives it back when its bytes are written: one kit per render running at the same time (Pango's
font map is used by one thread at a time, never concurrently), shared by the worker's threads
instead of one per thread (eight threads each warming their own made the first documents after a
start cost as much again). A document with its own `@font-face` rules gets a fresh font map, so web
fonts never accumulate in a shared one. The bytes are the same either way (tested).

WeasyPrint is imported when the first document is rendered, not when the app starts: a machine
without Pango (`apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core` on Debian) runs
every page, and only rendering raises `PdfUnavailable`, which names the fix.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

    from carnet_core.plugins import PluginHost

DEFAULT_VARIANT = "pdf/a-3b"
VARIANTS = frozenset({"pdf/a-1b", "pdf/a-2b", "pdf/a-3b", "pdf/a-3u", "pdf/ua-1"})
_PDF_ENV = "_carnet_pdf_environment"
FIX = "install Pango (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)"


class PdfUnavailable(RuntimeError):
    """WeasyPrint or the system libraries it needs (Pango) are missing on this machine."""


@dataclass(frozen=True)
class PdfAttachment:
    """A file embedded in the PDF (PDF/A-3 allows it): e.g. an invoice's XML."""

    name: str
    data: bytes
    description: str = ""
    relationship: str = "Data"  # PDF/A-3 AFRelationship: Data, Source, Alternative, Supplement


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Python package is there, Pango is not
        raise PdfUnavailable(f"PDF rendering needs WeasyPrint and Pango: {FIX} ({exc})") from exc
    # its step-by-step progress is not for the process's log (warnings still are)
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    return weasyprint


@dataclass
class _Kit:
    """What rendering keeps between documents: one font map, the style sheets parsed with it."""

    fonts: Any
    sheets: dict[str, Any]


_KITS_KEPT = 8  # idle kits kept: as many as renders running at once (the worker's threads)
_idle_kits: list[_Kit] = []
_kits_lock = threading.Lock()


@contextmanager
def _kit(html: str) -> Iterator[_Kit]:
    """The kit for rendering `html`: the one given back last when there is one idle (serial renders,
    on whichever thread, reuse one warm font map), a new one otherwise; a fresh, unkept one for a
    document declaring its own `@font-face` fonts."""
    from weasyprint.text.fonts import FontConfiguration

    if "@font-face" in html:
        yield _Kit(FontConfiguration(), {})
        return
    with _kits_lock:
        kit = _idle_kits.pop() if _idle_kits else None
    if kit is None:
        kit = _Kit(FontConfiguration(), {})
    try:
        yield kit
    finally:
        with _kits_lock:
            if len(_idle_kits) < _KITS_KEPT:
                _idle_kits.append(kit)


# a template's own style blocks (`<style>` without attributes, as core/base_document.html writes them)
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
_SHEETS_KEPT = 32


def _stylesheets(weasyprint: Any, html: str, kit: _Kit) -> tuple[str, list[Any]]:
    """The document without its `<style>` blocks and those blocks as stylesheets parsed once per
    kit (keyed by their text: a template's style is the same from one note to the next, and its
    parsing is about a tenth of a one-page note's rendering). Same bytes as the blocks left in the
    document (tested): they are its only style sheets, so given to WeasyPrint beside it they still
    override its defaults, and inline `style` attributes still override them; only `!important`
    ranks the two origins differently, so a document using it keeps its blocks, as does one
    declaring its own fonts (`@font-face`, a fresh font map)."""
    if "@font-face" in html or "!important" in html:
        return html, []
    texts = _STYLE.findall(html)
    if not texts:
        return html, []
    key = "\n".join(texts)
    if len(kit.sheets) >= _SHEETS_KEPT:
        kit.sheets.clear()
    sheet = kit.sheets.get(key)
    if sheet is None:
        sheet = kit.sheets[key] = weasyprint.CSS(string=key, font_config=kit.fonts)
    return _STYLE.sub("", html), [sheet]


def pdf_unavailable_reason() -> str | None:
    """None when PDFs can be rendered here, else why not and the fix (for tests and health checks)."""
    try:
        _weasyprint()
    except PdfUnavailable as exc:
        return str(exc)
    return None


def pdf_environment(host: PluginHost) -> Environment:
    """The HTML Jinja environment documents are rendered with (the web's loader, catalogs and
    escaping), built once per plugin host."""
    env = getattr(host, _PDF_ENV, None)
    if env is None:
        from carnet_core.i18n import load_catalogs
        from carnet_core.web.templating import build_environment

        env = build_environment(host, load_catalogs(host), html=True)
        setattr(host, _PDF_ENV, env)
    return env


def _stamp(moment: datetime | None) -> str:
    moment = moment or datetime(2000, 1, 1, tzinfo=UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def html_to_pdf(
    html: str,
    *,
    title: str | None = None,
    created: datetime | None = None,
    variant: str = DEFAULT_VARIANT,
    attachments: Iterable[PdfAttachment] = (),
    lang: str = "fr",
) -> bytes:
    """Lay out `html` and write it as a PDF of `variant` (PDF/A-3b by default), its dates set to
    `created` (metadata and file identifier do not depend on the clock)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown PDF variant {variant!r}; one of {sorted(VARIANTS)}")
    weasyprint = _weasyprint()
    with _kit(html) as kit:
        html, stylesheets = _stylesheets(weasyprint, html, kit)
        document = weasyprint.HTML(string=html, base_url=None).render(font_config=kit.fonts, stylesheets=stylesheets)
        stamp = _stamp(created)
        document.metadata.created = stamp
        document.metadata.modified = stamp
        document.metadata.lang = lang
        if title:
            document.metadata.title = title
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        files = [
            weasyprint.Attachment(
                file_obj=io.BytesIO(a.data),
                name=a.name,
                description=a.description or a.name,
                relationship=a.relationship,
                created=moment,
                modified=moment,
            )
            for a in attachments
        ]
        try:  # the file identifier is a digest of the content (PDF/A variants): no clock in the bytes
            return document.write_pdf(pdf_variant=variant, attachments=files or None)
        except OSError as exc:  # pragma: no cover - a font or library failing at write time
            raise PdfUnavailable(f"PDF rendering failed: {FIX} ({exc})") from exc


def render_html(host: PluginHost, template: str, context: Mapping[str, Any], *, locale: str = "fr") -> str:
    """The template rendered as HTML, translated into `locale`."""
    return pdf_environment(host).get_template(template).render({**context, "locale": locale})


def render_pdf(
    host: PluginHost,
    template: str,
    context: Mapping[str, Any],
    *,
    locale: str = "fr",
    title: str | None = None,
    created: datetime | None = None,
    variant: str = DEFAULT_VARIANT,
    attachments: Iterable[PdfAttachment] = (),
) -> bytes:
    """`template` (`<plugin>/….html`) rendered with `context` in `locale`, as a PDF/A document."""
    html = render_html(host, template, context, locale=locale)
    return html_to_pdf(html, title=title, created=created, variant=variant, attachments=attachments, lang=locale)
