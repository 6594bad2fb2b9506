"""`carnet init`: create local folders, apply migrations, create key material. Idempotent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from carnet_core.db import migrate
from carnet_core.settings import Settings


def initialise(settings: Settings, host: Any, db: Any) -> Iterator[str]:
    for folder in (settings.home, settings.mail_dir, settings.sms_dir, settings.keys_dir):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.keys_dir, 0o700)
    yield f"state folder: {settings.home}"
    before, heads = migrate.current_heads(db, host)
    migrate.upgrade(db, host)
    after, _ = migrate.current_heads(db, host)
    yield "database: up to date" if before == after else f"database: migrated to {', '.join(sorted(after))}"
    from carnet_core import setup_steps

    for step in setup_steps.steps():
        yield from step(settings, host, db)
