"""Command groups contributed by core areas; each area adds its import to `commands()`."""

from __future__ import annotations

import click


def commands() -> list[click.Command]:
    from carnet_core.audit.cli import audit
    from carnet_core.encryption.cli import check, keys

    found: list[click.Command] = [keys, check, audit]
    from carnet_core.identity.cli import COMMANDS as identity_commands

    found.extend(identity_commands)
    from carnet_core.jobs.cli import commands as jobs_commands

    found.extend(jobs_commands())
    from carnet_core.patients.cli import patients

    found.append(patients)
    from carnet_core.backup.cli import COMMANDS as backup_commands

    found.extend(backup_commands)
    from carnet_core.export.cli import COMMANDS as export_commands

    found.extend(export_commands)
    return found
