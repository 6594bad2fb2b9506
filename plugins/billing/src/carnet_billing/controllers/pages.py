"""Billing pages (French first, every page works without JavaScript): notes, a note with its
acts, the billing profile, tariffs. Thin: parse the form, call a service, render or redirect; a
refused form comes back as the same page (422, `text/html`, nothing written)."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template
from sqlmodel import select

from carnet_billing import permissions as perm
from carnet_billing.models import DRAFT, GROUPINGS, ISSUED, METHODS, PAYERS, ZONES
from carnet_billing.money import euros, parse_amount, parse_coefficient
from carnet_billing.services import acts, chain, documents, notes, payments, profiles, tariffs
from carnet_billing.services.errors import BillingInvalid, NotFound
from carnet_billing.services.notes import LineInput
from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    Form,
    FormErrors,
    Id,
    Membership,
    User,
    clinic_hooks,
    day,
    errors_of,
    flag,
    form_page,
    integer,
    page,
    patient_access,
    principal_of,
    record,
    text,
    translate,
)

DB = NamedDependency[CarnetSession]
NoteId = FromPath[Id]
LineId = FromPath[Id]
ZONE_LABELS = {"metropole": N_("Metropolitan France"), "outre_mer": N_("Overseas departments")}
KIND_LABELS = {"note": N_("Note"), "credit": N_("Credit note")}
STATUS_LABELS = {DRAFT: N_("draft"), ISSUED: N_("issued"), payments.PARTLY_PAID: N_("partly paid"),
                 payments.PAID: N_("paid"), payments.CANCELLED: N_("cancelled")}
METHOD_LABELS, PAYER_LABELS = payments.METHOD_LABELS, payments.PAYER_LABELS


def _common(request: Request[Any, Any, Any], **context: Any) -> dict[str, Any]:
    return {"euros": euros, "kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS,
            "zone_labels": ZONE_LABELS, "zones": ZONES, "methods": METHODS, "payers": PAYERS,
            "method_labels": METHOD_LABELS, "payer_labels": PAYER_LABELS, "principal": principal_of(request),
            "perm": perm, "errors": FormErrors(), "v": {}, **context}


def _staff(db: CarnetSession) -> list[Any]:
    rows = db.exec(select(User, Membership).join(Membership, Membership.user_id == User.id)
                   .where(Membership.active == True)).all()  # noqa: E712
    return sorted((u for u, m in rows if m.role_set & {"practitioner"}), key=lambda u: u.display_name or u.email)


def _names(db: CarnetSession, request: Request[Any, Any, Any], rows: list[Any]) -> dict[int, str]:
    """Patients' names as this person may see them (their own notes' patients count as theirs)."""
    principal = principal_of(request)
    ids = {n.patient_id for n in rows}
    own = {n.patient_id for n in rows if n.practitioner_id == principal.user_id}
    return patient_access(db, principal).names(ids, cared_for=own)


# --- notes --------------------------------------------------------------------------------------


@get("/", name="billing.notes", opt={"permission": perm.VIEW}, sync_to_thread=True)
def notes_page(request: Request[Any, Any, Any], db: DB) -> Template:
    rows = notes.listing(db, principal_of(request))
    issued = [n for n in rows if n.status == ISSUED]
    # Each practitioner numbers their own series: whoever sees several practitioners' notes (an
    # owner, the secretariat) needs to know whose 2026-000006 each one is.
    shown = {n.practitioner_id for n in rows}
    practitioners = {u.id: u.display_name or u.email for u in _staff(db) if u.id in shown} if len(shown) > 1 else {}
    return page(request, "billing/notes.html", _common(
        request, drafts=[n for n in rows if n.status == DRAFT], issued=issued, practitioners=practitioners,
        balances={n.id: payments.balance(db, n) for n in issued}, names=_names(db, request, rows)))


def _new_context(request: Request[Any, Any, Any], db: CarnetSession, values: dict[str, Any]) -> dict[str, Any]:
    q = text(values, "q", 200)
    results = None
    if q:
        results = [(r.id, r.display_name or "") for r in patient_access(db, principal_of(request)).search(q)]
    return _common(request, v=values, results=results, staff=_staff(db))


@get("/notes/new", name="billing.note_new", opt={"permission": perm.PREPARE}, sync_to_thread=True)
def new_note_page(request: Request[Any, Any, Any], db: DB) -> Template:
    mine = str(principal_of(request).user_id or "")
    return page(request, "billing/note_new.html", _new_context(request, db, {"practitioner": mine}))


@post("/notes/new", name="billing.note_search", opt={"permission": perm.PREPARE}, sync_to_thread=True,
      status_code=200)
def search_patient(request: Request[Any, Any, Any], db: DB, data: Form) -> Template:
    """The patient search of the new-note form (a POST: a name never goes into an address)."""
    return page(request, "billing/note_new.html", _new_context(request, db, dict(data)))


@post("/notes", name="billing.note_create", opt={"permission": perm.PREPARE}, sync_to_thread=True)
def create_note(request: Request[Any, Any, Any], db: DB, data: Form) -> Any:
    errors = FormErrors()
    patient_id = integer(request, data, "patient_id", errors)
    practitioner_id = integer(request, data, "practitioner", errors)
    if not errors:
        try:
            note = notes.create_draft(db, principal_of(request), practitioner_id=practitioner_id,  # type: ignore[arg-type]
                                      patient_id=patient_id, name_withheld=flag(data, "name_withheld"))  # type: ignore[arg-type]
        except BillingInvalid as exc:
            found = errors_of(request, exc)
            errors.update({{"practitioner_id": "practitioner"}.get(k, k): m for k, m in found.items()})
        else:
            return Redirect(f"/billing/notes/{note.id}", status_code=303)
    return form_page(request, "billing/note_new.html", _new_context(request, db, dict(data)), errors)


def _note_context(request: Request[Any, Any, Any], db: CarnetSession, note_id: int,
                  values: dict[str, Any] | None = None) -> dict[str, Any]:
    principal = principal_of(request)
    try:
        note, lines = notes.read(db, principal, note_id)
    except NotFound:
        raise NotFoundException() from None
    related = notes.credits_of(db, note)
    original = notes.get(db, principal, note.credit_of_id) if note.credit_of_id else None
    return _common(
        request, note=note, lines=lines, credits=related, original=original,
        name=_names(db, request, [note]).get(note.patient_id),
        remaining=notes.remaining_cents(db, note) if note.status == ISSUED else None,
        balance=payments.balance(db, note), payments=payments.of_note(db, note),
        may_pay=principal.can(perm.PAYMENTS),
        may_issue=principal.can(perm.ISSUE) and (
            note.practitioner_id == principal.user_id or "owner" in principal.roles),
        may_prepare=principal.can(perm.PREPARE), letters=tariffs.known_letters(db),
        may_download=note.status == ISSUED and documents.may_download(principal, note),
        document=documents.of_note(db, note.id) if note.status == ISSUED else None,
        catalogue=acts.listing(db, active_only=True),
        today=notes.clinic_today(db).isoformat(), v=values or {},
    )


@get("/notes/{note_id:int}", name="billing.note", opt={"permission": perm.VIEW}, sync_to_thread=True)
def note_page(request: Request[Any, Any, Any], db: DB, note_id: NoteId) -> Template:
    return page(request, "billing/note.html", _note_context(request, db, note_id))


def _refused(request: Request[Any, Any, Any], db: CarnetSession, note_id: int, errors: FormErrors,
             data: dict[str, Any]) -> Template:
    db.rollback()
    return form_page(request, "billing/note.html", _note_context(request, db, note_id, dict(data)), errors)


def _service(request: Request[Any, Any, Any], db: CarnetSession, note_id: int, data: dict[str, Any],
             action: Any, errors: FormErrors | None = None) -> Any:
    """Run a service call on the note: 404 when it is not to be seen, the page again with the
    field messages when refused, else back to the note."""
    errors = errors if errors is not None else FormErrors()
    if not errors:
        try:
            action()
        except NotFound:
            raise NotFoundException() from None
        except BillingInvalid as exc:
            errors.update(errors_of(request, exc))
    if errors:
        return _refused(request, db, note_id, errors, data)
    return Redirect(f"/billing/notes/{note_id}", status_code=303)


@post("/notes/{note_id:int}/lines", name="billing.line_add", opt={"permission": perm.PREPARE}, sync_to_thread=True)
def add_line(request: Request[Any, Any, Any], db: DB, note_id: NoteId, data: Form) -> Any:
    errors = FormErrors()
    act_day = day(request, data, "act_day", errors)
    quantity = integer(request, data, "quantity", errors, required=False, low=1, high=notes.MAX_QUANTITY) or 1
    act_id = integer(request, data, "act_id", errors, required=False)
    letter = None if act_id else (text(data, "letter", 8) or None)
    coefficient = price = None
    if letter:
        coefficient = parse_coefficient(text(data, "coefficient", 12))
        if coefficient is None:
            errors["coefficient"] = translate(request, "Enter a coefficient between 0,01 and 100.")
    elif not act_id and text(data, "price", 16):
        price = parse_amount(text(data, "price", 16))
        if price is None:
            errors["price"] = translate(request, "Enter an amount in euros with two decimals at most.")
    line = LineInput(act_day=act_day or date.min, act_id=act_id, letter=letter, coefficient_hundredths=coefficient,
                     price=price, label=text(data, "label", 300), place=text(data, "place", 300), quantity=quantity)
    return _service(request, db, note_id, data, lambda: notes.add_line(db, principal_of(request), note_id, line),
                    errors)


@post("/notes/{note_id:int}/lines/{line_id:int}/remove", name="billing.line_remove",
      opt={"permission": perm.PREPARE}, sync_to_thread=True)
def remove_line(request: Request[Any, Any, Any], db: DB, note_id: NoteId, line_id: LineId, data: Form) -> Any:
    return _service(request, db, note_id, data, lambda: notes.remove_line(db, principal_of(request), note_id, line_id))


@post("/notes/{note_id:int}/delete", name="billing.note_delete", opt={"permission": perm.PREPARE},
      sync_to_thread=True)
def delete_note(request: Request[Any, Any, Any], db: DB, note_id: NoteId, data: Form) -> Any:
    answer = _service(request, db, note_id, data, lambda: notes.delete_draft(db, principal_of(request), note_id))
    return Redirect("/billing/", status_code=303) if isinstance(answer, Redirect) else answer


@post("/notes/{note_id:int}/issue", name="billing.note_issue", opt={"permission": perm.ISSUE}, sync_to_thread=True)
def issue_note(request: Request[Any, Any, Any], db: DB, note_id: NoteId, data: Form) -> Any:
    return _service(request, db, note_id, data, lambda: notes.issue(db, principal_of(request), note_id,
                                                                    hooks=clinic_hooks(request)))


@post("/notes/{note_id:int}/credit", name="billing.note_credit", opt={"permission": perm.ISSUE},
      sync_to_thread=True)
def credit_note(request: Request[Any, Any, Any], db: DB, note_id: NoteId, data: Form) -> Any:
    errors = FormErrors()
    amount = None
    if text(data, "amount", 16):
        amount = parse_amount(text(data, "amount", 16))
        if amount is None:
            errors["amount"] = translate(request, "Enter an amount in euros with two decimals at most.")
    created: list[Any] = []
    answer = _service(request, db, note_id, data,
                      lambda: created.append(notes.credit(db, principal_of(request), note_id, amount,
                                                                     hooks=clinic_hooks(request))), errors)
    if created and isinstance(answer, Redirect):
        return Redirect(f"/billing/notes/{created[0].id}", status_code=303)
    return answer


@post("/notes/{note_id:int}/payments", name="billing.payment_add", opt={"permission": perm.PAYMENTS},
      sync_to_thread=True)
def add_payment(request: Request[Any, Any, Any], db: DB, note_id: NoteId, data: Form) -> Any:
    errors = FormErrors()
    paid_on = day(request, data, "paid_on", errors)
    amount = parse_amount(text(data, "amount", 16))
    if amount is None:
        errors["amount"] = translate(request, "Enter an amount in euros with two decimals at most.")
    return _service(request, db, note_id, data, lambda: payments.record(
        db, principal_of(request), note_id, amount=amount, paid_on=paid_on,  # type: ignore[arg-type]
        method=text(data, "method", 8), payer=text(data, "payer", 8) or "patient", hooks=clinic_hooks(request)),
        errors)


@get("/notes/{note_id:int}/pdf", name="billing.note_pdf", opt={"permission": perm.DOCUMENTS}, sync_to_thread=True)
def note_pdf(request: Request[Any, Any, Any], db: DB, note_id: NoteId) -> Any:
    """The note's PDF/A as an attachment (its practitioner or an owner; audited), or a page saying
    it is being prepared by the worker."""
    try:
        note, pdf = documents.download(db, principal_of(request), note_id)
    except NotFound:
        raise NotFoundException() from None
    if pdf is None:
        return page(request, "billing/document_pending.html", _common(request, note=note))
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{documents.file_name(note)}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@post("/notes/{note_id:int}/pdf", name="billing.note_pdf_render", opt={"permission": perm.DOCUMENTS},
      sync_to_thread=True)
def render_note_pdf(request: Request[Any, Any, Any], db: DB, note_id: NoteId, data: Form) -> Any:
    """Ask the worker for the PDF of a note that has none yet (issued before documents existed)."""
    try:
        documents.request_render(db, principal_of(request), note_id)
    except NotFound:
        raise NotFoundException() from None
    return Redirect(f"/billing/notes/{note_id}/pdf", status_code=303)


# --- profile and tariffs ------------------------------------------------------------------------

PROFILE_FIELDS = ("name", "profession", "address", "rpps", "adeli", "siret", "zone", "footer", "session_grouping")
GROUPING_LABELS = {"session": N_("one note per session"), "month": N_("one note per patient and month"),
                   "series": N_("one note per patient and series")}


def _profile_context(request: Request[Any, Any, Any], db: CarnetSession,
                     values: dict[str, Any] | None) -> dict[str, Any]:
    profile = profiles.get(db, principal_of(request).user_id)  # type: ignore[arg-type]
    if values is None:
        values = ({f: getattr(profile, f) for f in PROFILE_FIELDS} if profile
                  else {"zone": "metropole", "session_grouping": "session"})
        values["conventionne"] = profile.conventionne if profile else True
    missing = profiles.missing_mentions(profile)
    return _common(request, v=values, missing=[profiles.MENTIONS[m] for m in missing], groupings=GROUPINGS,
                   grouping_labels=GROUPING_LABELS)


@get("/profile", name="billing.profile", opt={"permission": perm.PROFILE}, sync_to_thread=True)
def profile_page(request: Request[Any, Any, Any], db: DB) -> Template:
    return page(request, "billing/profile.html", _profile_context(request, db, None))


@post("/profile", name="billing.profile_save", opt={"permission": perm.PROFILE}, sync_to_thread=True)
def save_profile(request: Request[Any, Any, Any], db: DB, data: Form) -> Any:
    values: dict[str, Any] = {f: text(data, f, 600) for f in PROFILE_FIELDS}
    values["conventionne"] = flag(data, "conventionne")
    try:
        profiles.save(db, principal_of(request).user_id, values)  # type: ignore[arg-type]
    except BillingInvalid as exc:
        db.rollback()
        return form_page(request, "billing/profile.html", _profile_context(request, db, values),
                         errors_of(request, exc))
    return Redirect("/billing/profile", status_code=303)


def _tariffs_context(request: Request[Any, Any, Any], db: CarnetSession,
                     values: dict[str, Any] | None) -> dict[str, Any]:
    return _common(request, values_list=tariffs.all_values(db), letters=tariffs.letters(),
                   acts=acts.listing(db), known_letters=tariffs.known_letters(db),
                   v=values or {"zone": "metropole", "kind": "ngap"})


@get("/tariffs", name="billing.tariffs", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def tariffs_page(request: Request[Any, Any, Any], db: DB) -> Template:
    return page(request, "billing/tariffs.html", _tariffs_context(request, db, None))


@post("/tariffs", name="billing.tariff_add", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def add_tariff(request: Request[Any, Any, Any], db: DB, data: Form) -> Any:
    errors = FormErrors()
    effective = day(request, data, "effective_from", errors)
    amount = parse_amount(text(data, "value", 16))
    if amount is None:
        errors["value"] = translate(request, "Enter an amount in euros with two decimals at most.")
    if not errors:
        try:
            tariffs.add_value(db, text(data, "letter", 16), text(data, "zone", 16), effective, amount,  # type: ignore[arg-type]
                              principal_of(request).user_id)
        except BillingInvalid as exc:
            errors.update(errors_of(request, exc))
    if errors:
        db.rollback()
        return form_page(request, "billing/tariffs.html", _tariffs_context(request, db, dict(data)), errors)
    return Redirect("/billing/tariffs", status_code=303)


@post("/acts", name="billing.act_add", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def add_act(request: Request[Any, Any, Any], db: DB, data: Form) -> Any:
    errors = FormErrors()
    kind = text(data, "kind", 8)
    coefficient = price = None
    if kind == "ngap":
        coefficient = parse_coefficient(text(data, "act_coefficient", 12))
    elif kind == "free":
        price = parse_amount(text(data, "act_price", 16))
    try:
        acts.create(db, label=text(data, "act_label", 300), kind=kind, letter=text(data, "act_letter", 8),
                    coefficient_hundredths=coefficient, price=price)
    except BillingInvalid as exc:
        errors.update(errors_of(request, exc))
    if errors:
        db.rollback()
        return form_page(request, "billing/tariffs.html", _tariffs_context(request, db, dict(data)), errors)
    return Redirect("/billing/tariffs#acts", status_code=303)


@post("/acts/{act_id:int}", name="billing.act_switch", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def switch_act(request: Request[Any, Any, Any], db: DB, act_id: FromPath[Id], data: Form) -> Any:
    """Switch an act of the catalogue on or off (`active` = 1 or 0)."""
    try:
        acts.set_active(db, act_id, flag(data, "active"))
    except NotFound:
        raise NotFoundException() from None
    return Redirect("/billing/tariffs#acts", status_code=303)


@get("/verify", name="billing.verify", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def verify_page(request: Request[Any, Any, Any], db: DB) -> Template:
    """Owners: check every practitioner's hash chain of issued documents (audited)."""
    problems = chain.verify(db)
    record(db, action="verify", resource_type="billing_note", details={"problems": len(problems)})
    names = {u.id: u.display_name or u.email for u in _staff(db)}
    return page(request, "billing/verify.html", _common(request, problems=problems, names=names))


PAGE_HANDLERS = [notes_page, new_note_page, search_patient, create_note, note_page, add_line, remove_line,
                 delete_note, issue_note, credit_note, add_payment, note_pdf, render_note_pdf, profile_page,
                 save_profile, tariffs_page,
                 add_tariff, add_act, switch_act, verify_page]
