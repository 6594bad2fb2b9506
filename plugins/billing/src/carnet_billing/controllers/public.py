"""The patient's side of the unpaid follow-up: the link in the e-mail opens the note (signed,
expiring, several uses, audited), and downloads it. Mounted under /p/{clinic_slug}/billing; the
URL carries the link's token only. The download is the note's PDF/A kept by the worker
(`services/documents.py`), or, while the worker has not rendered it yet, the note as a printable
HTML page."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Response, Template

from carnet_billing.models import Note
from carnet_billing.money import euros
from carnet_billing.services import documents, followup, notes, payments
from carnet_core.plugin_api import (
    PUBLIC,
    CarnetSession,
    client_address,
    keep_page,
    links,
    open_or_unreadable,
    readable,
    refusal_page,
)

OPT = {"permission": PUBLIC}
DB = NamedDependency[CarnetSession]


def _context(request: Request[Any, Any, Any], db: CarnetSession, token: str) -> dict[str, Any]:
    link = links.open_link(db, token, followup.VIEW, client_address(request))
    note = db.get(Note, link.subject_id)
    if note is None or note.patient_id != link.patient_id:
        raise links.LinkRefused(links.UNKNOWN, link)
    links.audit_access(db, link, resource_type="billing_note")
    lines = [notes.opened_line(db, line) for line in notes.lines_of(db, note)]
    return {"note": note, "lines": lines, "issuer": json.loads(note.issuer or "{}"), "euros": euros,
            "name": None if note.name_withheld else readable(open_or_unreadable(db, note, "patient_name")),
            "balance": payments.balance(db, note), "token": token,
            "base": f"/p/{request.scope['state']['public_clinic'].slug}/billing"}


@get("/n/{token:str}", name="billing.public.note", opt=OPT, sync_to_thread=True)
def note_page(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Template:
    """The note, as the patient received the link to it."""
    try:
        context = _context(request, db, token)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    return keep_page(request, "billing/public_note.html", context)


@get("/n/{token:str}/download", name="billing.public.download", opt=OPT, sync_to_thread=True)
def download(request: Request[Any, Any, Any], db: DB, token: FromPath[str]) -> Any:
    """The note as a file to keep or print: its PDF, else an HTML page without the site's navigation."""
    try:
        context = _context(request, db, token)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    note = context["note"]
    pdf = followup.pdf_of(db, note)
    if pdf is not None:
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{documents.file_name(note)}"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
    answer = keep_page(request, "billing/note_print.html", context)
    answer.headers["Content-Disposition"] = f'attachment; filename="note-{context["note"].number}.html"'
    return answer


PUBLIC_HANDLERS = [note_page, download]
