"""The plugin host: discovery by entry point, allow-list, core-range check, per-clinic hook calls.

There is no module-global manager: `build_plugin_host(settings)` makes one per process and
`create_app` / the CLI / the worker pass it down.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from importlib import metadata, resources
from importlib.abc import Traversable
from types import ModuleType
from typing import Any

import pluggy
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from carnet_core import hookspecs
from carnet_core.hookspecs import DATA_LIFECYCLE_HOOKS
from carnet_core.settings import Settings, plugin_settings_from_env
from carnet_core.version import __version__ as CORE_VERSION

log = logging.getLogger("carnet.plugins")

ENTRY_POINT_GROUP = "carnet.plugins"
CORE_PLUGIN = "core"


class PluginError(Exception):
    """A plugin cannot be loaded; the message names the plugin and the fix."""


@dataclass
class PluginInfo:
    name: str
    version: str
    module: Any
    distribution: str | None = None
    core_requires: str | None = None
    root: Traversable | None = None
    settings: Any = None

    def resource(self, kind: str) -> Traversable | None:
        """The plugin's `templates`, `static` or `migrations` folder, if it ships one."""
        if self.root is None:
            return None
        candidate = self.root / kind
        return candidate if candidate.is_dir() else None


@dataclass
class BlockedPlugin:
    name: str
    distribution: str | None
    reason: str


@dataclass
class PluginHost:
    settings: Settings
    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    blocked: list[BlockedPlugin] = field(default_factory=list)

    @property
    def hook(self) -> Any:
        """Call a hook on every loaded plugin (start-up hooks, not clinic events)."""
        return self.pm.hook

    @property
    def names(self) -> list[str]:
        return sorted(n for n in self.plugins if n != CORE_PLUGIN)

    def for_clinic(self, enabled: set[str] | frozenset[str]) -> ClinicHooks:
        """Hooks restricted to core and the plugins in `enabled` (a clinic's modules).

        Data-lifecycle hooks are refused here: call them with `lifecycle` / `lifecycle_each`."""
        return ClinicHooks(self, frozenset(enabled))

    def lifecycle(self, hook_name: str) -> Any:
        """The caller of a data-lifecycle hook over every installed, allowed plugin, enabled for
        the clinic or not (a disabled module keeps its data, so its export and erasure must run)."""
        _require_lifecycle(hook_name)
        return getattr(self.pm.hook, hook_name)

    def lifecycle_each(self, hook_name: str, per_plugin: Any = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """`lifecycle`, keeping which plugin returned what (None results left out). `per_plugin(name)`
        gives arguments of each plugin's own (e.g. its part of an archive to import)."""
        _require_lifecycle(hook_name)
        return self._call_each(hook_name, None, kwargs, per_plugin)

    def call_each(self, hook_name: str, only: set[str] | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook per plugin and keep who returned what (for mounting routes under /<name>)."""
        if only is not None and hook_name in DATA_LIFECYCLE_HOOKS:
            raise PluginError(_LIFECYCLE_ONLY.format(hook=hook_name))
        return self._call_each(hook_name, only, kwargs)

    def _call_each(self, hook_name: str, only: set[str] | None, kwargs: dict[str, Any],
                   per_plugin: Any = None) -> list[tuple[str, Any]]:
        caller = getattr(self.pm.hook, hook_name)
        results: list[tuple[str, Any]] = []
        for impl in reversed(caller.get_hookimpls()):
            name = self.pm.get_name(impl.plugin)
            if only is not None and name not in only and name != CORE_PLUGIN:
                continue
            given = {**kwargs, **per_plugin(name)} if per_plugin is not None else kwargs
            args = {k: given[k] for k in impl.argnames if k in given}
            result = impl.function(**args)
            if result is not None:
                results.append((name, result))
        return results

    def hooks_of(self, name: str) -> list[str]:
        plugin = self.pm.get_plugin(name)
        if plugin is None:
            return []
        return sorted(caller.name for caller in (self.pm.get_hookcallers(plugin) or []))


class ClinicHooks:
    """Attribute access returns a hook caller that skips plugins the clinic has not enabled."""

    def __init__(self, host: PluginHost, enabled: frozenset[str]):
        self._host = host
        self._remove = [
            host.pm.get_plugin(name)
            for name in host.plugins
            if name != CORE_PLUGIN and name not in enabled
        ]

    def __getattr__(self, name: str) -> Any:
        if name in DATA_LIFECYCLE_HOOKS:
            raise PluginError(_LIFECYCLE_ONLY.format(hook=name))
        return self._host.pm.subset_hook_caller(name, remove_plugins=self._remove)


_LIFECYCLE_ONLY = (
    "'{hook}' is a data-lifecycle hook: it must reach every installed plugin, also those the clinic "
    "disabled (they keep their data); call it with host.lifecycle('{hook}') or "
    "host.lifecycle_each('{hook}', ...), not through for_clinic() or call_each(only=...)"
)


def _require_lifecycle(hook_name: str) -> None:
    if hook_name not in DATA_LIFECYCLE_HOOKS:
        raise PluginError(
            f"'{hook_name}' is not a data-lifecycle hook ({', '.join(sorted(DATA_LIFECYCLE_HOOKS))}); "
            "call clinic events through host.for_clinic(enabled)"
        )


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _core_range_from_distribution(dist: metadata.Distribution) -> str | None:
    for raw in dist.requires or []:
        req = Requirement(raw)
        if req.name.replace("_", "-").lower() == "carnet-core" and not req.marker:
            return str(req.specifier)
    return None


def check_core_range(name: str, core_requires: str | None, core_version: str = CORE_VERSION) -> None:
    if not core_requires:
        raise PluginError(
            f"plugin '{name}' does not declare which carnet-core versions it supports; "
            "add a dependency such as 'carnet-core>=0.1,<0.2' to its pyproject.toml"
        )
    try:
        spec = SpecifierSet(core_requires)
    except InvalidSpecifier:
        raise PluginError(f"plugin '{name}' declares an invalid core range '{core_requires}'") from None
    if Version(core_version) not in spec:
        raise PluginError(
            f"plugin '{name}' requires carnet-core{core_requires} but this is carnet-core "
            f"{core_version}; install a version of the plugin built for this core or leave it out "
            "of CARNET_ALLOWED_PLUGINS"
        )


def _root_of(module: Any) -> Traversable | None:
    explicit = getattr(module, "CARNET_RESOURCES", None)
    if explicit is not None:
        from pathlib import Path

        return Path(explicit)
    package = getattr(module, "__package__", None)
    if isinstance(module, ModuleType) and package:
        return resources.files(package)
    return None


def build_plugin_host(
    settings: Settings,
    extra: list[tuple[str, Any]] | None = None,
    discover: bool = True,
    core_version: str = CORE_VERSION,
) -> PluginHost:
    """Discover allowed plugins, refuse incompatible ones, validate their settings.

    `extra` registers inline plugins `(name, module_or_object)` — tests use it; such a plugin
    declares its range with a `CARNET_CORE_REQUIRES` attribute.
    """
    pm = new_plugin_manager()
    host = PluginHost(settings=settings, pm=pm)
    core_plugin = importlib.import_module("carnet_core.core_plugin")
    pm.register(core_plugin, name=CORE_PLUGIN)
    host.plugins[CORE_PLUGIN] = PluginInfo(
        name=CORE_PLUGIN, version=CORE_VERSION, module=core_plugin, distribution="carnet-core",
        core_requires=f"=={CORE_VERSION}", root=resources.files("carnet_core"),
    )
    allowed = settings.allowed_plugins
    candidates: list[tuple[str, Any, str | None, str | None, str]] = []
    if discover:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist
            dist_name = dist.metadata["Name"] if dist else None
            if allowed is not None and ep.name not in allowed:
                host.blocked.append(BlockedPlugin(ep.name, dist_name, "not in CARNET_ALLOWED_PLUGINS"))
                continue
            core_requires = _core_range_from_distribution(dist) if dist else None
            check_core_range(ep.name, core_requires, core_version)
            module = ep.load()
            version = dist.version if dist else getattr(module, "__version__", "0")
            candidates.append((ep.name, module, dist_name, core_requires, version))
    for name, module in extra or []:
        if allowed is not None and name not in allowed:
            host.blocked.append(BlockedPlugin(name, None, "not in CARNET_ALLOWED_PLUGINS"))
            continue
        core_requires = getattr(module, "CARNET_CORE_REQUIRES", None)
        check_core_range(name, core_requires, core_version)
        candidates.append((name, module, None, core_requires, getattr(module, "__version__", "0")))
    if allowed is not None:
        known = {c[0] for c in candidates} | {b.name for b in host.blocked}
        missing = [name for name in allowed if name not in known]
        if missing:
            raise PluginError(
                f"CARNET_ALLOWED_PLUGINS names {', '.join(missing)} but no such plugin is installed; "
                f"installed: {', '.join(sorted(known)) or 'none'}"
            )
    for name, module, dist_name, core_requires, version in candidates:
        if name in host.plugins:
            raise PluginError(f"two plugins are named '{name}'; plugin names must be unique")
        pm.register(module, name=name)
        host.plugins[name] = PluginInfo(
            name=name, version=version, module=module, distribution=dist_name,
            core_requires=core_requires, root=_root_of(module),
        )
    for name, specs in host.call_each("register_hookspecs"):
        _add_plugin_hookspecs(pm, name, specs)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin '{pm.get_name(exc.plugin)}': {exc}") from None
    _load_plugin_settings(host)
    _check_models(host)
    return host


def _check_models(host: PluginHost) -> None:
    """Fail at start when a model of core or of a loaded plugin breaks the schema contract (a table
    without its prefix, a sealed column outside a clinic table, a reference that may cross clinics)."""
    from carnet_core.db.schema import SchemaError, check_schema

    try:
        check_schema(host)
    except SchemaError as exc:
        raise PluginError(str(exc)) from None


def _add_plugin_hookspecs(pm: pluggy.PluginManager, plugin: str, specs: Any) -> None:
    """Publish a plugin's own hooks; their names must start with the plugin's name."""
    names = [n for n in dir(specs) if not n.startswith("_") and pm.parse_hookspec_opts(specs, n)]
    wrong = [n for n in names if not n.startswith(f"{plugin}_")]
    if wrong:
        raise PluginError(f"plugin '{plugin}' publishes hooks {', '.join(wrong)}; prefix them with '{plugin}_'")
    pm.add_hookspecs(specs)


def _load_plugin_settings(host: PluginHost) -> None:
    values: dict[str, Any] = {}
    for name, info in host.plugins.items():
        if name == CORE_PLUGIN:
            continue
        impl = getattr(info.module, "register_settings", None)
        model = impl() if impl is not None else None
        if model is not None:
            info.settings = plugin_settings_from_env(name, model, host.settings.env)
            values[name] = info.settings
    host.settings = host.settings.with_plugin_settings(values)
