"""Command groups contributed by core areas; each area adds its import to `commands()`."""

from __future__ import annotations

import click


def commands() -> list[click.Command]:
    found: list[click.Command] = []
    return found
