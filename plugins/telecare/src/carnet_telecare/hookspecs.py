"""Hooks the telecare plugin publishes for other plugins (billing, …).

Implement them with ``@hookimpl(optionalhook=True)`` so your plugin still loads when telecare is
absent. They are called only for plugins the clinic has enabled; `db` is that clinic's session,
bound to the request's principal. The events (message received, session started, ended) are called
after the change is flushed, in the same transaction: an exception rolls the change back, so
observers must not raise for ordinary reasons; rows passed hold ids and sealed columns (open only
what you need, through core: it is audited).
"""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import hookspec


@hookspec
def telecare_session_act_proposal(session: Any, profession: str, db: Any) -> dict[str, Any] | None:
    """On the page of a télésoin session whose report is saved: the act to bill, or None.

    `profession` is the practitioner's, a code of telecare's `data/acts.json` ("" when not said).
    Return `{"module": "billing", "letter": "TMK", "letter_label": "...", "acts": [{"code":
    "TMK 7,5", "label": "..."}], "href": "/billing/notes/new", "catalogue_href": "/billing/tariffs"}`:
    the key letter of the remote-care act, the catalogue's acts with it (may be empty), where the
    note is prepared and where the act is added to the catalogue."""


@hookspec
def telecare_message_received(message: Any, conversation: Any, db: Any) -> None:
    """After a patient's message is stored: an answer, or the first message of a conversation the
    patient started (`message.author == "patient"`; `conversation.practitioner_id` None for the
    secretariat's)."""


@hookspec
def telecare_session_started(session: Any, db: Any) -> None:
    """After the practitioner admits the patient of a télésoin session (`session.status` "started")."""


@hookspec
def telecare_session_ended(session: Any, db: Any) -> None:
    """After a télésoin session ends (`session.status` "ended"); not for one already ended."""
