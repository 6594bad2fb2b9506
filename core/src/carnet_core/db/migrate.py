"""One Alembic environment: core's branches plus each loaded plugin's `migrations/` folder."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

if TYPE_CHECKING:
    from carnet_core.db.session import Database
    from carnet_core.plugins import PluginHost

HERE = Path(__file__).parent


def import_models(host: PluginHost) -> None:
    """Import core's and each loaded plugin's models so the metadata is complete."""
    importlib.import_module("carnet_core.models")
    for name, info in host.plugins.items():
        package = getattr(info.module, "__package__", None)
        if name == "core" or not package:
            continue
        try:
            importlib.import_module(f"{package}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.models":
                raise


def owned_prefixes(host: PluginHost) -> tuple[str, ...]:
    return tuple(f"{name}_" for name in host.plugins)


def version_locations(host: PluginHost) -> list[str]:
    locations = [str(HERE / "migrations" / "versions")]
    for name, info in host.plugins.items():
        folder = info.resource("migrations") if name != "core" else None
        if folder is not None:
            locations.append(str(folder))
    return locations


def alembic_config(db: Database, host: PluginHost) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("path_separator", "os")
    import os

    cfg.set_main_option("version_locations", os.pathsep.join(version_locations(host)))
    cfg.attributes["host"] = host
    cfg.attributes["prefixes"] = owned_prefixes(host)
    return cfg


class MigrationError(RuntimeError):
    """A migration would leave the database inconsistent; nothing was applied."""


def upgrade(db: Database, host: PluginHost, target: str = "heads") -> None:
    """Apply every migration of core and loaded plugins (`upgrade heads`), in one transaction."""
    import_models(host)
    cfg = alembic_config(db, host)
    with db.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        raw = conn.connection.dbapi_connection
        if sqlite:
            # SQLite's way to rebuild a table (batch mode) that other tables' rows point at: foreign
            # keys off for the migration (a pragma that only takes effect outside a transaction),
            # every key checked before the commit, then on again for the pooled connection.
            raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL lock_timeout = 0")  # a migration waits for its locks
                    # row-level security: a migration's own statements act on every clinic's rows
                    conn.exec_driver_sql("SELECT set_config('carnet.unscoped', 'on', true)")
                if sqlite and not raw.in_transaction:
                    raw.execute("BEGIN IMMEDIATE")  # one transaction (the sqlite3 module runs DDL outside one)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, target)
                if sqlite:
                    _check_foreign_keys(raw)
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys = ON")


def _check_foreign_keys(raw: Any) -> None:
    broken = raw.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        shown = "; ".join(f"{table} row {rowid} -> {parent}" for table, rowid, parent, _ in broken[:10])
        raise MigrationError(
            f"the migration would leave {len(broken)} row(s) pointing at rows that do not exist or belong to "
            f"another clinic ({shown}); nothing was applied: correct or remove those rows, then run "
            "`carnet init` again"
        )


def current_heads(db: Database, host: PluginHost) -> tuple[set[str], set[str]]:
    """(revisions applied in the database, heads known to the code)."""
    cfg = alembic_config(db, host)
    script = ScriptDirectory.from_config(cfg)
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        applied = set(ctx.get_current_heads())
    return applied, effective_heads(script)


def effective_heads(script: ScriptDirectory) -> set[str]:
    """Heads as the database records them: a head that another head depends on (an area branch
    with `depends_on="core_0001"`) is folded into that head by Alembic's version table."""
    rmap = script.revision_map
    heads = set(script.get_heads())
    covered: set[str] = set()
    for head in heads:
        for rev in rmap._get_ancestor_nodes([rmap.get_revision(head)]):
            if rev.revision != head:
                covered.add(rev.revision)
    return heads - covered


def include_object_for(prefixes: tuple[str, ...]) -> Any:
    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return bool(name) and name.startswith(prefixes)
        table = getattr(obj, "table", None)
        if table is not None:
            return table.name.startswith(prefixes)
        return True

    return include_object


def drift(db: Database, host: PluginHost) -> list[Any]:
    """Differences between the models and the migrated database; empty when they agree."""
    import_models(host)
    prefixes = owned_prefixes(host)
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": False,
                "include_object": include_object_for(prefixes),
                "target_metadata": SQLModel.metadata,
            },
        )
        return compare_metadata(ctx, SQLModel.metadata)


def describe(diff: Any) -> str:
    """One line for an Alembic difference between the models and the database."""
    if isinstance(diff, list):  # the changes of one column come as a list
        return "; ".join(describe(d) for d in diff)
    kind = diff[0]
    where = "in the models, not in the database" if kind.startswith("add_") else "in the database, not in the models"
    if kind in ("add_table", "remove_table"):
        return f"table {diff[1].name} is {where}"
    if kind in ("add_column", "remove_column"):
        return f"column {diff[2]}.{diff[3].name} is {where}"
    if kind.startswith("modify_"):
        return f"column {diff[2]}.{diff[3]}: {kind[7:]} is {diff[5]!s} in the database, {diff[6]!s} in the models"
    obj = diff[1]
    table = getattr(getattr(obj, "table", None), "name", None) or getattr(getattr(obj, "parent", None), "name", "")
    what = kind.split("_", 1)[1].replace("fk", "foreign key")
    return f"{what} {getattr(obj, 'name', None) or ''} on {table} is {where}".replace("  ", " ")
