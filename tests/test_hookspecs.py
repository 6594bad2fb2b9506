"""Every core hook is documented, typed and tested (a `test_hook_<name>` test somewhere)."""

import ast
import inspect
from pathlib import Path

import pytest
from click.testing import CliRunner
from example_plugin import plugin as example

from carnet_core import hookspecs
from carnet_core.cli import main

ROOT = Path(__file__).resolve().parents[1]


def core_hookspecs() -> dict[str, object]:
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "carnet_spec")
    }


def _tested_hooks() -> set[str]:
    names = set()
    for path in ROOT.rglob("test_*.py"):
        if ".venv" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_"):
                names.add(node.name)
    return names


def test_every_hookspec_has_a_docstring_and_typed_signature():
    specs = core_hookspecs()
    assert len(specs) >= 15
    for name, fn in specs.items():
        assert (fn.__doc__ or "").strip(), f"{name} has no docstring"
        assert "\n" not in fn.__doc__.strip(), f"{name}: one line (when it is called, what to return)"
        assert fn.__annotations__.get("return"), f"{name} has no return annotation"


def test_every_hookspec_has_a_test():
    tests = _tested_hooks()
    missing = {name for name in core_hookspecs() if not any(t.startswith(f"test_hook_{name}") for t in tests)}
    assert missing == set(), f"hooks without a test_hook_<name> test: {sorted(missing)}"


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("example", example)
    for seen in example.SEEN.values():
        seen.clear()
    return inline_plugins


def test_hook_register_settings(tmp_path):
    # the plugin's settings model is filled from CARNET_<PLUGIN>_* (see test_plugin_host for errors)
    import types

    from pydantic import BaseModel

    from carnet_core import hookimpl
    from carnet_core.plugins import build_plugin_host
    from carnet_core.testing.plugin import make_settings

    class Conf(BaseModel):
        colour: str = "blue"

    mod = types.ModuleType("carnet_example_conf")
    mod.CARNET_CORE_REQUIRES = ">=0.1"
    mod.register_settings = hookimpl(lambda: Conf)
    host = build_plugin_host(make_settings(tmp_path, env={"CARNET_CONF_COLOUR": "teal"}), extra=[("conf", mod)], discover=False)
    assert host.settings.plugins["conf"].colour == "teal"


def test_hook_register_routes(app):
    assert any(route.path.rstrip("/") == "/example" for route in app.routes)


def test_hook_register_api_routes(app):
    assert any(route.path == "/api/v1/example/ping" for route in app.routes)


def test_hook_register_public_routes(client, make_clinic):
    make_clinic("publique", plugins=["example"])
    assert client.get("/p/publique/example/hello").status_code == 200


def test_hook_register_permissions(app):
    from carnet_core.web.state import carnet_state

    permissions = carnet_state(app).permissions
    assert permissions["example.view"].roles == ("owner", "practitioner")
    assert "core.manage_modules" in permissions


def test_hook_register_permissions_refuses_a_route_with_an_undeclared_permission(carnet_settings, plugin_host, carnet_db):
    from litestar import get

    from carnet_core.web.app import StartupError, create_app

    @get("/rogue", opt={"permission": "example.undeclared"}, sync_to_thread=True)
    def rogue() -> str:
        return "x"

    with pytest.raises(StartupError, match="example.undeclared"):
        create_app(carnet_settings, host=plugin_host, db=carnet_db, extra_route_handlers=[rogue])


def test_hook_register_routes_refuses_a_route_without_a_permission(carnet_settings, plugin_host, carnet_db):
    from litestar import get

    from carnet_core.web.app import StartupError, create_app

    @get("/open-bar", sync_to_thread=True)
    def open_bar() -> str:
        return "x"

    with pytest.raises(StartupError, match="declares no permission"):
        create_app(carnet_settings, host=plugin_host, db=carnet_db, extra_route_handlers=[open_bar])


def test_hook_clinic_plugin_toggled(carnet_db, carnet_settings, make_clinic, monkeypatch):
    make_clinic("bascule", plugins=[])
    monkeypatch.setattr("carnet_core.cli.Runtime.host", property(lambda self: _host(self, carnet_settings)))
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    runner = CliRunner()
    assert runner.invoke(main, ["plugins", "enable", "example", "--clinic", "bascule"], env=env).exit_code == 0
    assert runner.invoke(main, ["plugins", "disable", "example", "--clinic", "bascule"], env=env).exit_code == 0
    again = runner.invoke(main, ["plugins", "disable", "example", "--clinic", "bascule"], env=env)
    assert "no change" in again.output
    assert example.SEEN["toggled"] == [("bascule", "example", True), ("bascule", "example", False)]


_hosts = {}


def _host(runtime, settings):
    from carnet_core.plugins import build_plugin_host

    if id(runtime) not in _hosts:
        _hosts[id(runtime)] = build_plugin_host(settings, extra=[("example", example)])
    return _hosts[id(runtime)]


def test_hook_demo_data(carnet_db, carnet_settings, plugin_host):
    from carnet_core.demo import DEMO_SLUG, load_demo

    list(load_demo(carnet_settings, plugin_host, carnet_db))
    assert example.SEEN["demo"] == [DEMO_SLUG]


def test_hook_audit_resource_labels(plugin_host):
    """Every installed plugin's kinds of records reach the audit pages in words; an unnamed kind is
    a "record", never its code."""
    from carnet_core.audit import words

    labels = words.resource_words(plugin_host)
    assert labels["scheduling_appointment"] == "appointment" and labels["billing_note_line"] == "fee note line"
    assert labels["core_patient"] == "patient file"
    assert words.resource_word(plugin_host, "nobody_named_this") == "record"
    tables = {t.name for t in plugin_host_tables()}
    assert not {t for t in tables if t.startswith("scheduling_")} - set(labels)


def plugin_host_tables():
    from sqlmodel import SQLModel

    return SQLModel.metadata.sorted_tables
def test_hook_register_cli_commands(tmp_path):
    # a plugin's click group named after it becomes `carnet <plugin> …`, with the process's runtime
    import types

    import click

    from carnet_core import hookimpl
    from carnet_core.cli import Runtime
    from carnet_core.plugins import PluginError, build_plugin_host
    from carnet_core.testing.plugin import make_settings

    @click.group("bilans")
    def bilans():
        """Bilans."""

    @bilans.command("count")
    @click.pass_obj
    def count(runtime):
        click.echo(f"home {runtime.settings.home.name}")

    mod = types.ModuleType("carnet_bilans_cli")
    mod.CARNET_CORE_REQUIRES = ">=0.1"
    mod.register_cli_commands = hookimpl(lambda: [bilans])
    settings = make_settings(tmp_path / "home")
    host = build_plugin_host(settings, extra=[("bilans", mod)], discover=False)
    runtime = Runtime(settings=settings, _host=host)
    result = CliRunner().invoke(main, ["bilans", "count"], obj=runtime)
    assert result.exit_code == 0, result.output
    assert result.output == "home home\n"
    assert "bilans" in CliRunner().invoke(main, ["--help"], obj=runtime).output
    # core's own commands need no plugin at all
    assert CliRunner().invoke(main, ["clinic", "--help"], obj=runtime).exit_code == 0
    # a command named otherwise, or taking a core command's name, is refused naming the fix
    other = types.ModuleType("carnet_other_cli")
    other.CARNET_CORE_REQUIRES = ">=0.1"
    other.register_cli_commands = hookimpl(lambda: [click.Command("verify")])
    host = build_plugin_host(settings, extra=[("other", other)], discover=False)
    with pytest.raises(PluginError, match="return click commands named 'other'"):
        from carnet_core.cli import plugin_commands

        plugin_commands(host)
    result = CliRunner().invoke(main, ["other"], obj=Runtime(settings=settings, _host=host))
    assert result.exit_code == 2 and "return click commands named 'other'" in result.output
    clash = types.ModuleType("carnet_clinic_cli")
    clash.CARNET_CORE_REQUIRES = ">=0.1"
    clash.register_cli_commands = hookimpl(lambda: [click.Group("clinic")])
    host = build_plugin_host(settings, extra=[("clinic", clash)], discover=False)
    with pytest.raises(PluginError, match="'carnet clinic' is a core command"):
        plugin_commands(host, {"clinic"})
