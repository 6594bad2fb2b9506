"""`carnet plugins check [NAME]`: what a plugin's CI checks, each problem with its fix.

- **loading**: the plugin loads (core range, allow-list, hook names, schema contract at start);
- **naming**: tables `<name>_…`, permissions `<name>.…` held by known roles, migrations on the
  plugin's own branch (`branch_labels = ("<name>",)` on its first revision, ids `<name>_NNNN`,
  files named after them, one head);
- **hooks**: every `@hookimpl` is a hook specification of core or of an installed plugin and takes
  only arguments the specification gives; a function of `plugin.py` named like a hook but not
  marked `@hookimpl` (core would never call it);
- **permissions**: every route declares a permission that is declared (the app is built as at
  start); a declared permission no route uses is noted;
- **drift**: a throwaway SQLite database migrated with every migration of core and the installed
  plugins matches the plugin's models (else: `carnet migrations new <name> -m "…"`).
"""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path
from typing import Any

from carnet_core.settings import Settings, load_settings

ROLES = ("owner", "practitioner", "secretary")


def check_plugins(settings: Settings, name: str | list[str] | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes) for plugin `name` (or several), or for every installed plugin."""
    from carnet_core.plugins import PluginError, build_plugin_host

    with tempfile.TemporaryDirectory(prefix="carnet-check-") as tmp:
        try:
            scratch = _scratch_settings(settings, Path(tmp))
            host = build_plugin_host(scratch)
        except PluginError as exc:
            return [f"the plugins do not load: {exc}"], []
        names = host.names if name is None else [name] if isinstance(name, str) else list(name)
        missing = [n for n in names if n not in host.names]
        if missing:
            installed = ", ".join(host.names) or "none"
            return [f"no installed plugin '{n}' (installed: {installed}); install it with `pip install -e .` "
                    "in this environment, and allow it in CARNET_ALLOWED_PLUGINS if that is set"
                    for n in missing], []
        problems: list[str] = []
        notes: list[str] = []
        for plugin in names:
            problems += naming_problems(host, plugin)
            problems += hook_problems(host, plugin)
        app_problems, used = _build_app(host, scratch)
        problems += app_problems
        for plugin in names:
            notes += [f"{plugin}: permission '{p}' is declared but no route uses it (fine if code checks it with "
                      "principal.can)" for p in sorted(_declared(host, plugin)) if p not in used]
        problems += drift_problems(host, scratch, names)
    return problems, notes


def _scratch_settings(settings: Settings, home: Path) -> Settings:
    """The deployment's settings (allow-list, plugin settings) on a throwaway home and SQLite file."""
    env = {k: v for k, v in settings.env.items() if not k.startswith(("CARNET_HOME", "CARNET_DATABASE_",
                                                                      "CARNET_MASTER_KEY", "CARNET_REDIS_URL"))}
    env.update({"CARNET_HOME": str(home), "CARNET_DATABASE_URL": f"sqlite:///{home / 'check.db'}",
                "CARNET_IN_PROCESS_WORKER": "0"})
    scratch = load_settings(env)
    for folder in (scratch.home, scratch.mail_dir, scratch.sms_dir, scratch.keys_dir):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(scratch.keys_dir, 0o700)
    from carnet_core.encryption.keyprovider import create_master_key_file, default_master_key_path

    create_master_key_file(default_master_key_path(scratch))
    return scratch


def _declared(host: Any, plugin: str) -> list[str]:
    return [p.name for owner, perms in host.call_each("register_permissions") if owner == plugin for p in perms]


def naming_problems(host: Any, plugin: str) -> list[str]:
    from carnet_core.db.schema import tables_by_owner

    problems = []
    tables = [t.name for _, t in tables_by_owner(host).get(plugin, [])]
    problems += [f"{plugin}: table '{t}' must be named '{plugin}_…' (__tablename__ in models.py and its migration)"
                 for t in tables if not t.startswith(f"{plugin}_")]
    for owner, perms in host.call_each("register_permissions"):
        if owner != plugin:
            continue
        for perm in perms:
            if not perm.name.startswith(f"{plugin}."):
                problems.append(f"{plugin}: permission '{perm.name}' must be named '{plugin}.<verb>' (permissions.py)")
            unknown = [r for r in perm.roles if r not in ROLES]
            if unknown:
                problems.append(f"{plugin}: permission '{perm.name}' names unknown roles {unknown}; roles are "
                                f"{', '.join(ROLES)}")
    problems += _migration_problems(host, plugin, tables)
    return problems


def _migration_problems(host: Any, plugin: str, tables: list[str]) -> list[str]:
    from alembic.script import ScriptDirectory

    from carnet_core.db.migrate import version_locations

    folder = host.plugins[plugin].resource("migrations")
    if folder is None:
        if tables:
            return [f"{plugin}: models declare tables ({', '.join(tables)}) but the plugin ships no migrations/ "
                    f"folder; create one and run `carnet migrations new {plugin} -m \"initial\"`"]
        return []
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parents[1] / "db" / "migrations"))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(version_locations(host)))
    script = ScriptDirectory.from_config(cfg)
    here = Path(str(folder)).resolve()
    own = [r for r in script.walk_revisions() if Path(r.path).resolve().parent == here]
    problems = []
    for rev in own:
        if not rev.revision.startswith(f"{plugin}_"):
            problems.append(f"{plugin}: revision '{rev.revision}' ({Path(rev.path).name}) must have an id "
                            f"'{plugin}_NNNN' so it never collides with core's or another plugin's")
        if not Path(rev.path).name.startswith(f"{plugin}_"):
            problems.append(f"{plugin}: migration file {Path(rev.path).name} must be named after its revision "
                            f"('{plugin}_NNNN_what.py')")
    bases = [r for r in own if not r.down_revision]
    if own and (len(bases) != 1 or plugin not in (bases[0].branch_labels or ())):
        problems.append(f"{plugin}: the first migration must start the plugin's own branch: down_revision = None "
                        f"and branch_labels = ('{plugin}',)")
    heads = [r for r in own if r.is_head]
    if len(heads) > 1:
        problems.append(f"{plugin}: its migrations have {len(heads)} heads ({', '.join(r.revision for r in heads)}); "
                        "make each new revision follow the previous one (`carnet migrations new` does)")
    return problems


def hook_problems(host: Any, plugin: str) -> list[str]:
    module = host.plugins[plugin].module
    pm = host.pm
    problems = []
    for attr, fn in sorted(vars(module).items()):
        if not inspect.isfunction(fn) or attr.startswith("_"):
            continue
        caller = getattr(pm.hook, attr, None)
        spec = getattr(caller, "spec", None)
        opts = pm.parse_hookimpl_opts(module, attr)
        marked = opts is not None
        if marked and spec is None and opts.get("optionalhook"):
            continue  # another plugin's hook, implemented in case that plugin is installed
        if marked and spec is None:
            problems.append(f"{plugin}: '{attr}' is marked @hookimpl but no hook specification has that name; "
                            "check the spelling against docs/PLUGINS.md (or the publishing plugin's hookspecs)")
        elif marked:
            extra = [a for a in inspect.signature(fn).parameters if a not in spec.argnames]
            if extra:
                problems.append(f"{plugin}: hook '{attr}' takes {extra}, which the specification does not give "
                                f"(it gives {list(spec.argnames)}); remove or rename them")
        elif spec is not None and fn.__module__ == module.__name__:
            problems.append(f"{plugin}: '{attr}' is named like a hook but is not marked @hookimpl, so core never "
                            "calls it; decorate it with @hookimpl (from carnet_core.plugin_api)")
    return problems


def _build_app(host: Any, settings: Settings) -> tuple[list[str], set[str]]:
    """Build the app as at start (undeclared permissions fail there); the permissions routes use."""
    from carnet_core.db.migrate import upgrade
    from carnet_core.process import open_database

    db = open_database(settings, host)
    try:
        upgrade(db, host)
        from carnet_core.web.app import create_app

        try:
            app = create_app(settings, host=host, db=db)
        except Exception as exc:  # StartupError and Litestar's own configuration errors
            return [f"the application does not start: {exc}"], set()
        used = set()
        for route in app.routes:
            for handler in getattr(route, "route_handlers", []):
                permission = handler.opt.get("permission")
                if permission:
                    used.add(permission)
        return [], used
    finally:
        db.dispose()


def drift_problems(host: Any, settings: Settings, names: list[str]) -> list[str]:
    """Differences between the plugins' models and what their migrations create."""
    from carnet_core.db.migrate import describe, drift
    from carnet_core.process import open_database

    db = open_database(settings, host)  # migrated by _build_app
    try:
        diffs = drift(db, host)
    finally:
        db.dispose()
    problems = []
    for diff in diffs:
        text = describe(diff)
        for plugin in names:
            if f"{plugin}_" in text:
                problems.append(f"{plugin}: {text}: its migrations do not create what its models declare; run "
                                f"`carnet migrations new {plugin} -m \"what changed\"` and review the revision")
                break
    return problems
