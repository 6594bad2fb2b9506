"""Back-office pages (French first, no JavaScript needed): the clinic's forms with their versions,
the editor with a preview, a patient's consent status with the send form, a request's evidence.
Thin: parse, call a service, render or redirect; a refused form comes back as the same page
(422, `text/html`, nothing written)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import segno
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    FieldError,
    FormErrors,
    Id,
    InvalidInput,
    NotFound,
    PatientErased,
    PatientNotFound,
    clinic_hooks,
    day,
    errors_of,
    flag,
    form_page,
    open_or_unreadable,
    page,
    patient_access,
    principal_of,
    readable,
    settings_of,
    text,
    utcnow,
)

from carnet_consent import permissions as perm
from carnet_consent.controllers.common import DB, FormData, labels, purpose_label
from carnet_consent.models import Request as ConsentRequest
from carnet_consent.rendering import to_html
from carnet_consent.services import decisions, documents, forms, paper, settings, signing


def _common(request: Request[Any, Any, Any], **context: Any) -> dict[str, Any]:
    return {"principal": principal_of(request), "perm": perm, "errors": FormErrors(), "v": {}, **labels(),
            "purpose_label": purpose_label, **context}


@get("/", name="consent.index", opt={"permission": perm.VIEW}, sync_to_thread=True)
def index(request: Request[Any, Any, Any], db: DB) -> Template:
    from sqlmodel import col, select

    pending = list(db.exec(select(ConsentRequest).where(ConsentRequest.status == "pending")
                           .order_by(col(ConsentRequest.id).desc()).limit(50)))
    recent = list(db.exec(select(ConsentRequest).where(ConsentRequest.status != "pending")
                          .order_by(col(ConsentRequest.id).desc()).limit(20)))
    names = patient_access(db, principal_of(request)).names({r.patient_id for r in pending + recent})
    titles = {t.id: t.title for t in forms.templates(db, include_archived=True)}
    from carnet_consent.services import rights

    warnings = rights.warnings(db) if principal_of(request).can(perm.RIGHTS) else None
    return page(request, "consent/index.html", _common(
        request, templates=forms.templates(db), pending=pending, recent=recent, names=names, titles=titles,
        warnings=warnings))


# --- forms (owners) -------------------------------------------------------------------------------


def _form_context(request: Request[Any, Any, Any], db: CarnetSession, template: Any, values: dict[str, Any],
                  **more: Any) -> dict[str, Any]:
    return _common(request, template=template, v=values,
                   versions=forms.versions(db, template.id) if template is not None else [], **more)


def _values_of(template: Any) -> dict[str, Any]:
    return {"title": template.title, "body": template.body, "signers": template.signers,
            "clauses": forms.clauses_text(template.clauses), "key": template.key}


@post("/forms/starter", name="consent.starter", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def add_starter(request: Request[Any, Any, Any], db: DB) -> Redirect:
    """Create and publish the French starter forms the clinic does not have yet."""
    forms.ensure_starter(db, principal_of(request).user_id)
    return Redirect("/consent/", status_code=303)


@get("/forms/new", name="consent.form_new", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def new_form(request: Request[Any, Any, Any], db: DB) -> Template:
    return page(request, "consent/form.html", _form_context(request, db, None, {"signers": "one"}))


@post("/forms", name="consent.form_create", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def create_form(request: Request[Any, Any, Any], db: DB, data: FormData) -> Any:
    values = {k: text(data, k, forms.BODY_LIMIT) for k in ("key", "title", "body", "signers", "clauses")}
    try:
        template = forms.create_template(db, values["key"], values)
    except InvalidInput as exc:
        context = _form_context(request, db, None, values)
        return form_page(request, "consent/form.html", context, errors_of(request, exc))
    return Redirect(f"/consent/forms/{template.id}", status_code=303)


@get("/forms/{template_id:int}", name="consent.form", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def edit_form(request: Request[Any, Any, Any], db: DB, template_id: FromPath[Id]) -> Template:
    try:
        template = forms.get_template(db, template_id)
    except NotFound:
        raise NotFoundException() from None
    return page(request, "consent/form.html", _form_context(
        request, db, template, _values_of(template), changed=forms.draft_changed(db, template)))


@post("/forms/{template_id:int}", name="consent.form_save", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def save_form(request: Request[Any, Any, Any], db: DB, template_id: FromPath[Id], data: FormData) -> Any:
    """Save the draft, preview it (nothing saved) or save and publish it as a new version."""
    try:
        template = forms.get_template(db, template_id)
    except NotFound:
        raise NotFoundException() from None
    values = {k: text(data, k, forms.BODY_LIMIT) for k in ("title", "body", "signers", "clauses")}
    values["key"] = template.key
    action = text(data, "action", 20)
    try:
        clean = forms.clean_values(values)
        if action == "preview":
            return page(request, "consent/form.html", _form_context(
                request, db, template, values, preview=to_html(clean["body"]),
                preview_clauses=json.loads(clean["clauses"]), preview_title=clean["title"]))
        forms.save_draft(db, template.id, values)  # type: ignore[arg-type]
        if action == "publish":
            forms.publish(db, template.id, principal_of(request).user_id)  # type: ignore[arg-type]
    except InvalidInput as exc:
        return form_page(request, "consent/form.html", _form_context(request, db, template, values),
                         errors_of(request, exc))
    return Redirect(f"/consent/forms/{template.id}", status_code=303)


@get("/versions/{version_id:int}", name="consent.version", opt={"permission": perm.VIEW}, sync_to_thread=True)
def version_page(request: Request[Any, Any, Any], db: DB, version_id: FromPath[Id]) -> Template:
    try:
        version = forms.get_version(db, version_id)
    except NotFound:
        raise NotFoundException() from None
    return page(request, "consent/version.html", _common(
        request, version=version, html=to_html(version.body), clauses=forms.clauses_of(version.clauses)))


# --- a patient's consents ---------------------------------------------------------------------------


def _patient_context(request: Request[Any, Any, Any], db: CarnetSession, patient_id: int,
                     **more: Any) -> dict[str, Any]:
    principal = principal_of(request)
    patients = patient_access(db, principal)
    try:
        patients.get(patient_id)
    except (PatientNotFound, PatientErased):
        raise NotFoundException() from None
    requests = signing.requests_of(db, patient_id)
    signers = {r.id: signing.signers_of(db, r.id) for r in requests}
    signer_names = {s.id: signing.signer_name(db, s) for group in signers.values() for s in group}
    templates = forms.templates(db, include_archived=True)
    holders = patients.guardians(patient_id)
    current = decisions.current(db, patient_id)
    missing = [t for t in templates if t.current_version_id and not t.archived
               and not any(r.template_id == t.id and r.status == "complete" for r in requests)]
    return _common(request, patient_id=patient_id, patient_name=patients.name(patient_id), requests=requests,
                   signers=signers, signer_names=signer_names, titles={t.id: t.title for t in templates},
                   sendable=[t for t in templates if t.current_version_id and not t.archived], current=current,
                   missing=missing, guardians=len(holders), holders=holders,
                   scans={r.id for r in requests if paper.scan_of(db, r.id) is not None},  # type: ignore[arg-type]
                   **more)


@get("/patients/{patient_id:int}", name="consent.patient", opt={"permission": perm.VIEW}, sync_to_thread=True)
def patient_page(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id]) -> Template:
    return page(request, "consent/patient.html", _patient_context(request, db, patient_id))


@post("/patients/{patient_id:int}/send", name="consent.send", opt={"permission": perm.SEND}, sync_to_thread=True)
def send(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id], data: FormData) -> Any:
    raw = text(data, "template_id", 12)
    try:
        signing.send(db, principal_of(request), int(raw) if raw.isdigit() else 0, patient_id)
    except InvalidInput as exc:
        context = _patient_context(request, db, patient_id, v={"template_id": raw})
        return form_page(request, "consent/patient.html", context, errors_of(request, exc))
    return Redirect(f"/consent/patients/{patient_id}", status_code=303)


@post("/patients/{patient_id:int}/withdraw", name="consent.withdraw", opt={"permission": perm.SEND},
      sync_to_thread=True)
def withdraw(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id], data: FormData) -> Any:
    """Staff record a withdrawal the patient expressed (in person, by phone, by letter)."""
    context = _patient_context(request, db, patient_id)  # 404 for a patient one may not see
    try:
        decisions.withdraw(db, patient_id, text(data, "purpose", 40), source="staff",
                           actor=f"user:{principal_of(request).user_id}", hooks=clinic_hooks(request))
    except InvalidInput as exc:
        return form_page(request, "consent/patient.html", context, errors_of(request, exc))
    return Redirect(f"/consent/patients/{patient_id}", status_code=303)


def _request_or_404(db: CarnetSession, request: Request[Any, Any, Any], request_id: int) -> ConsentRequest:
    try:
        found = signing.get_request(db, request_id)
        patient_access(db, principal_of(request)).get(found.patient_id)
    except (NotFound, PatientNotFound, PatientErased):
        raise NotFoundException() from None
    return found


@post("/requests/{request_id:int}/cancel", name="consent.cancel", opt={"permission": perm.SEND}, sync_to_thread=True)
def cancel(request: Request[Any, Any, Any], db: DB, request_id: FromPath[Id]) -> Any:
    found = _request_or_404(db, request, request_id)
    try:
        signing.cancel(db, found.id)  # type: ignore[arg-type]
    except InvalidInput as exc:
        return form_page(request, "consent/patient.html", _patient_context(request, db, found.patient_id),
                         errors_of(request, exc), status_code=409)
    return Redirect(f"/consent/patients/{found.patient_id}", status_code=303)


@get("/requests/{request_id:int}", name="consent.request", opt={"permission": perm.VIEW}, sync_to_thread=True)
def request_page(request: Request[Any, Any, Any], db: DB, request_id: FromPath[Id]) -> Template:
    """A request's evidence: for each signature the version hash, answers, signer, time, channel
    and code check, address and user agent, audit position (opening them is traced)."""
    found = _request_or_404(db, request, request_id)
    rows = []
    for sig in signing.signatures_of(db, found.id):  # type: ignore[arg-type]
        answers = readable(open_or_unreadable(db, sig, "answers"))
        evidence = readable(open_or_unreadable(db, sig, "evidence"))
        rows.append({"signature": sig, "answers": json.loads(answers) if answers else None,
                     "evidence": json.loads(evidence) if evidence else None})
    version = forms.get_version(db, found.version_id)
    return page(request, "consent/request.html", _common(
        request, req=found, version=version, rows=rows, title=version.title,
        document=documents.of_request(db, found.id), scan=paper.scan_of(db, found.id),  # type: ignore[arg-type]
        patient_name=patient_access(db, principal_of(request)).name(found.patient_id)))


@post("/requests/{request_id:int}/resend", name="consent.resend", opt={"permission": perm.SEND}, sync_to_thread=True)
def resend(request: Request[Any, Any, Any], db: DB, request_id: FromPath[Id]) -> Any:
    """Send the signers who have not signed a fresh link (lost e-mail, expired link)."""
    found = _request_or_404(db, request, request_id)
    try:
        signing.resend(db, found.id)  # type: ignore[arg-type]
    except InvalidInput as exc:
        return form_page(request, "consent/patient.html", _patient_context(request, db, found.patient_id),
                         errors_of(request, exc), status_code=409)
    return Redirect(f"/consent/patients/{found.patient_id}", status_code=303)


@get("/requests/{request_id:int}/pdf", name="consent.request_pdf", opt={"permission": perm.VIEW},
     sync_to_thread=True)
def request_pdf(request: Request[Any, Any, Any], db: DB, request_id: FromPath[Id]) -> Any:
    """The signed PDF as an attachment (its opening audited), or the request page saying that the
    worker is preparing it."""
    found = _request_or_404(db, request, request_id)
    pdf = documents.download(db, found)
    if pdf is None:
        return Redirect(f"/consent/requests/{found.id}", status_code=303)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{documents.file_name(found)}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@post("/requests/{request_id:int}/pdf", name="consent.request_pdf_render", opt={"permission": perm.VIEW},
      sync_to_thread=True)
def request_pdf_render(request: Request[Any, Any, Any], db: DB, request_id: FromPath[Id]) -> Redirect:
    """Ask the worker for the PDF of a request signed before signed PDFs existed."""
    found = _request_or_404(db, request, request_id)
    documents.request_render(db, found)
    return Redirect(f"/consent/requests/{found.id}", status_code=303)


@get("/requests/{request_id:int}/verify", name="consent.request_verify", opt={"permission": perm.VIEW},
     sync_to_thread=True)
def request_verify(request: Request[Any, Any, Any], db: DB, request_id: FromPath[Id]) -> Template:
    """The stored PDF of a request checked again, as the verification page shows any upload."""
    found = _request_or_404(db, request, request_id)
    verdict = documents.verify_stored(db, found)
    if verdict is None:
        raise NotFoundException()
    return page(request, "consent/verify.html", _common(request, verdict=verdict, reasons=documents.REASONS,
                                                        checked=documents.file_name(found)))


@get("/verify", name="consent.verify", opt={"permission": perm.VIEW}, sync_to_thread=True)
def verify_form(request: Request[Any, Any, Any], db: DB) -> Template:
    return page(request, "consent/verify.html", _common(request, verdict=None, reasons=documents.REASONS))


Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


@post("/verify", name="consent.verify_upload", opt={"permission": perm.VIEW}, sync_to_thread=True,
      request_max_body_size=documents.MAX_UPLOAD + 64 * 1024)
def verify_upload(request: Request[Any, Any, Any], db: DB, data: Upload) -> Any:
    """Check an uploaded PDF: signed by this practice and unchanged since, or why not."""
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        exc = InvalidInput({"file": FieldError("required", N_("choose the PDF file to check"))})
        return form_page(request, "consent/verify.html", _common(request, verdict=None, reasons=documents.REASONS),
                         errors_of(request, exc))
    content = upload.file.read(documents.MAX_UPLOAD + 1)
    verdict = documents.verify_upload(db, content)
    return page(request, "consent/verify.html", _common(request, verdict=verdict, reasons=documents.REASONS,
                                                        checked=upload.filename[:120]))


# --- consents given in the cabinet: on paper, on a tablet ----------------------------------------------


def _paper_context(request: Request[Any, Any, Any], db: CarnetSession, patient_id: int, template_id: int,
                   **more: Any) -> dict[str, Any]:
    context = _patient_context(request, db, patient_id)  # 404 for a patient one may not see
    try:
        template = forms.get_template(db, template_id)
    except NotFound:
        raise NotFoundException() from None
    if template.current_version_id is None or template.archived:
        raise NotFoundException()
    version = forms.get_version(db, template.current_version_id)
    return {**context, "template": template, "version": version, "clauses": forms.clauses_of(version.clauses),
            "max_mb": paper.MAX_SCAN // (1024 * 1024), **more}


@get("/patients/{patient_id:int}/paper", name="consent.paper", opt={"permission": perm.SEND}, sync_to_thread=True)
def paper_form(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id]) -> Template:
    raw = request.query_params.get("template_id") or ""
    context = _paper_context(request, db, patient_id, int(raw) if raw.isdigit() and len(raw) < 10 else 0)
    return page(request, "consent/paper.html", {**context, "v": {"signed_on": utcnow().date().isoformat()}})


@post("/patients/{patient_id:int}/paper", name="consent.paper_record", opt={"permission": perm.SEND},
      sync_to_thread=True, request_max_body_size=paper.MAX_SCAN + 256 * 1024)
def paper_record(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id], data: Upload) -> Any:
    """Record a consent signed on paper with its scan; a refused form comes back with every error."""
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    raw = text(fields, "template_id", 12)
    context = _paper_context(request, db, patient_id, int(raw) if raw.isdigit() else 0)
    values = {k: text(fields, k, 20) for k in fields if k.startswith("clause_") or k in ("signed_on", "version_id")}
    chosen = data.get("signers") or []
    chosen = [str(c)[:12] for c in (chosen if isinstance(chosen, list) else [chosen])][:10]
    errors = FormErrors()
    signed_on = day(request, fields, "signed_on", errors, required=False)
    upload = data.get("scan")
    content = upload.file.read(paper.MAX_SCAN + 1) if isinstance(upload, UploadFile) and upload.filename else b""
    version_raw = values.get("version_id", "")
    if errors:
        return form_page(request, "consent/paper.html", {**context, "v": {**values, "signers": chosen}}, errors)
    try:
        found = paper.record_paper(db, principal_of(request), patient_id, template_id=context["template"].id,
                                   version_id=int(version_raw) if version_raw.isdigit() else 0, signers=chosen,
                                   answers_form=values, signed_on=signed_on, scan=content,
                                   hooks=clinic_hooks(request))
    except InvalidInput as exc:
        return form_page(request, "consent/paper.html", {**context, "v": {**values, "signers": chosen}},
                         errors_of(request, exc))
    return Redirect(f"/consent/requests/{found.id}", status_code=303)


@post("/patients/{patient_id:int}/tablet", name="consent.tablet", opt={"permission": perm.SEND}, sync_to_thread=True)
def tablet(request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id], data: FormData) -> Any:
    """A kiosk link for the cabinet's tablet, shown once as a QR code and an address."""
    raw = text(data, "template_id", 12)
    try:
        found, token = paper.start_tablet(db, principal_of(request), patient_id, int(raw) if raw.isdigit() else 0,
                                          text(data, "signer", 12))
    except InvalidInput as exc:
        context = _patient_context(request, db, patient_id, v={"template_id": raw})
        return form_page(request, "consent/patient.html", context, errors_of(request, exc))
    clinic = principal_of(request).clinic
    url = f"{settings_of(request).base_url}/p/{clinic.slug}/consent/k/{token}"
    return page(request, "consent/tablet.html", _common(
        request, req=found, url=url, qr=segno.make(url, error="m").svg_data_uri(scale=5, border=2),
        minutes=int(paper.KIOSK_VALID.total_seconds() // 60), patient_id=patient_id,
        patient_name=patient_access(db, principal_of(request)).name(patient_id)),
        headers={"Cache-Control": "no-store"})


@get("/requests/{request_id:int}/scan", name="consent.request_scan", opt={"permission": perm.VIEW},
     sync_to_thread=True)
def request_scan(request: Request[Any, Any, Any], db: DB, request_id: FromPath[Id]) -> Any:
    """The scan of a paper consent (its opening audited)."""
    found = _request_or_404(db, request, request_id)
    content = paper.download_scan(db, found)
    if content is None:
        raise NotFoundException()
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="consentement-papier-{found.id}.pdf"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


# --- the owner's settings ----------------------------------------------------------------------------


def _settings_context(request: Request[Any, Any, Any], db: CarnetSession, **more: Any) -> dict[str, Any]:
    return _common(request, setting=settings.current(db), reminder_every=settings.REMINDER_EVERY,
                   reminder_count=settings.REMINDER_COUNT, **more)


@get("/settings", name="consent.settings", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def settings_page(request: Request[Any, Any, Any], db: DB) -> Template:
    return page(request, "consent/settings.html", _settings_context(request, db,
                                                                    saved=request.query_params.get("saved") == "1"))


@post("/settings", name="consent.settings_save", opt={"permission": perm.MANAGE}, sync_to_thread=True)
def save_settings(request: Request[Any, Any, Any], db: DB, data: FormData) -> Any:
    """The owner's choices: "who looked at my file", links by SMS, the reminder interval (audited);
    a wrong number comes back with its French error, nothing saved."""
    values = {"accesses_view": flag(data, "accesses_view"), "sms_links": flag(data, "sms_links"),
              "reminder_every_days": text(data, "reminder_every_days", 6),
              "reminder_count": text(data, "reminder_count", 6)}
    try:
        settings.update(db, principal_of(request), settings.clean(values))
    except InvalidInput as exc:
        return form_page(request, "consent/settings.html", _settings_context(request, db, v=values),
                         errors_of(request, exc))
    return Redirect("/consent/settings?saved=1", status_code=303)


PAGE_HANDLERS = [index, add_starter, new_form, create_form, edit_form, save_form, version_page, patient_page, send,
                 withdraw,
                 cancel, request_page, resend, request_pdf, request_pdf_render, request_verify, verify_form,
                 verify_upload, settings_page, save_settings, paper_form, paper_record, tablet, request_scan]
