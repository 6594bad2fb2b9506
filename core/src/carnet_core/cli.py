"""The `carnet` command: set-up, serving, clinics, plugins, jobs. Each process reads settings once."""

from __future__ import annotations

import errno
import json
import socket
import sys
from dataclasses import dataclass
from typing import Any

import click

from carnet_core.settings import Settings, SettingsError, load_settings


@dataclass
class Runtime:
    """What a command needs, built lazily once per process."""

    settings: Settings
    _host: Any = None
    _db: Any = None

    @property
    def host(self) -> Any:
        if self._host is None:
            from carnet_core.plugins import build_plugin_host

            self._host = build_plugin_host(self.settings)
            self.settings = self._host.settings
        return self._host

    @property
    def db(self) -> Any:
        if self._db is None:
            from carnet_core.process import open_database

            self._db = open_database(self.settings, self.host)
        return self._db


pass_runtime = click.make_pass_decorator(Runtime)


def fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(2)


def plugin_commands(host: Any, taken: set[str] | frozenset[str] = frozenset()) -> dict[str, click.Command]:
    """The commands plugins add (`register_cli_commands`), by name: each must be named after its
    plugin, so `carnet billing verify` is billing's, and none may take a core command's name."""
    from carnet_core.plugins import PluginError

    found: dict[str, click.Command] = {}
    for plugin, commands in host.call_each("register_cli_commands"):
        for command in commands:
            if not isinstance(command, click.Command) or command.name != plugin:
                raise PluginError(
                    f"plugin '{plugin}': register_cli_commands returned {getattr(command, 'name', command)!r}; "
                    f"return click commands named '{plugin}' (a click.Group named '{plugin}' holds several)"
                )
            if plugin in taken:
                raise PluginError(f"plugin '{plugin}': 'carnet {plugin}' is a core command; rename the plugin")
            found[plugin] = command
    return found


class CarnetCommands(click.Group):
    """Core's commands, then the installed plugins' (`register_cli_commands`), looked up only when
    a name is not core's (so core's commands work even when a plugin fails to load)."""

    def _plugins(self, ctx: click.Context) -> dict[str, click.Command]:
        root = ctx.find_root()
        if "carnet.plugin_commands" not in root.meta:
            runtime = root.obj if isinstance(root.obj, Runtime) else None
            try:
                if runtime is None:
                    runtime = Runtime(settings=load_settings())
                    root.meta["carnet.runtime"] = runtime
                root.meta["carnet.plugin_commands"] = plugin_commands(runtime.host, set(self.commands))
            except SettingsError as exc:
                fail(str(exc))
            except Exception as exc:  # a plugin that fails to load: say which, as `carnet init` would
                from carnet_core.plugins import PluginError

                if not isinstance(exc, PluginError):
                    raise
                fail(str(exc))
        return root.meta["carnet.plugin_commands"]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._plugins(ctx).get(cmd_name)


@click.group(cls=CarnetCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="carnet-core", prog_name="carnet")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Carnet: the practice platform for independent health professionals.

    Settings come from CARNET_* environment variables (see README).
    """
    if isinstance(ctx.obj, Runtime):  # given by the caller (tests: a host with inline plugins)
        return
    runtime = ctx.meta.get("carnet.runtime")
    if runtime is None:
        try:
            runtime = Runtime(settings=load_settings())
        except SettingsError as exc:
            fail(str(exc))
    from carnet_core.logs import configure_logging

    configure_logging(runtime.settings)
    ctx.obj = runtime


def _plugin_error_guard(fn: Any) -> Any:
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from carnet_core.clinics.services import ClinicError
        from carnet_core.plugins import PluginError

        try:
            return fn(*args, **kwargs)
        except (PluginError, SettingsError, ClinicError) as exc:
            fail(str(exc))

    return wrapper


@main.command()
@pass_runtime
@_plugin_error_guard
def init(rt: Runtime) -> None:
    """Create or upgrade the database and local key material (safe to run again)."""
    from carnet_core.setup import SchemaDrift, initialise

    try:
        for line in initialise(rt.settings, rt.host, rt.db):
            click.echo(line)
    except SchemaDrift as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@pass_runtime
@_plugin_error_guard
def serve(rt: Runtime, host: str, port: int) -> None:
    """Serve the web application (with an in-process worker when no Redis is configured)."""
    import uvicorn

    from carnet_core.process import freeze_startup_heap
    from carnet_core.web.app import create_app

    # The socket is bound before anything is announced: a busy port stops here, named, with the way
    # to choose another, instead of after "listening" in uvicorn's log.
    try:
        sock = _bind(host, port)
    except OSError as exc:
        click.secho(f"error: cannot listen on {host}:{port}: {_bind_problem(exc, port)}", fg="red", err=True)
        click.echo(f"Pick another port: `make run PORT={_other_port(port)}` or "
                   f"`carnet serve --port {_other_port(port)}`.", err=True)
        sys.exit(1)
    app = create_app(rt.settings, host=rt.host, db=rt.db)
    freeze_startup_heap()  # built for the process's lifetime: out of the collector's reach
    click.echo(f"Carnet listening on http://{host}:{port}/")
    # log_config=None: uvicorn keeps its hands off logging, configured by `main` for this process
    # (its own access lines would carry raw paths and queries; Carnet writes its own).
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (IPv4 or IPv6, as the address says)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _bind_problem(exc: OSError, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use by another program (another `make run`?)"
    if exc.errno == errno.EACCES:
        return f"port {port} needs administrator rights (use a port above 1023)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "this address is not one of this machine's"
    return exc.strerror or str(exc)


def _other_port(port: int) -> int:
    return port + 1 if 1024 <= port < 65535 else 8001


@main.group()
def clinic() -> None:
    """Create and list clinics."""


@clinic.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name, e.g. 'Cabinet des Tilleuls'.")
@click.option("--modules", default="all", show_default=True, help="Comma-separated plugins to enable, 'all' or 'none'.")
@pass_runtime
@_plugin_error_guard
def clinic_create(rt: Runtime, slug: str, name: str, modules: str) -> None:
    """Create a clinic with the SLUG used in its public links."""
    from carnet_core.clinics.services import ClinicError, create_clinic

    names = rt.host.names
    if modules == "all":
        chosen = names
    elif modules == "none":
        chosen = []
    else:
        chosen = [m.strip() for m in modules.split(",") if m.strip()]
        unknown = [m for m in chosen if m not in names]
        if unknown:
            raise ClinicError(f"unknown module(s) {', '.join(unknown)}; available: {', '.join(names) or 'none'}")
    with rt.db.session(unscoped=True) as db:
        created = create_clinic(db, slug, name, chosen)
        click.echo(f"clinic '{created.slug}' created (id {created.id}); modules: {', '.join(chosen) or 'none'}")


@clinic.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_runtime
@_plugin_error_guard
def clinic_list(rt: Runtime, as_json: bool) -> None:
    """List clinics."""
    from carnet_core.clinics.services import enabled_plugins, list_clinics

    rows = []
    with rt.db.session(unscoped=True) as db:
        for c in list_clinics(db):
            with rt.db.session(clinic_id=c.id) as scoped:
                mods = sorted(enabled_plugins(scoped, c.id, rt.host.names))
            rows.append({"id": c.id, "slug": c.slug, "name": c.name, "modules": mods})
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no clinic yet: create one with `carnet clinic create SLUG --name NAME` or `carnet demo`")
    for r in rows:
        click.echo(f"{r['slug']:<24} {r['name']:<32} modules: {', '.join(r['modules']) or '-'}")


@main.group()
def plugins() -> None:
    """List installed plugins; enable or disable them per clinic."""


@plugins.command("list")
@click.option("--clinic", "slug", help="Show whether each plugin is enabled for this clinic.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_runtime
@_plugin_error_guard
def plugins_list(rt: Runtime, slug: str | None, as_json: bool) -> None:
    """Installed plugins with their versions, hooks and (with --clinic) their state."""
    from carnet_core.clinics.services import enabled_plugins

    enabled: set[str] | None = None
    if slug:
        clinic_obj = _clinic_or_fail(rt, slug)
        with rt.db.session(clinic_id=clinic_obj.id) as db:
            enabled = enabled_plugins(db, clinic_obj.id, rt.host.names)
    rows = []
    for name in rt.host.names:
        info = rt.host.plugins[name]
        row: dict[str, Any] = {
            "name": name, "version": info.version, "distribution": info.distribution,
            "core_requires": info.core_requires, "hooks": rt.host.hooks_of(name), "allowed": True,
        }
        if enabled is not None:
            row["enabled"] = name in enabled
        rows.append(row)
    for b in rt.host.blocked:
        rows.append({"name": b.name, "distribution": b.distribution, "allowed": False, "reason": b.reason})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no plugin installed")
    for r in rows:
        if not r["allowed"]:
            click.echo(f"{r['name']:<14} (blocked: {r['reason']})")
            continue
        state = "" if enabled is None else ("  enabled" if r["enabled"] else "  disabled")
        click.echo(f"{r['name']:<14} {r['version']:<10} core{r['core_requires']}{state}")


def _clinic_or_fail(rt: Runtime, slug: str) -> Any:
    from carnet_core.clinics.services import get_clinic_by_slug

    with rt.db.session(unscoped=True) as db:
        found = get_clinic_by_slug(db, slug)
    if found is None:
        fail(f"no clinic '{slug}'; see `carnet clinic list`")
    return found


def _toggle(rt: Runtime, name: str, slug: str, enabled: bool) -> None:
    from carnet_core.clinics.services import set_plugin_enabled

    clinic_obj = _clinic_or_fail(rt, slug)
    with rt.db.session(clinic_id=clinic_obj.id) as db:
        changed = set_plugin_enabled(db, clinic_obj.id, name, enabled, rt.host.names)
    if changed:
        rt.host.hook.clinic_plugin_toggled(clinic=clinic_obj, plugin=name, enabled=enabled)
    verb = "enabled" if enabled else "disabled"
    click.echo(f"{name} {verb} for {slug}" + ("" if changed else " (no change)"))


@plugins.command("enable")
@click.argument("name")
@click.option("--clinic", "slug", required=True, help="Clinic slug.")
@pass_runtime
@_plugin_error_guard
def plugins_enable(rt: Runtime, name: str, slug: str) -> None:
    """Enable plugin NAME for a clinic (takes effect at once, no restart)."""
    _toggle(rt, name, slug, True)


@plugins.command("disable")
@click.argument("name")
@click.option("--clinic", "slug", required=True, help="Clinic slug.")
@pass_runtime
@_plugin_error_guard
def plugins_disable(rt: Runtime, name: str, slug: str) -> None:
    """Disable plugin NAME for a clinic; its data is kept and shows again when re-enabled."""
    _toggle(rt, name, slug, False)


@main.group(invoke_without_command=True)
@click.option("--if-empty", is_flag=True, help="Load only into a database that has no clinic yet.")
@click.pass_context
def demo(ctx: click.Context, if_empty: bool) -> None:
    """Create the demo clinic with sample data and print how to log in."""
    if ctx.invoked_subcommand is not None:
        return
    rt: Runtime = ctx.obj
    _run_demo(rt, if_empty)


@_plugin_error_guard
def _run_demo(rt: Runtime, if_empty: bool) -> None:
    from carnet_core.demo import DEMO_PASSWORD, DemoResult, load_demo

    result = None
    for item in load_demo(rt.settings, rt.host, rt.db, if_empty=if_empty):
        if isinstance(item, DemoResult):
            result = item
        else:
            click.echo(item)
    if result and result.logins:
        base = rt.settings.base_url
        click.echo("")
        click.secho("How to log in to the demo clinic", bold=True)
        click.echo(f"  open      {base}/login")
        click.echo(f"  password  {DEMO_PASSWORD}   (same for every demo account)")
        for email, roles, secret in result.logins:
            click.echo(f"  {roles:<20} {email:<38} TOTP secret {secret}")
        click.echo("  second factor: add the account's secret to an authenticator app, or print the")
        click.echo("  current 6-digit code with: .venv/bin/carnet demo code EMAIL")


@demo.command("code")
@click.argument("email")
def demo_code(email: str) -> None:
    """Print the current second-factor code of a demo account."""
    from carnet_core.demo import DEMO_STAFF, current_code

    for address, _name, _roles, _rpps, secret in DEMO_STAFF:
        if address == email.strip().lower():
            click.echo(current_code(secret))
            return
    fail(f"{email} is not a demo account; demo accounts: {', '.join(s[0] for s in DEMO_STAFF)}")


def _register_area_commands() -> None:
    """Core areas (jobs, identity, keys, audit, demo) add their command groups here."""
    from carnet_core import cli_areas

    for command in cli_areas.commands():
        main.add_command(command)
    from carnet_core.kit.cli import COMMANDS as kit_commands  # also adds `plugins new|check`

    for command in kit_commands:
        main.add_command(command)


_register_area_commands()
