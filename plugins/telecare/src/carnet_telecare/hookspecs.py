"""Hooks the telecare plugin publishes for other plugins (billing, …).

Implement them with ``@hookimpl(optionalhook=True)`` so your plugin still loads when telecare is
absent. They are called only for plugins the session's clinic has enabled; `db` is that clinic's
session, bound to the request's principal. Read what you need, write nothing.
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
