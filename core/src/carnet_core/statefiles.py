"""Local state is private to the account that runs Carnet.

`CARNET_HOME` holds the SQLite database (with its WAL and shared-memory files), the keys, and the
e-mails and SMS written instead of being sent: health practice data, even when sealed. Folders are
0700 and files 0600, by three means:

- every process that touches state sets its umask to 077 first (`private_umask`), so whatever it
  creates (the database and the files SQLite adds next to it, e-mails, SMS, key files, anchors)
  is created private;
- code that creates a state file passes the mode explicitly (`PRIVATE_FILE`, `PRIVATE_DIR`);
- `carnet init` (and each web, worker or scheduler start, for the folders and the database)
  tightens an installation made before, by an older version or under another umask
  (`tighten`).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from carnet_core.settings import Settings

PRIVATE_UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# Public on purpose: the audit verification key, meant to be copied elsewhere (still inside the
# 0700 keys folder).
PUBLIC_SUFFIXES = (".pub",)

log = logging.getLogger("carnet.state")


def private_umask() -> None:
    """Make everything this process creates private (no group or other bits)."""
    os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    _chmod(path, PRIVATE_DIR)
    return path


def sqlite_files(settings: Settings) -> list[Path]:
    """The SQLite database file and the journal files SQLite keeps next to it."""
    if not settings.is_sqlite:
        return []
    raw = settings.database_url.split("///", 1)[-1].split("?", 1)[0]
    if not raw or raw == ":memory:":
        return []
    base = Path(raw)
    return [base, *(base.with_name(base.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def tighten(settings: Settings, *, files: bool = True) -> int:
    """Make the state folders 0700 and the database files 0600; with `files`, every file of the
    mail, SMS and keys folders too (public keys excepted). Returns how many modes changed."""
    changed = 0
    for folder in (settings.home, settings.mail_dir, settings.sms_dir, settings.keys_dir):
        if folder.exists():
            changed += _chmod(folder, PRIVATE_DIR)
        else:
            private_dir(folder)
    for path in sqlite_files(settings):
        if path.exists():
            changed += _chmod(path, PRIVATE_FILE)
    if files:
        for folder in (settings.mail_dir, settings.sms_dir, settings.keys_dir):
            for path in folder.iterdir():
                if path.is_file() and not path.name.endswith(PUBLIC_SUFFIXES):
                    changed += _chmod(path, PRIVATE_FILE)
    if changed:
        log.info("state files: %d modes tightened", changed)
    return changed


def _chmod(path: Path, mode: int) -> int:
    current = stat.S_IMODE(path.stat().st_mode)
    if current == mode:
        return 0
    try:
        os.chmod(path, mode)
    except PermissionError:  # owned by another account (a mounted secret): say so, go on
        log.warning("state file %s is mode %o and not ours to change; make it %o", path.name, current, mode)
        return 0
    return 1
