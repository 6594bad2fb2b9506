"""`carnet plugins new NAME`: a complete out-of-tree plugin that installs, migrates and passes its
own tests unchanged (distribution `carnet-NAME`, entry point, core range, wiring, a clinic-owned
model with sealed health text, its migration on its own branch, a page, an API route,
permissions, a French catalogue, tests on core's pytest plugin).

The files come from `skeleton/` (`*.tmpl`, with `@NAME@`, `@TITLE@`, `@CORE_RANGE@` and
`@DATE@` replaced, in paths too); the French catalogue is then extracted from the generated code
and filled from `FRENCH`, so it matches what `carnet messages extract --check` expects.
"""

from __future__ import annotations

import keyword
import re
from datetime import UTC, datetime
from pathlib import Path

from packaging.version import Version

from carnet_core.version import __version__ as CORE_VERSION

SKELETON = Path(__file__).parent / "skeleton"
NAME_RE = re.compile(r"^[a-z][a-z0-9]{1,30}$")
RESERVED = frozenset({"core", "api", "p", "static", "schema", "login", "logout", "patients", "settings", "audit",
                      "carnet", "test", "tests"})

# The generated plugin's French messages (msgid -> French); @TITLE@ is replaced.
FRENCH = {
    "@TITLE@": "@TITLE@",
    "Latest entries": "Dernières notes",
    "Date": "Date",
    "Patient": "Patient",
    "No entry yet. Open a patient's page to write one.":
        "Aucune note pour l'instant. Ouvrez la fiche d'un patient pour en écrire une.",
    "Back to the patient": "Retour à la fiche du patient",
    "New entry": "Nouvelle note",
    "Save": "Enregistrer",
    "Entries": "Notes",
    "No entry yet.": "Aucune note pour l'instant.",
    "Entries: %(count)s": "Notes : %(count)s",
    "Open": "Ouvrir",
    "%(limit)s characters at most.": "%(limit)s caractères au plus.",
}


class ScaffoldError(ValueError):
    """The plugin cannot be generated; the message says why and what to do."""


def core_range(version: str = CORE_VERSION) -> str:
    """The compatible range of core versions for a new plugin: this minor release series
    (0.x: minor releases may break plugins), or this major one from 1.0 on."""
    v = Version(version)
    if v.major == 0:
        return f">=0.{v.minor},<0.{v.minor + 1}"
    return f">={v.major}.{v.minor},<{v.major + 1}"


def check_name(name: str) -> None:
    if not NAME_RE.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"'{name}' cannot name a plugin: use 2 to 31 lowercase letters and digits, starting with a letter "
            "(e.g. 'bilans'); it prefixes its tables, permissions, routes and hooks"
        )
    if name in RESERVED:
        raise ScaffoldError(f"'{name}' is reserved by core; choose another name (e.g. 'mes{name}')")


def new_plugin(name: str, parent: Path) -> Path:
    """Write the plugin `name` into `parent/carnet-<name>` and return that folder."""
    check_name(name)
    target = Path(parent) / f"carnet-{name}"
    if target.exists() and any(target.iterdir()):
        raise ScaffoldError(f"{target} exists and is not empty; choose another --dir or remove it")
    values = {
        "@NAME@": name, "@TITLE@": name.capitalize(), "@CORE_RANGE@": core_range(),
        "@DATE@": datetime.now(UTC).date().isoformat(),
    }

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    for source in sorted(SKELETON.rglob("*.tmpl")):
        relative = fill(str(source.relative_to(SKELETON)).removesuffix(".tmpl"))
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(fill(source.read_text(encoding="utf-8")), encoding="utf-8")
    from carnet_core.kit import messages

    package = target / "src" / f"carnet_{name}"
    messages.update(name, package, seed={fill(k): fill(v) for k, v in FRENCH.items()})
    return target
