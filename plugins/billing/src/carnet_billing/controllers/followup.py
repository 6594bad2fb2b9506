"""Unpaid notes and the clinic's follow-up schedule (owners set it), and the yearly payment
attestation of a patient. Thin: parse, call a service, render."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from carnet_billing import permissions as perm
from carnet_billing.controllers.pages import _common, _names
from carnet_billing.services import attestation, followup, notes, payments
from carnet_billing.services.documents import VAT_MENTION
from carnet_billing.services.errors import BillingInvalid, NotFound
from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    Form,
    Id,
    errors_of,
    form_page,
    page,
    principal_of,
    text,
)

FOLLOWUP_LABELS = {"planned": N_("being sent"), "sent": N_("sent"), "skipped": N_("skipped (late)"),
                   "stopped": N_("stopped (paid or cancelled)"), "no_email": N_("no e-mail address")}

DB = NamedDependency[CarnetSession]


def _context(request: Request[Any, Any, Any], db: CarnetSession,
             values: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = followup.unpaid_notes(db, principal_of(request))
    days = followup.schedule(db)
    return _common(request, rows=rows, balances={n.id: payments.balance(db, n) for n in rows},
                   steps=followup.states(db, [n.id for n in rows]), names=_names(db, request, rows),
                   days=days, days_text=", ".join(f"J+{d}" for d in days), followup_labels=FOLLOWUP_LABELS,
                   v=values if values is not None else {"days": ", ".join(str(d) for d in days)})


@get("/followup", name="billing.followup", opt={"permission": perm.VIEW}, sync_to_thread=True)
def followup_page(request: Request[Any, Any, Any], db: DB) -> Template:
    """Unpaid notes with their follow-up steps; owners set the schedule."""
    return page(request, "billing/followup.html", _context(request, db))


@post("/followup", name="billing.followup_save", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def save_schedule(request: Request[Any, Any, Any], db: DB, data: Form) -> Any:
    try:
        followup.save_schedule(db, text(data, "days", 80))
    except BillingInvalid as exc:
        db.rollback()
        return form_page(request, "billing/followup.html", _context(request, db, dict(data)), errors_of(request, exc))
    return Redirect("/billing/followup", status_code=303)


def _year(request: Request[Any, Any, Any], today: Any) -> int:
    """`?year=2026`: this year when missing, unreadable or out of range."""
    return _year_of(request.query_params.get("year"), today)


@get("/patients/{patient_id:int}/attestation", name="billing.attestation", opt={"permission": perm.VIEW},
     sync_to_thread=True)
def attestation_page(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id]) -> Template:
    """The payments a patient made in a year (`?year=2026`), per practitioner: to print and sign."""
    today = notes.clinic_today(db)
    year = _year(request, today)
    try:
        sheets, name = attestation.for_patient(db, principal_of(request), patient_id, year)
    except NotFound:
        raise NotFoundException() from None
    return page(request, "billing/attestation.html", _common(
        request, sheets=sheets, name=name, year=year, years=list(range(today.year, today.year - 6, -1)),
        patient_id=patient_id, today=today, vat_mention=VAT_MENTION))


def _year_of(value: Any, today: Any) -> int:
    """A year from a form: this year when missing, unreadable or out of range."""
    try:
        year = int(str(value or today.year)[:4])
    except ValueError:
        return int(today.year)
    return year if 2000 <= year <= today.year else int(today.year)


@post("/patients/{patient_id:int}/attestation.pdf", name="billing.attestation_pdf",
      opt={"permission": perm.VIEW}, sync_to_thread=True)
def ask_attestation_pdf(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id], data: Form) -> Any:
    """Ask the worker for the attestation as a PDF/A-3b, then follow it on its own page."""
    today = notes.clinic_today(db)
    try:
        asked = attestation.request_pdf(db, principal_of(request), patient_id, _year_of(data.get("year"), today), today)
    except NotFound:
        raise NotFoundException() from None
    return Redirect(f"/billing/attestations/{asked.id}", status_code=303)


def _state_page(request: Request[Any, Any, Any], asked: Any, status_code: int = 200, **context: Any) -> Template:
    state = attestation.state(asked)
    return page(request, "billing/attestation_pdf.html", _common(
        request, asked=asked, state=state, file_name=attestation.file_name(asked.year), **context),
        partial="billing/_attestation_state.html", status_code=status_code, keep=True)


@get("/attestations/{attestation_id:int}", name="billing.attestation_state", opt={"permission": perm.VIEW},
     sync_to_thread=True)
def attestation_state(request: Request[Any, Any, Any], db: DB, attestation_id: FromPath[Id]) -> Template:
    """Where the asked-for PDF stands (htmx polls this while the worker prepares it)."""
    attestation.expire_old(db)
    try:
        asked = attestation.get(db, principal_of(request), attestation_id)
    except NotFound:
        raise NotFoundException() from None
    return _state_page(request, asked)


@get("/attestations/{attestation_id:int}/pdf", name="billing.attestation_file", opt={"permission": perm.VIEW},
     sync_to_thread=True)
def attestation_file(request: Request[Any, Any, Any], db: DB, attestation_id: FromPath[Id]) -> Any:
    """The attestation's PDF/A-3b as an attachment (audited download); its page while the worker
    prepares it; 410 once its link expired."""
    try:
        asked, body = attestation.download(db, principal_of(request), attestation_id)
    except NotFound:
        raise NotFoundException() from None
    except BillingInvalid:  # expired: the sealed copy is wiped (kept: keep=True)
        asked = attestation.get(db, principal_of(request), attestation_id)
        return _state_page(request, asked, status_code=410)
    if body is None:
        return _state_page(request, asked)
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{attestation.file_name(asked.year)}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


FOLLOWUP_HANDLERS = [followup_page, save_schedule, attestation_page, ask_attestation_pdf, attestation_state,
                     attestation_file]
