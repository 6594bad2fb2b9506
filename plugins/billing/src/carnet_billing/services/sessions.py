"""Invoicing honoured sessions: drafts proposed from what scheduling says took place.

Scheduling is reached through its published hook `scheduling_honoured_sessions` (never its
tables); without scheduling (not installed, or not enabled for the clinic) there is simply no
session to invoice.

- **Never twice.** A line that invoices a session keeps its reference (`session_ref`,
  "scheduling.appointment:<id>"), unique within the clinic in the database. The rule: a session
  is invoiced while a line of a draft or of an issued note holds it. Deleting a draft, or removing
  the line from a draft, frees the session (a draft is not an invoice). A credit note does not:
  the issued note keeps its line, the credit note cancels amounts, not the fact that the session
  was invoiced; to bill it again after a cancellation, add the act by hand to a new note.
- **Grouping** (the practitioner's preference, `billing_profile.session_grouping`): one note per
  session; one per patient and month; or one per patient and treatment series (a session outside
  a series gets its own note). A proposed draft remembers its group (`session_group`), so a later
  batch adds that patient's further sessions of the month or series to the same draft while it is
  a draft.
- **Which act**: each session is invoiced with its own act, proposed per session: the act its
  practitioner last invoiced for that appointment type (`billing_type_act`, remembered by every
  batch), else the catalogue's only act named like the type (accents and case aside, one name
  within the other), else none: the page then asks for one, in the row or for all the others.
  Never a silent default (the catalogue's first act, "Bilan non remboursé", is no session's act).
- **Who**: staff who prepare notes (a practitioner only their own sessions); issuing at once
  follows `notes.issue` (the practitioner themself or an owner). A batch is one transaction: any
  refusal leaves nothing written.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import select

from carnet_billing.models import DRAFT, NOTE, PER_MONTH, PER_SERIES, PER_SESSION, Act, Note, NoteLine, TypeAct
from carnet_billing.services import notes, profiles
from carnet_billing.services.errors import refuse
from carnet_billing.services.notes import LineInput
from carnet_core.plugin_api import N_, CarnetSession, utcnow

MAX_BATCH = 200


@dataclass(frozen=True)
class Session:
    ref: str
    patient_id: int
    practitioner_id: int
    day: date
    type_name: str
    series_id: int | None
    place: str


def may_choose_practitioner(principal: Any) -> bool:
    """Owners and secretaries invoice anyone's sessions; a practitioner only their own."""
    return bool(set(principal.roles) & {"owner", "secretary"})


def honoured(db: CarnetSession, hooks: Any, start: date, end: date, practitioner_id: int | None) -> list[Session]:
    """Honoured, billable sessions with a day in [start, end), as scheduling tells them."""
    ask = None
    if hooks is not None:
        try:
            ask = hooks.scheduling_honoured_sessions
        except AttributeError:  # scheduling is not installed
            return []
    if ask is None:
        return []
    found = ask(db=db, start=start, end=end, practitioner_id=practitioner_id)
    sessions = [Session(ref=str(s["ref"]), patient_id=int(s["patient_id"]), practitioner_id=int(s["practitioner_id"]),
                        day=s["day"], type_name=str(s.get("type_name") or ""), series_id=s.get("series_id"),
                        place=str(s.get("place") or ""))
                for batch in found for s in batch]
    return sorted(sessions, key=lambda s: (s.day, s.ref))


def to_invoice(db: CarnetSession, principal: Any, hooks: Any, start: date, end: date,
               practitioner_id: int | None = None) -> list[Session]:
    """The sessions of the window not invoiced yet (on no draft, no issued note)."""
    if not may_choose_practitioner(principal):
        practitioner_id = principal.user_id
    sessions = honoured(db, hooks, start, end, practitioner_id)
    refs = [s.ref for s in sessions]
    taken = set(db.exec(select(NoteLine.session_ref).where(NoteLine.session_ref.in_(refs))).all()) if refs else set()  # type: ignore[union-attr]
    return [s for s in sessions if s.ref not in taken]


def group_of(session: Session, grouping: str) -> str | None:
    if grouping == PER_MONTH:
        return f"month:{session.patient_id}:{session.day:%Y-%m}"
    if grouping == PER_SERIES and session.series_id is not None:
        return f"series:{session.patient_id}:{session.series_id}"
    return None  # PER_SESSION, or a session outside any series


def _plain(text: str) -> str:
    """Lower case, no accents, single spaces: how a type name and an act label are compared."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in folded if not unicodedata.combining(c)).split())


def _named_like(type_name: str, catalogue: list[Act]) -> int | None:
    """The catalogue act named like the appointment type: the same name, else the only act whose
    label holds the type's name or is held by it (none when several could be meant)."""
    wanted = _plain(type_name)
    if not wanted:
        return None
    same = [a.id for a in catalogue if _plain(a.label) == wanted]
    if len(same) == 1:
        return same[0]
    near = [a.id for a in catalogue if (wanted in _plain(a.label) or _plain(a.label) in wanted) and _plain(a.label)]
    return near[0] if len(near) == 1 and not same else None


def proposals(db: CarnetSession, found: list[Session], catalogue: list[Act]) -> dict[str, int]:
    """The act proposed for each session (by ref), when there is one: what its practitioner last
    invoiced for the session's appointment type, else the act named like that type."""
    active = {a.id for a in catalogue}
    types = {s.type_name for s in found if s.type_name}
    remembered = {(r.practitioner_id, r.type_name): r.act_id for r in db.exec(
        select(TypeAct).where(TypeAct.type_name.in_(types))).all()} if types else {}  # type: ignore[attr-defined]
    proposed: dict[str, int] = {}
    for session in found:
        act_id = remembered.get((session.practitioner_id, session.type_name))
        if act_id not in active:
            act_id = _named_like(session.type_name, catalogue)
        if act_id is not None:
            proposed[session.ref] = act_id
    return proposed


def _remember(db: CarnetSession, session: Session, act_id: int) -> None:
    """The act invoiced for the session's type, proposed for that type's next sessions."""
    if not session.type_name:
        return
    row = db.exec(select(TypeAct).where(TypeAct.practitioner_id == session.practitioner_id,
                                        TypeAct.type_name == session.type_name)).first()
    if row is None:
        row = TypeAct(practitioner_id=session.practitioner_id, type_name=session.type_name[:120], act_id=act_id)
    elif row.act_id == act_id:
        return
    row.act_id, row.updated_at = act_id, utcnow()
    db.add(row)
    db.flush()


def _draft_for(db: CarnetSession, principal: Any, session: Session, group: str | None) -> Note:
    if group is not None:
        found = db.exec(select(Note).where(
            Note.status == DRAFT, Note.kind == NOTE, Note.practitioner_id == session.practitioner_id,
            Note.patient_id == session.patient_id, Note.session_group == group).order_by(Note.id)).first()
        if found is not None:
            return found
    return notes.create_draft(db, principal, practitioner_id=session.practitioner_id, patient_id=session.patient_id,
                              cares=session.practitioner_id == principal.user_id, session_group=group)


def invoice(db: CarnetSession, principal: Any, hooks: Any, *, start: date, end: date, practitioner_id: int | None,
            refs: list[str], act_id: int | None, acts: dict[str, int] | None = None, issue: bool = False) -> list[Note]:
    """Drafts for the chosen sessions of the window (grouped by each practitioner's preference),
    each session one line of its catalogue act (`acts[ref]`, else `act_id`) on its day and at its
    place; issued at once when `issue`. The act of each session's appointment type is remembered
    for the next batch. Returns the notes touched, in order."""
    chosen = list(dict.fromkeys(refs))
    own = {ref: value for ref, value in (acts or {}).items() if ref in chosen and value is not None}
    if not chosen:
        raise refuse("sessions", "required", N_("Select at least one session."))
    if len(chosen) > MAX_BATCH:
        raise refuse("sessions", "too_many", N_("%(n)s sessions at most in one batch."), n=MAX_BATCH)
    catalogue: dict[int, Act] = {}
    for wanted in {*own.values(), *([act_id] if act_id is not None else [])}:
        act = db.get(Act, wanted)
        if act is None or not act.active:
            raise refuse("act_id", "unknown", N_("Choose an act of the catalogue."))
        catalogue[wanted] = act
    if any(own.get(ref, act_id) is None for ref in chosen):
        raise refuse("act_id", "required", N_("Choose an act for each session: in its row, or below for the others."))
    available = {s.ref: s for s in to_invoice(db, principal, hooks, start, end, practitioner_id)}
    if any(ref not in available for ref in chosen):
        raise refuse("sessions", "already_invoiced",
                     N_("A chosen session is already invoiced or no longer honoured: reload the list."))
    touched: dict[int, Note] = {}
    preferences: dict[int, str] = {}
    for session in sorted((available[r] for r in chosen), key=lambda s: (s.day, s.ref)):
        if session.practitioner_id not in preferences:
            profile = profiles.get(db, session.practitioner_id)
            preferences[session.practitioner_id] = profile.session_grouping if profile else PER_SESSION
        act = catalogue[own.get(session.ref, act_id)]  # type: ignore[index]
        note = _draft_for(db, principal, session, group_of(session, preferences[session.practitioner_id]))
        notes.add_line(db, principal, note.id, LineInput(act_day=session.day, act_id=act.id, place=session.place,  # type: ignore[arg-type]
                                                         session_ref=session.ref))
        _remember(db, session, act.id)  # type: ignore[arg-type]
        touched[note.id] = note  # type: ignore[index]
    if issue:
        for note in touched.values():
            notes.issue(db, principal, note.id, hooks=hooks)  # type: ignore[arg-type]
    return list(touched.values())
