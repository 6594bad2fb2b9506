"""Update the French catalogs from the sources: `python scripts/i18n.py [--check]`.

For core and each plugin, extracts the messages of its templates (`{{ _("…") }}`, `{% trans %}`)
and Python code (`_("…")`, `translate(request, "…")`, `gettext`), then merges them into
`translations/fr/LC_MESSAGES/<name>.po`, keeping existing translations. `--check` changes
nothing and exits 1 when a message is missing or untranslated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
METHODS = [("**/templates/**.html", "jinja2"), ("**/templates/**.txt", "jinja2"), ("**.py", "python")]
OPTIONS = {pattern: {"extensions": "jinja2.ext.i18n"} for pattern, method in METHODS if method == "jinja2"}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "translate": (2,), "N_": None}


def packages() -> list[tuple[str, Path]]:
    found = [("core", ROOT / "core" / "src" / "carnet_core")]
    for pyproject in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        name = pyproject.parent.name
        found.append((name, pyproject.parent / "src" / f"carnet_{name}"))
    return found


def extract(package: Path) -> Catalog:
    catalog = Catalog(locale="fr", domain="messages")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(package), METHODS, OPTIONS, KEYWORDS, comment_tags=("i18n:",), strip_comment_tags=True
    ):
        if "/testing/" in filename or "/tests/" in filename:
            continue
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def update(check: bool) -> int:
    problems = 0
    for name, package in packages():
        if not package.is_dir():
            continue
        template = extract(package)
        po_path = package / "translations" / "fr" / "LC_MESSAGES" / f"{name}.po"
        existing = Catalog(locale="fr")
        if po_path.exists():
            with po_path.open("rb") as fh:
                existing = read_po(fh, locale="fr")
        merged = Catalog(locale="fr", project=f"carnet-{name}", fuzzy=False)
        for message in template:
            if not message.id:
                continue
            old = existing.get(message.id, message.context)
            merged.add(message.id, old.string if old else ("" if isinstance(message.id, str) else ("", "")),
                       message.locations, context=message.context)
            done = old is not None and (all(old.string) if isinstance(old.string, tuple) else bool(old.string))
            if not done:
                problems += 1
                print(f"{name}: untranslated: {message.id!r}")
        if check:
            continue
        po_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("wb") as fh:
            write_po(fh, merged, width=100, omit_header=False, sort_output=True, include_lineno=False)
    return 1 if (check and problems) else 0


if __name__ == "__main__":
    sys.exit(update("--check" in sys.argv))
