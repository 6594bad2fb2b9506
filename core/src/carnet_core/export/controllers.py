"""Owners' page for the clinic export: ask for one (a passphrase or an age key), follow its
progress (htmx polls the list while one is being made), download it once."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File, Redirect, Template
from sqlmodel import select

from carnet_core.export import services
from carnet_core.export.models import QUEUED, RUNNING, ClinicExport
from carnet_core.i18n import N_
from carnet_core.inputs import Id
from carnet_core.web.forms import Form, FormErrors, form_page, text
from carnet_core.web.guards import principal_of
from carnet_core.web.render import page, translate
from carnet_core.web.state import carnet_state

PERMISSION = "core.export"
STATE_NAMES = {"queued": N_("waiting"), "running": N_("in progress"), "ready": N_("ready to download"),
               "failed": N_("failed"), "downloaded": N_("downloaded"), "expired": N_("link expired")}


def _context(request: Request[Any, Any, Any], db: Any, values: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = list(db.exec(select(ClinicExport).order_by(ClinicExport.id.desc()).limit(10)).all())
    return {"exports": rows, "working": any(r.status in (QUEUED, RUNNING) for r in rows),
            "state_names": STATE_NAMES, "hours": services.LINK_HOURS, "minimum": services.MIN_PASSPHRASE,
            "errors": FormErrors(), "v": values or {}}


@get("/settings/export", name="core.export", opt={"permission": PERMISSION}, sync_to_thread=True)
def export_page(request: Request[Any, Any, Any], db: NamedDependency[Any]) -> Template:
    return page(request, "core/export.html", _context(request, db), partial="core/_export_list.html")


@post("/settings/export", name="core.export_ask", opt={"permission": PERMISSION}, sync_to_thread=True)
def ask_export(request: Request[Any, Any, Any], db: NamedDependency[Any], data: Form) -> Any:
    principal = principal_of(request)
    mode = text(data, "mode", 16)
    errors = FormErrors()
    secret: dict[str, str] = {}
    if mode == "age":
        key = text(data, "age_recipient", 100)
        if not key:
            errors["age_recipient"] = translate(request, "Paste the age public key (age1…).")
        secret = {"age_recipient": key}
    elif mode == "passphrase":
        passphrase = data.get("passphrase") if isinstance(data.get("passphrase"), str) else ""
        if len(passphrase) < services.MIN_PASSPHRASE or len(passphrase) > 1000:
            errors["passphrase"] = translate(request, "At least %(n)s characters.", n=services.MIN_PASSPHRASE)
        elif data.get("passphrase_again") != passphrase:
            errors["passphrase_again"] = translate(request, "The two passphrases differ.")
        secret = {"passphrase": passphrase}
    else:
        errors["mode"] = translate(request, "Choose how the archive will be opened.")
    if not errors:
        try:
            recipient = services.recipient_for(**secret)
        except services.ExportError:
            errors["age_recipient"] = translate(request, "This is not an age public key (age1…).")
    if errors:
        values = {"mode": mode, "age_recipient": text(data, "age_recipient", 100)}  # never the passphrase
        return form_page(request, "core/export.html", _context(request, db, values), errors)
    services.request_export(db, principal, principal.clinic, recipient, requested_by=principal.user_id)
    return Redirect("/settings/export", status_code=303)


@post("/settings/export/{export_id:int}/download", name="core.export_download", opt={"permission": PERMISSION},
      status_code=200,
      sync_to_thread=True)
def download_export(request: Request[Any, Any, Any], db: NamedDependency[Any], export_id: FromPath[Id]) -> Any:
    """The export's file, once (audited); then it is deleted from the server."""
    row = db.get(ClinicExport, export_id)
    if row is None:
        raise NotFoundException()
    principal = principal_of(request)
    try:
        path = services.take_download(carnet_state(request).settings, db, principal, row, principal.user_id)
    except services.ExportError:
        db.commit()  # an expired export is marked so and its file removed
        errors = FormErrors(download=translate(request, "This export can no longer be downloaded: make a new one."))
        return form_page(request, "core/export.html", _context(request, db), errors, status_code=410)
    db.commit()
    return File(path, filename=row.file_name, media_type="application/zip", content_disposition_type="attachment",
                headers={"Cache-Control": "no-store"}, background=BackgroundTask(path.unlink, missing_ok=True))


HANDLERS = [export_page, ask_export, download_export]
