"""PDF of issued notes and credit notes (PDF/A-3b), rendered by the worker and kept sealed.

Decision — stored sealed, rendered once, deterministic:

- The PDF prints the patient's name and the acts: health data. It is rendered once, by the actor
  `billing.render_note` that issuing enqueues in its own transaction (never while answering a
  request: a page takes tens of milliseconds of CPU), and kept in `billing_document.body` sealed
  with core encryption (base64 text through `seal`, so key rotation re-seals it like every sealed
  column). The key is the clinic's, as for the note's own sealed texts: the note is an accounting
  record kept 10 years, and must still be produced after the patient's erasure destroys the
  patient's key (the name on it stays sealed).
- Why not regenerate on each download: a download must not render in the request, and the
  document the practitioner handed over is the one to hand over again, whatever later changes
  to templates or fonts would give. Rendering is nonetheless deterministic (dates from the note,
  no clock): a re-render of the same sealed data with the same template gives the same bytes
  (tested), which lets an auditor check a stored document against the note. No digest of it is
  kept in clear: the rest of the note is in clear, so a clear hash would confirm a guessed name.
- Downloads: the note's practitioner and owners (`billing.documents`; secretaries prepare drafts
  and record payments but do not take the documents away), each download audited.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from carnet_billing import permissions as perm
from carnet_billing.models import CREDIT, DOCUMENT_PDF, ISSUED, Document, Note
from carnet_billing.money import euros
from carnet_billing.services import notes
from carnet_billing.services.errors import NotFound
from carnet_core.plugin_api import (
    CarnetSession,
    JobContext,
    enqueue,
    once,
    open_,
    open_or_unreadable,
    record_at_commit,
    render_pdf,
    seal,
)
from carnet_core.plugin_api import record as audit_record

ACTOR = "billing.render_note"
TEMPLATE = "billing/pdf/note.html"
VAT_MENTION = "Exonéré de TVA – art. 261-4-1° du CGI"


def schedule(db: CarnetSession, note: Note) -> None:
    """Ask the worker for the note's PDF once the issuing transaction commits."""
    enqueue(db, ACTOR, note.id)


def of_note(db: CarnetSession, note_id: int) -> Document | None:
    return db.exec(select(Document).where(Document.note_id == note_id, Document.kind == DOCUMENT_PDF)).first()


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def context(db: CarnetSession, note: Note) -> dict[str, Any]:
    """What the PDF prints, from the note's frozen data only (its sealed texts opened)."""
    issuer = json.loads(note.issuer or "{}")
    lines = [notes.opened_line(db, line) for line in notes.lines_of(db, note)]
    original = db.get(Note, note.credit_of_id) if note.credit_of_id else None
    name = None if note.name_withheld else open_or_unreadable(db, note, "patient_name")
    return {
        "note": note, "issuer": issuer, "lines": lines, "original": original, "patient_name": name,
        "is_credit": note.kind == CREDIT, "euros": euros, "vat_mention": VAT_MENTION, "text": _text,
        "places": sorted({_text(line["place"]) for line in lines if line["place"]}),
    }


def render(db: CarnetSession, host: Any, note: Note) -> bytes:
    """The note's PDF/A-3b (deterministic: the same note gives the same bytes)."""
    title = ("Avoir n° " if note.kind == CREDIT else "Note d'honoraires n° ") + (note.number or "")
    created = note.issued_at or datetime(note.issued_on.year, note.issued_on.month, note.issued_on.day,  # type: ignore[union-attr]
                                         tzinfo=UTC)
    return render_pdf(host, TEMPLATE, context(db, note), locale="fr", title=title, created=created)


# The next id of billing_document's sequence (PostgreSQL)
_NEXT_ID = sa.func.nextval(sa.func.pg_get_serial_sequence("billing_document", "id"))


def store(db: CarnetSession, note: Note, pdf: bytes, document_id: int | None = None) -> Document:
    """Keep the PDF sealed. The row's id is part of the sealed value's associated data (as for every
    sealed column): on PostgreSQL it is taken from the table's sequence first (`document_id`, when
    the caller took it already), so the row is written once, sealed body and all; SQLite (no
    sequence) inserts the row, then seals the body into it."""
    document = Document(note_id=note.id, kind=DOCUMENT_PDF, size=len(pdf))  # type: ignore[arg-type]
    if db.get_bind().dialect.name == "postgresql":
        document.id = document_id if document_id is not None else db.execute(sa.select(_NEXT_ID)).scalar_one()
    seal(db, document, "body", base64.b64encode(pdf).decode("ascii"))  # (SQLite: inserts the row for its id)
    db.add(document)
    db.flush()
    return document


# Whether the note has its PDF, read with the note (the actor's first query)
_HAS_PDF = sa.exists().where(Document.note_id == Note.id, Document.kind == DOCUMENT_PDF)


def render_note(note_id: int, job: JobContext) -> None:
    """Actor `billing.render_note`: render and keep the PDF of an issued note, once (a redelivery,
    or a note whose PDF exists, does nothing). The note and whether it has its PDF come in one
    query; the record of the document is appended at commit, in one batch with core's trace of
    the values opened (one chain-head lock, one INSERT); on PostgreSQL the document's id comes
    with them too (a redelivery that renders nothing leaves a number of the sequence unused, as a
    rollback does)."""
    with job.session() as db:
        columns = (Note, _HAS_PDF, _NEXT_ID) if db.get_bind().dialect.name == "postgresql" else (Note, _HAS_PDF)
        found = db.exec(select(*columns).where(Note.id == note_id)).first()
        if found is None:
            return
        note, has_pdf, *next_id = found
        if note.status != ISSUED or has_pdf:
            return
        if not once(db, f"{ACTOR}:{note_id}"):
            return
        document = store(db, note, render(db, job.host, note), next_id[0] if next_id else None)
        record_at_commit(db, action="create", resource_type="billing_document", resource_id=document.id,
                         patient_id=note.patient_id, details={"note": note.id, "size": document.size})


def may_download(principal: Any, note: Note) -> bool:
    return principal.can(perm.DOCUMENTS) and (note.practitioner_id == principal.user_id
                                              or "owner" in principal.roles)


def file_name(note: Note) -> str:
    return f"{'avoir' if note.kind == CREDIT else 'note'}-{note.number}.pdf"


def download(db: CarnetSession, principal: Any, note_id: int) -> tuple[Note, bytes | None]:
    """The note's PDF for its practitioner or an owner (audited), None while the worker has not
    rendered it yet; NotFound for anyone else or a draft."""
    note = db.get(Note, note_id)
    if note is None or note.status != ISSUED or not may_download(principal, note):
        raise NotFound("no such document")
    document = of_note(db, note_id)
    if document is None:
        return note, None
    pdf = base64.b64decode(open_(db, document, "body") or "")
    audit_record(db, action="download", resource_type="billing_document", resource_id=document.id,
                 patient_id=note.patient_id, details={"note": note.id})
    return note, pdf


def request_render(db: CarnetSession, principal: Any, note_id: int) -> Note:
    """Ask again for the PDF of an issued note that has none (issued before documents existed, or
    a render that failed for good): the practitioner or an owner."""
    note = db.get(Note, note_id)
    if note is None or note.status != ISSUED or not may_download(principal, note):
        raise NotFound("no such document")
    if of_note(db, note_id) is None:
        schedule(db, note)
    return note
