"""`carnet init`: create local folders, apply migrations, create key material. Idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from carnet_core import statefiles
from carnet_core.db import migrate
from carnet_core.settings import Settings


class SchemaDrift(RuntimeError):
    """The migrated database does not match the models: `carnet init` exits non-zero."""


def initialise(settings: Settings, host: Any, db: Any) -> Iterator[str]:
    """Folders, migrations, key material; then, if the migrated database does not match the
    models of core and the loaded plugins, raise SchemaDrift naming each difference (after the
    other steps, so keys are still made)."""
    statefiles.private_umask()
    for folder in (settings.home, settings.mail_dir, settings.sms_dir, settings.keys_dir):
        statefiles.private_dir(folder)
    yield f"state folder: {settings.home} (private: folders 0700, files 0600)"
    before, heads = migrate.current_heads(db, host)
    migrate.upgrade(db, host)
    after, _ = migrate.current_heads(db, host)
    differences = [migrate.describe(d) for d in migrate.drift(db, host)]
    if differences:
        yield f"database: migrated, but {len(differences)} difference(s) from the models remain"
    else:
        yield "database: up to date" if before == after else f"database: migrated to {', '.join(sorted(after))}"
    from carnet_core import setup_steps

    for step in setup_steps.steps():
        yield from step(settings, host, db)
    changed = statefiles.tighten(settings)
    if changed:
        yield f"state files: {changed} modes tightened to 0700/0600"
    if differences:
        raise SchemaDrift(
            "the database does not match the models after every migration ran:\n  "
            + "\n  ".join(differences)
            + "\nA plugin or core area changed a model without a migration (its authors: add one with "
            "`carnet migrations new`), or the database was changed by hand. Do not serve until it is fixed: "
            "the code would read and write columns the database does not have."
        )
