"""No deprecation warning from our own code, and the suite fails on a new one.

Litestar 2.x announces its 3.0 changes with `LitestarDeprecationWarning`s, at app build: a handler
parameter whose source is inferred (`db: CarnetSession` instead of `NamedDependency[...]`, a path
parameter without `FromPath[...]`, a `data` body without a marker). An out-of-tree plugin's run
used to show hundreds of them, all from core and the in-repo plugins. `pyproject.toml` turns them,
and any `DeprecationWarning` attributed to a `carnet_*` module, into errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
from litestar import get
from litestar.exceptions import LitestarDeprecationWarning

from carnet_core.plugin_api import Permission, hookimpl
from carnet_core.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]

# A fresh interpreter, so that deprecations raised while importing core, the plugins and the web
# framework count too (in this process they are imported already). Every installed plugin comes
# from its entry point, plus the repository's test plugins, as an out-of-tree suite would add its own.
BUILD = textwrap.dedent("""
    import json, sys, tempfile, warnings
    from pathlib import Path

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        from carnet_core.db.session import Database
        from carnet_core.plugins import build_plugin_host
        from carnet_core.testing.plugin import make_settings
        from carnet_core.web.app import create_app
        sys.path.insert(0, sys.argv[1])
        from example_plugin import plugin as example
        from sneaky_plugin import plugin as sneaky

        example.CARNET_CORE_REQUIRES = ">=0.1,<1"
        home = Path(tempfile.mkdtemp())
        url = f"sqlite:///{home / 'carnet.db'}"
        settings = make_settings(home, url)
        host = build_plugin_host(settings, extra=[("example", example), ("sneaky", sneaky.plugin)])
        create_app(settings, host=host, db=Database(url))
    print(json.dumps({
        "plugins": sorted(host.names),
        "warnings": [
            {"category": w.category.__name__, "file": w.filename, "message": str(w.message)}
            for w in seen if issubclass(w.category, DeprecationWarning)
        ],
    }))
""")


def ours(warning: dict[str, str]) -> bool:
    """Litestar's deprecations are about how we call it; others count when raised from our code."""
    path = warning["file"]
    return warning["category"] == "LitestarDeprecationWarning" or (
        "/site-packages/" not in path and path.startswith(str(ROOT))
    )


def test_building_the_app_with_every_installed_plugin_warns_nothing() -> None:
    out = subprocess.run(
        [sys.executable, "-c", BUILD, str(ROOT / "tests")],
        capture_output=True, text=True, check=True, timeout=180, cwd=ROOT,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"scheduling", "example", "sneaky"} <= set(result["plugins"])
    found = [w for w in result["warnings"] if ours(w)]
    assert found == [], "deprecations from our code at app build:\n" + "\n".join(
        f"{w['category']}: {w['message']}" for w in found
    )


class Inferred:
    """An out-of-tree-style plugin written the implicit way Litestar 3.0 drops."""

    CARNET_CORE_REQUIRES = ">=0.1,<1"

    @hookimpl
    def register_permissions(self) -> list[Permission]:
        return [Permission("inferred.view", "Voir", roles=("owner",))]

    @hookimpl
    def register_routes(self) -> list[Any]:
        @get("/{item_id:int}", opt={"permission": "inferred.view"}, sync_to_thread=True)
        def show(db: Any, item_id: int) -> dict[str, int]:
            return {"id": item_id}

        return [show]


@pytest.fixture
def inferred_plugin(inline_plugins: Any) -> None:
    inline_plugins.add("inferred", Inferred())


def test_a_plugin_with_inferred_parameters_fails_the_suite(inferred_plugin: None, carnet_settings: Any,
                                                            plugin_host: Any, carnet_db: Any) -> None:
    # The negative control: the detection above would see these, and under this repository's
    # pytest configuration the build itself fails, naming the parameter and the explicit style.
    with pytest.raises(LitestarDeprecationWarning, match="NamedDependency|FromPath"):
        create_app(plugin_host.settings, host=plugin_host, db=carnet_db)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        create_app(plugin_host.settings, host=plugin_host, db=carnet_db)
    messages = sorted(str(w.message) for w in seen if issubclass(w.category, LitestarDeprecationWarning))
    assert any("Inferred dependency field 'db'" in m for m in messages), messages
    assert any("path parameter 'item_id'" in m and "FromPath" in m for m in messages), messages


def test_a_deprecation_raised_from_our_modules_is_an_error_one_from_dramatiq_is_not() -> None:
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("old call", DeprecationWarning, "carnet_scheduling/x.py", 1,
                               module="carnet_scheduling.x")
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("old call", DeprecationWarning, "carnet_bilans/x.py", 1, module="carnet_bilans.x")
    with warnings.catch_warnings(record=True) as seen:
        warnings.warn_explicit("its own business", DeprecationWarning, "dramatiq/x.py", 1, module="dramatiq.x")
    assert [str(w.message) for w in seen] == []
