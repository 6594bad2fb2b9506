"""The plugin kit's commands: `carnet plugins new|check`, `carnet migrations new`,
`carnet messages extract`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from carnet_core.cli import Runtime, fail, pass_runtime, plugins


@plugins.command("new")
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder in which to create carnet-NAME/.")
def plugins_new(name: str, parent: Path) -> None:
    """Scaffold an out-of-tree plugin NAME in DIR/carnet-NAME (installs and passes its tests as is)."""
    from carnet_core.kit.scaffold import ScaffoldError, new_plugin

    try:
        target = new_plugin(name, parent)
    except ScaffoldError as exc:
        fail(str(exc))
    click.echo(f"created {target}")
    click.echo(f"next: pip install -e '{target}[test]' && carnet init && "
               f"(cd {target} && python -m pytest -q) && carnet plugins check {name}")


@plugins.command("check")
@click.argument("name", required=False)
@pass_runtime
def plugins_check(rt: Runtime, name: str | None) -> None:
    """Check a plugin (default: every installed one) for its CI: schema drift between its models and
    its migrations, naming (table prefix, branch, revisions, permissions), hooks and permissions.
    Exits 1 listing each problem and its fix."""
    from carnet_core.kit.checks import check_plugins

    problems, notes = check_plugins(rt.settings, name)
    for note in notes:
        click.echo(f"note: {note}")
    if problems:
        for problem in problems:
            click.secho(f"error: {problem}", fg="red", err=True)
        sys.exit(1)
    click.echo("ok")


@click.group()
def migrations() -> None:
    """Migrations of core and plugins (`carnet init` applies them)."""


@migrations.command("new")
@click.argument("plugin")
@click.option("-m", "--message", required=True, help="What the revision changes (its file name's slug).")
@pass_runtime
def migrations_new(rt: Runtime, plugin: str, message: str) -> None:
    """Autogenerate a revision on PLUGIN's branch, in its migrations folder, from the difference between
    its models and its migrations (read it before committing)."""
    from carnet_core.kit.revisions import RevisionError, new_revision
    from carnet_core.plugins import PluginError

    try:
        path = new_revision(rt.host, plugin, message)
    except (RevisionError, PluginError) as exc:
        fail(str(exc))
    click.echo(f"created {path}")


@click.group()
def messages() -> None:
    """Translation catalogues of core and plugins."""


@messages.command("extract")
@click.argument("plugin")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 when a message is missing or untranslated.")
@pass_runtime
def messages_extract(rt: Runtime, plugin: str, check: bool) -> None:
    """Extract PLUGIN's messages (an installed plugin, wherever it lives, or "core") into its French
    catalogue translations/fr/LC_MESSAGES/PLUGIN.po, keeping existing translations."""
    from carnet_core.kit.messages import catalog_path, update
    from carnet_core.plugins import PluginError

    try:
        info = rt.host.plugins.get(plugin)
    except PluginError as exc:
        fail(str(exc))
    if info is None or info.root is None:
        fail(f"no installed plugin '{plugin}'; installed: {', '.join(rt.host.names) or 'none'}")
    package = Path(str(info.root))
    untranslated = update(plugin, package, check=check, report=click.echo)
    if not check:
        click.echo(f"updated {catalog_path(plugin, package)} ({untranslated} to translate)")
    elif untranslated:
        sys.exit(1)


COMMANDS = [migrations, messages]
