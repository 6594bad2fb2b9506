"""`carnet billing …`: commands for operators and accountants (wiring and output only)."""

from __future__ import annotations

import sys
from typing import Any

import click


@click.group("billing")
def billing() -> None:
    """Billing: check the integrity of issued notes."""


@billing.command("verify")
@click.option("--clinic", "slug", default=None, help="Only this clinic (its slug); default: every clinic.")
@click.pass_obj
def verify(runtime: Any, slug: str | None) -> None:
    """Check each practitioner's hash chain of issued notes and credit notes. Exit 1 naming, for
    each practitioner whose chain is broken, the first altered, missing or inserted document."""
    from carnet_billing.services.chain import verify_clinics

    try:
        results = verify_clinics(runtime.db, slug)
    except LookupError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
    broken = 0
    for clinic, documents, problems in results:
        if not problems:
            click.echo(f"{clinic.slug}: intact ({documents} issued documents)")
        for problem in problems:
            broken += 1
            click.echo(f"{clinic.slug}: {problem}")
    if broken:
        sys.exit(1)
