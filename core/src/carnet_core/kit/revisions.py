"""`carnet migrations new PLUGIN -m MSG`: autogenerate a revision on the plugin's own branch.

The revision compares the plugin's models with what its migrations create: a throwaway SQLite
database is migrated with every migration of core and the installed plugins (never the
deployment's database, which may lag or lead), then Alembic's autogenerate writes the difference
for the plugin's tables only (`<plugin>_…`) into the plugin's migrations folder, as
`<plugin>_NNNN_<slug>.py` following the branch's head. Read and adjust it before committing:
autogenerate does not see row-level security (`enable_clinic_rls` for a new table), data
migrations or renames.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any


class RevisionError(RuntimeError):
    """The revision cannot be generated; the message says what to do."""


def _next_id(folder: Path, plugin: str) -> str:
    numbers = [int(m.group(1)) for p in folder.glob(f"{plugin}_*.py")
               if (m := re.match(rf"{re.escape(plugin)}_(\d+)", p.name))]
    return f"{plugin}_{max(numbers, default=0) + 1:04d}"


def new_revision(host: Any, plugin: str, message: str) -> Path:
    from alembic import command
    from alembic.script import ScriptDirectory

    from carnet_core.db.migrate import alembic_config, upgrade
    from carnet_core.db.session import Database

    if plugin not in host.names:
        raise RevisionError(f"no installed plugin '{plugin}' (installed: {', '.join(host.names) or 'none'})")
    info = host.plugins[plugin]
    folder = info.resource("migrations")
    if folder is None:
        if info.root is None:
            raise RevisionError(f"plugin '{plugin}' has no package folder to hold migrations")
        folder = Path(str(info.root)) / "migrations"
        folder.mkdir()
    folder = Path(str(folder))
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "revision"
    with tempfile.TemporaryDirectory(prefix="carnet-revision-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'heads.db'}")
        try:
            upgrade(db, host)
            cfg = alembic_config(db, host)
            cfg.attributes["prefixes"] = (f"{plugin}_",)  # this plugin's tables only
            cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
            script = ScriptDirectory.from_config(cfg)
            own = [r for r in script.walk_revisions()
                   if Path(r.path).resolve().parent == folder.resolve()]
            options: dict[str, Any] = {"head": f"{plugin}@head"}
            if not own:  # the plugin's first revision starts its branch, after core's
                options = {"head": "base", "branch_label": plugin,
                           "depends_on": ["core_0001", "core_identity_0001", "core_patients_0002", "core_rls_0001"]}
            with db.engine.connect() as conn:
                cfg.attributes["connection"] = conn
                written = command.revision(cfg, message=message, autogenerate=True, rev_id=_next_id(folder, plugin),
                                           version_path=str(folder), **options)
        finally:
            db.dispose()
    scripts = written if isinstance(written, list) else [written]
    path = Path(scripts[0].path)
    final = path.with_name(f"{scripts[0].revision}_{slug}.py")
    path.rename(final)
    return final
