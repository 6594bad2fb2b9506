"""In-repo plugins import core only through its stable surface (issue 8, the plugin kit).

A plugin's sources may import `carnet_core.plugin_api` and nothing else of core; its tests may also
import `carnet_core.testing` (fixtures, helpers, the tables a test inspects). Anything else in
`carnet_core` is internal and may change in a minor release, so a plugin that reaches into it
would break silently for its users.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import carnet_core.plugin_api as plugin_api
import carnet_core.testing as testing

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
PUBLIC = "carnet_core.plugin_api"
TESTING = "carnet_core.testing"


def core_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            if node.module == "carnet_core":  # `from carnet_core import x` reaches x
                modules = [f"carnet_core.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        found.extend((node.lineno, m) for m in modules if m == "carnet_core" or m.startswith("carnet_core."))
    return found


def offending(folder: Path, allowed: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in core_imports(path):
            if not any(module == a or module.startswith(a + ".") for a in allowed):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


def test_there_are_plugins_to_check():
    assert PLUGINS, "no plugin under plugins/"


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_plugin_sources_import_only_the_public_module(plugin):
    bad = offending(plugin / "src", (PUBLIC,))
    assert not bad, "import these names from carnet_core.plugin_api (docs/PLUGINS.md):\n" + "\n".join(bad)


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_plugin_tests_import_only_the_public_module_and_the_testing_kit(plugin):
    bad = offending(plugin / "tests", (PUBLIC, TESTING)) if (plugin / "tests").is_dir() else []
    assert not bad, "tests import from carnet_core.plugin_api or carnet_core.testing:\n" + "\n".join(bad)


def test_the_walker_sees_every_form_of_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import carnet_core.db\nfrom carnet_core import audit\nfrom carnet_core.plugin_api import seal\n"
                      "def f():\n    from carnet_core.web.render import page\n")
    assert core_imports(sample) == [(1, "carnet_core.db"), (2, "carnet_core.audit"), (3, PUBLIC),
                                    (5, "carnet_core.web.render")]


def test_every_public_name_resolves_and_unknown_names_say_where_to_look():
    for name in plugin_api.__all__:
        assert getattr(plugin_api, name) is not None, name
    for name in testing.__all__:
        assert getattr(testing, name) is not None, name
    with pytest.raises(AttributeError, match="docs/PLUGINS.md"):
        plugin_api.CarnetState  # noqa: B018  (internal: not on the surface)


def test_the_public_module_does_not_pull_the_web_framework_into_services():
    import subprocess
    import sys

    code = ("import sys\nfrom carnet_core.plugin_api import seal, record, enqueue, InvalidInput, ClinicOwned\n"
            "print('litestar' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
