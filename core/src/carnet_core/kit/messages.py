"""Message extraction into French catalogues, for core and for any installed plugin.

Extracts the messages of a package's templates (`{{ _("…") }}`, `{% trans %}`) and Python code
(`_("…")`, `translate(request, "…")`, `gettext`, `N_("…")`), then merges them into
`translations/fr/LC_MESSAGES/<name>.po`, keeping existing translations. `check=True` changes
nothing and reports each message missing or untranslated. Used by `carnet messages extract` (any
installed plugin, wherever it lives) and by the repository's `make messages`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

METHODS = [("**/templates/**.html", "jinja2"), ("**/templates/**.txt", "jinja2"), ("**.py", "python")]
OPTIONS = {pattern: {"extensions": "jinja2.ext.i18n"} for pattern, method in METHODS if method == "jinja2"}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "translate": (2,), "translate_plural": (2, 3), "N_": None,
            "Nn_": (1, 2)}


def extract(package: Path) -> Catalog:
    """Every message of the package's templates and code (its tests and test helpers left out)."""
    catalog = Catalog(locale="fr", domain="messages")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(package), METHODS, OPTIONS, KEYWORDS, comment_tags=("i18n:",), strip_comment_tags=True
    ):
        if "/testing/" in filename or "/tests/" in filename:
            continue
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def catalog_path(name: str, package: Path) -> Path:
    return package / "translations" / "fr" / "LC_MESSAGES" / f"{name}.po"


def update(name: str, package: Path, *, check: bool = False, seed: dict[str, str] | None = None,
           report: Callable[[str], None] | None = None) -> int:
    """Merge the package's messages into its French catalogue (`seed`: translations to use for
    messages without one). Returns how many messages are still untranslated."""
    template = extract(package)
    po_path = catalog_path(name, package)
    existing = Catalog(locale="fr")
    if po_path.exists():
        with po_path.open("rb") as fh:
            existing = read_po(fh, locale="fr")
    merged = Catalog(locale="fr", project=f"carnet-{name}", fuzzy=False)
    problems = 0
    for message in template:
        if not message.id:
            continue
        old = existing.get(message.id, message.context)
        string = old.string if old else ("" if isinstance(message.id, str) else ("", ""))
        if not string and seed and isinstance(message.id, str):
            string = seed.get(message.id, "")
        merged.add(message.id, string, message.locations, context=message.context)
        if not (all(string) if isinstance(string, tuple) else bool(string)):
            problems += 1
            if report:
                report(f"{name}: untranslated: {message.id!r}")
    if not check:
        buffer = io.BytesIO()
        write_po(buffer, merged, width=100, omit_header=False, sort_output=True, include_lineno=False)
        old_text = po_path.read_bytes() if po_path.exists() else b""
        if _without_creation_date(buffer.getvalue()) != _without_creation_date(old_text):
            po_path.parent.mkdir(parents=True, exist_ok=True)
            po_path.write_bytes(buffer.getvalue())
    return problems


def _without_creation_date(po: bytes) -> bytes:
    """A catalogue's text without its extraction time: a run that finds nothing new leaves the
    file as it was (no diff in every other plugin's catalogue at each `make messages`)."""
    return re.sub(rb'^"POT-Creation-Date: [^"]*"\n', b"", po, flags=re.M)
