"""Hooks the billing plugin publishes for other plugins (scheduling, accounting adapters, …).

Implement them with ``@hookimpl(optionalhook=True)`` so your plugin still loads when billing is
absent. They are called after the change is flushed, in the same transaction, only for plugins the
note's clinic has enabled; `db` is that clinic's session. Observers must not raise for ordinary
reasons: an exception rolls the change back. The note passed is frozen (issued): read it, never
change it.
"""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import hookspec


@hookspec
def billing_note_issued(note: Any, db: Any) -> None:
    """After a note d'honoraires (kind "note") is issued: it has its number (`note.number`)."""


@hookspec
def billing_note_paid(note: Any, payment: Any, db: Any) -> None:
    """After the payment (`payment`) that settles what was due on the note is recorded."""


@hookspec
def billing_note_cancelled(note: Any, credit_note: Any, db: Any) -> None:
    """After a credit note (`credit_note`, issued, with its own number) cancels the note, fully or
    partly (`credit_note.total_cents` of it)."""
