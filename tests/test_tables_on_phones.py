"""On a phone a wide table must scroll inside its own box, not widen the whole page (which then
scrolls sideways under the navigation). Every table of core's and every in-repo plugin's templates
sits in a `.table-wrap` box (core's stylesheet gives it `overflow-x: auto`)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIRS = [ROOT / "core" / "src", *sorted((ROOT / "plugins").glob("*/src"))]
OPENING = re.compile(r"<table\b")
WRAPPED = '<div class="table-wrap"><table'


def _templates():
    for folder in TEMPLATE_DIRS:
        yield from (p for p in folder.rglob("*.html*") if "templates" in p.parts)


def test_every_table_scrolls_inside_its_own_box():
    unwrapped = []
    for path in _templates():
        text = path.read_text(encoding="utf-8")
        for match in OPENING.finditer(text):
            if not text.startswith(WRAPPED, match.start() - len(WRAPPED) + len("<table")):
                line = text.count("\n", 0, match.start()) + 1
                unwrapped.append(f"{path.relative_to(ROOT)}:{line}")
    assert not unwrapped, "wrap these tables in <div class=\"table-wrap\">…</div>: " + ", ".join(unwrapped)


def test_the_stylesheet_lets_the_box_scroll():
    css = (ROOT / "core/src/carnet_core/static/core/carnet.css").read_text(encoding="utf-8")
    rule = re.search(r"\.table-wrap\s*\{([^}]*)\}", css)
    assert rule and "overflow-x:auto" in rule.group(1).replace(" ", "")
