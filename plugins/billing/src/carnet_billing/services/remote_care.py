"""What billing proposes after a télésoin session's report (telecare's hook
`telecare_session_act_proposal`; telecare's tables are never read): the remote-care act of the
practitioner's profession with its key letter (data/ngap_key_letters.json, "remote_care": TMK for
a kiné, AMO for an orthophoniste), taken from the clinic's catalogue of acts when it holds one with
that letter, and the page where the note is prepared. Nothing for a profession without one. An
assessment ("bilan") is never proposed: an initial one cannot be made remotely, and the catalogue
does not tell an initial assessment from a renewal (an act is only a label and a code)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlmodel import select

from carnet_billing.models import NGAP, Act
from carnet_billing.services.tariffs import letters, shipped
from carnet_core.plugin_api import CarnetSession

LISTED = 3  # acts named in the proposal; the note page lists the whole catalogue


def remote_letter(profession: str) -> str | None:
    found = shipped().get("remote_care", {}).get(profession)
    return found if isinstance(found, str) else None


def _code(act: Act) -> str:
    return f"{act.letter} {Decimal(act.coefficient_hundredths or 0) / 100:g}".replace(".", ",")


def propose(db: CarnetSession, profession: str) -> dict[str, Any] | None:
    """The remote-care act for a session of this profession: its key letter (and what it stands
    for), the catalogue's active acts with that letter (code and label), where to prepare the note
    and where an owner adds the act when the catalogue has none."""
    letter = remote_letter(profession)
    if letter is None:
        return None
    rows = db.exec(select(Act).where(Act.active == True, Act.kind == NGAP, Act.letter == letter)  # noqa: E712
                   .order_by(Act.label, Act.id))
    found = [a for a in rows if "bilan" not in a.label.casefold()][:LISTED]
    return {"module": "billing", "letter": letter, "letter_label": letters().get(letter, {}).get("label", ""),
            "acts": [{"code": _code(a), "label": a.label} for a in found],
            "href": "/billing/notes/new", "catalogue_href": "/billing/tariffs"}
