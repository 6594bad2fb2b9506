"""Update the French catalogs from the sources: `python scripts/i18n.py [--check]`.

For core and each plugin of this repository, extracts the messages of its templates and Python
code and merges them into `translations/fr/LC_MESSAGES/<name>.po`, keeping existing translations
(`carnet_core.kit.messages`; `carnet messages extract NAME` does the same for any installed
plugin). `--check` changes nothing and exits 1 when a message is missing or untranslated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from carnet_core.kit.messages import update

ROOT = Path(__file__).resolve().parents[1]


def packages() -> list[tuple[str, Path]]:
    found = [("core", ROOT / "core" / "src" / "carnet_core")]
    for pyproject in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        name = pyproject.parent.name
        found.append((name, pyproject.parent / "src" / f"carnet_{name}"))
    return found


def main(check: bool) -> int:
    problems = 0
    for name, package in packages():
        if package.is_dir():
            problems += update(name, package, check=check, report=print)
    return 1 if (check and problems) else 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv))
