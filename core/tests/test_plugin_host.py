"""The plugin host: discovery by entry point, allow-list, core range, unknown hooks."""

import sys
import textwrap
import types
from pathlib import Path

import pytest

from carnet_core.plugins import PluginError, build_plugin_host, check_core_range
from carnet_core.testing.plugin import make_settings


def make_distribution(site: Path, name: str, module: str, version: str, core_range: str, body: str = "") -> None:
    """Install a real (tiny) distribution with a carnet.plugins entry point into `site`."""
    dist_info = site / f"{module}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: {version}\n"
        f"Requires-Dist: carnet-core{core_range}\n"
    )
    (dist_info / "entry_points.txt").write_text(f"[carnet.plugins]\n{name} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(body) or "from carnet_core import hookimpl\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    yield path
    for mod in [m for m in sys.modules if m.startswith("carnet_example_")]:
        del sys.modules[mod]


def test_installed_plugin_is_discovered_with_its_distribution_version(site, tmp_path):
    make_distribution(site, "example", "carnet_example_a", "1.4.2", ">=0.1,<0.2")
    host = build_plugin_host(make_settings(tmp_path / "h"))
    info = host.plugins["example"]
    assert info.version == "1.4.2"
    assert info.distribution == "carnet-example-a"
    assert info.core_requires == "<0.2,>=0.1"


def test_installed_but_not_allowed_plugin_is_never_imported(site, tmp_path):
    # given a plugin whose import would be visible
    make_distribution(site, "example", "carnet_example_b", "1.0", ">=0.1,<0.2", "IMPORTED = True\n")
    # when the deployment allows no plugin
    host = build_plugin_host(make_settings(tmp_path / "h", env={"CARNET_ALLOWED_PLUGINS": ""}))
    # then it is listed as blocked and was never imported
    assert "example" not in host.plugins
    assert "example" in [b.name for b in host.blocked]
    assert "carnet_example_b" not in sys.modules


def test_plugin_requiring_another_core_is_refused_naming_both(site, tmp_path):
    make_distribution(site, "example", "carnet_example_c", "2.0", ">=9.0,<10")
    with pytest.raises(PluginError) as err:
        build_plugin_host(make_settings(tmp_path / "h"))
    message = str(err.value)
    assert "'example'" in message and ">=9.0" in message and "0.1.0" in message
    assert "carnet_example_c" not in sys.modules


def test_plugin_without_a_declared_core_range_is_refused():
    with pytest.raises(PluginError, match="does not declare"):
        check_core_range("nameless", None)


def test_allowed_plugin_that_is_not_installed_is_a_start_up_error(tmp_path):
    with pytest.raises(PluginError, match="ghost"):
        build_plugin_host(make_settings(tmp_path / "h", env={"CARNET_ALLOWED_PLUGINS": "ghost"}))


def test_misspelled_hook_fails_at_start(tmp_path):
    from carnet_core import hookimpl

    plugin = types.ModuleType("carnet_example_typo")
    plugin.CARNET_CORE_REQUIRES = ">=0.1"

    @hookimpl
    def register_rutes():
        return []

    plugin.register_rutes = register_rutes
    with pytest.raises(PluginError, match="register_rutes"):
        build_plugin_host(make_settings(tmp_path / "h"), extra=[("typo", plugin)], discover=False)


def test_plugin_settings_are_validated_with_the_plugin_name(tmp_path):
    from pydantic import BaseModel

    from carnet_core import hookimpl
    from carnet_core.settings import SettingsError

    class ExampleSettings(BaseModel):
        reminder_hours: int = 24

    plugin = types.ModuleType("carnet_example_settings")
    plugin.CARNET_CORE_REQUIRES = ">=0.1"
    plugin.register_settings = hookimpl(lambda: ExampleSettings)
    ok = build_plugin_host(
        make_settings(tmp_path / "h", env={"CARNET_EXAMPLE_REMINDER_HOURS": "48"}),
        extra=[("example", plugin)],
        discover=False,
    )
    assert ok.settings.plugins["example"].reminder_hours == 48
    with pytest.raises(SettingsError, match="CARNET_EXAMPLE_REMINDER_HOURS"):
        build_plugin_host(
            make_settings(tmp_path / "h2", env={"CARNET_EXAMPLE_REMINDER_HOURS": "soon"}),
            extra=[("example", plugin)], discover=False,
        )


def test_hook_register_hookspecs_publishes_a_plugins_own_hooks_for_others(tmp_path):
    from carnet_core import hookimpl
    from carnet_core.hookspecs import hookspec

    class Specs:
        @hookspec
        def example_thing_done(self, thing: int) -> None:
            """After a thing is done."""

    publisher = types.SimpleNamespace(register_hookspecs=hookimpl(lambda: Specs), CARNET_CORE_REQUIRES=">=0.1")
    seen = []

    class Listener:
        CARNET_CORE_REQUIRES = ">=0.1"

        @hookimpl(optionalhook=True)
        def example_thing_done(self, thing):
            seen.append(thing)

    host = build_plugin_host(
        make_settings(tmp_path / "h"), extra=[("example", publisher), ("listener", Listener())], discover=False
    )
    host.hook.example_thing_done(thing=7)
    assert seen == [7]


def test_hook_register_hookspecs_refuses_hooks_without_the_plugin_prefix(tmp_path):
    from carnet_core import hookimpl
    from carnet_core.hookspecs import hookspec

    class Specs:
        @hookspec
        def thing_done(self, thing: int) -> None:
            """After a thing is done."""

    publisher = types.SimpleNamespace(register_hookspecs=hookimpl(lambda: Specs), CARNET_CORE_REQUIRES=">=0.1")
    with pytest.raises(PluginError, match="prefix them with 'example_'"):
        build_plugin_host(make_settings(tmp_path / "h"), extra=[("example", publisher)], discover=False)
