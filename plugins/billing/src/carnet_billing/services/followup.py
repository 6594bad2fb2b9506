"""Unpaid follow-up: e-mails to the patient so many days after a note was issued (the clinic's
schedule, e.g. J+15 and J+30), each with a signed, expiring link to view and download the note.

- **Exactly once per step.** Planning a step inserts its row (unique per note and step in the
  database) in the same transaction as the job that sends it; the job delivers under an
  idempotency key (`billing.followup:<note>:<step>`) and records it. A note found late (the
  schedule switched on after J+30, or the scheduler down for days) gets only its latest due step;
  the earlier ones are recorded as skipped, never sent in a burst.
- **Stopped** as soon as the note is paid or cancelled (by credit notes): planning skips it, and
  the job checks again just before sending (a payment recorded in between stops it).
- **No amount, no act** in the e-mail: it says that a note of the practice awaits payment and
  carries the link; the note itself is shown behind the link (`controllers/public.py`).
"""

from __future__ import annotations

import base64
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import select

from carnet_billing.models import (
    CREDIT,
    ISSUED,
    NOTE,
    PLANNED,
    SKIPPED,
    Followup,
    FollowupSchedule,
    Note,
    Payment,
)
from carnet_billing.services import documents, notes, payments
from carnet_billing.services.errors import refuse
from carnet_core.plugin_api import N_, CarnetSession, enqueue, open_, utcnow

SEND = "billing.send_followup"
VIEW = "billing.view_note"  # the link's purpose
LINK_DAYS = 30
LINK_USES = 20
MAX_STEPS = 4
MAX_DAY = 365
UNPAID = (payments.UNPAID, payments.PARTLY_PAID)


def key(note_id: int, step: int) -> str:
    return f"billing.followup:{note_id}:{step}"


def schedule(db: CarnetSession) -> list[int]:
    """The clinic's days after issue, ascending (empty: no follow-up)."""
    row = db.exec(select(FollowupSchedule)).first()
    return parse_days(row.days) if row else []


def parse_days(raw: str) -> list[int]:
    days = []
    for part in raw.replace(";", ",").split(","):
        part = part.strip().upper().removeprefix("J").removeprefix("+").strip()
        if part:
            days.append(int(part))
    return sorted(set(days))


def save_schedule(db: CarnetSession, raw: str) -> list[int]:
    """Set the clinic's schedule from "15, 30" (or "J+15, J+30"); refused with a French field error."""
    try:
        days = parse_days(raw[:80])
    except ValueError:
        days = None
    if days is None or any(not 1 <= d <= MAX_DAY for d in days) or len(days) > MAX_STEPS:
        raise refuse("days", "invalid", N_("Enter up to %(n)s numbers of days between 1 and %(max)s, e.g. 15, 30."),
                     n=MAX_STEPS, max=MAX_DAY)
    row = db.exec(select(FollowupSchedule)).first() or FollowupSchedule()
    row.days = ", ".join(str(d) for d in days)
    row.updated_at = utcnow()
    db.add(row)
    db.flush()
    return days


def plan(db: CarnetSession, today: date) -> list[tuple[int, int]]:
    """Plan the steps due on `today` for the clinic's unpaid notes: (note id, step) enqueued."""
    days = schedule(db)
    if not days:
        return []
    earliest = today - timedelta(days=days[0])
    candidates = db.exec(select(Note).where(Note.status == ISSUED, Note.kind == NOTE, Note.issued_on <= earliest)
                         .order_by(Note.id)).all()
    planned = []
    for note in candidates:
        if payments.balance(db, note).status not in UNPAID:
            continue
        due = [d for d in days if note.issued_on + timedelta(days=d) <= today]  # type: ignore[operator]
        done = set(db.exec(select(Followup.step).where(Followup.note_id == note.id)).all())
        latest = due[-1]
        if latest in done:
            continue
        for step in due[:-1]:
            if step not in done:
                db.add(Followup(note_id=note.id, step=step, status=SKIPPED))  # type: ignore[arg-type]
        db.add(Followup(note_id=note.id, step=latest, status=PLANNED))  # type: ignore[arg-type]
        db.flush()
        enqueue(db, SEND, note.id, latest)
        planned.append((note.id, latest))  # type: ignore[arg-type]
    return planned


def still_unpaid(db: CarnetSession, note: Note) -> bool:
    return payments.balance(db, note).status in UNPAID


def states(db: CarnetSession, note_ids: list[int]) -> dict[int, list[Followup]]:
    """Each note's follow-up steps, for the pages."""
    if not note_ids:
        return {}
    rows = db.exec(select(Followup).where(Followup.note_id.in_(note_ids)).order_by(Followup.step)).all()  # type: ignore[union-attr]
    found: dict[int, list[Followup]] = {}
    for row in rows:
        found.setdefault(row.note_id, []).append(row)
    return found


def unpaid_count(db: CarnetSession, principal: Any) -> int:
    """How many issued notes this person sees are still (partly) unpaid, in one query: what
    `payments.balance` says note by note (what is left once its credit notes are deducted is
    above zero, and the payments are below it), for the home page, which runs it on every visit."""
    credit = aliased(Note)
    credited = (sa.select(sa.func.coalesce(sa.func.sum(credit.total_cents), 0))
                .where(credit.credit_of_id == Note.id, credit.kind == CREDIT).scalar_subquery())
    paid = (sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_cents), 0))
            .where(Payment.note_id == Note.id).scalar_subquery())
    remaining = Note.total_cents - credited
    query = sa.select(sa.func.count()).select_from(Note).where(
        notes.visible_filter(principal), Note.status == ISSUED, Note.kind == NOTE, remaining > 0, paid < remaining)
    return int(db.execute(query).scalar() or 0)


def unpaid_notes(db: CarnetSession, principal: Any) -> list[Note]:
    rows = notes.listing(db, principal, status=ISSUED, limit=500)
    return [n for n in rows if n.kind == NOTE and still_unpaid(db, n)]


def pdf_of(db: CarnetSession, note: Note) -> bytes | None:
    """The note's PDF kept by the worker (`services/documents.py`), or None while not rendered."""
    document = documents.of_note(db, note.id)  # type: ignore[arg-type]
    if document is None:
        return None
    return base64.b64decode(open_(db, document, "body") or "")
