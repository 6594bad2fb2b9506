"""Accounting exports pages: ask for a receipts journal or a FEC, follow its progress (htmx polls
the list while an export is being built), download the file through its expiring link."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File, Redirect, Template

from carnet_billing import permissions as perm
from carnet_billing.controllers.pages import _staff as practitioners_of
from carnet_billing.models import EXPORT_EXPIRED, EXPORT_KINDS, EXPORT_PENDING, EXPORT_RUNNING
from carnet_billing.services import exports, notes
from carnet_billing.services.errors import BillingInvalid, NotFound
from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    Form,
    FormErrors,
    Id,
    day,
    errors_of,
    form_page,
    integer,
    page,
    principal_of,
    settings_of,
    text,
)

DB = NamedDependency[CarnetSession]
STATE_NAMES = {"pending": N_("waiting"), "running": N_("in progress"), "ready": N_("ready"),
               "failed": N_("failed"), "expired": N_("link expired")}


def _practitioners(db: CarnetSession, principal: Any) -> list[Any]:
    """Whose receipts this person may export: every practitioner for an owner, else themself."""
    people = practitioners_of(db)
    return people if "owner" in principal.roles else [u for u in people if u.id == principal.user_id]


def _context(request: Request[Any, Any, Any], db: CarnetSession,
             values: dict[str, Any] | None = None) -> dict[str, Any]:
    principal = principal_of(request)
    rows = exports.listing(db, principal)
    states = {x.id: exports.state(x) for x in rows}
    staff = _practitioners(db, principal)
    today = notes.clinic_today(db)
    last_year = date(today.year - 1, 1, 1)
    return {"principal": principal, "perm": perm, "exports": rows, "states": states,
            "working": any(s in (EXPORT_PENDING, EXPORT_RUNNING) for s in states.values()),
            "names": {u.id: u.display_name or u.email for u in staff}, "practitioners": staff,
            "kinds": EXPORT_KINDS, "kind_names": exports.KIND_LABELS, "state_names": STATE_NAMES,
            "default_start": last_year.isoformat(), "default_end": date(last_year.year, 12, 31).isoformat(),
            "errors": FormErrors(), "v": values or {}}


@get("/exports", name="billing.exports", opt={"permission": perm.EXPORTS}, sync_to_thread=True)
def exports_page(request: Request[Any, Any, Any], db: DB) -> Template:
    """The exports of this person (owners: everyone's); htmx asks for the list alone."""
    exports.expire_old(db, settings_of(request).home)
    return page(request, "billing/exports.html", _context(request, db), partial="billing/_exports_list.html")


@post("/exports", name="billing.export_ask", opt={"permission": perm.EXPORTS}, sync_to_thread=True)
def ask_export(request: Request[Any, Any, Any], db: DB, data: Form) -> Any:
    errors = FormErrors()
    start = day(request, data, "start", errors)
    end = day(request, data, "end", errors)
    who = integer(request, data, "practitioner", errors, required=False)
    if not errors:
        try:
            exports.request_export(db, principal_of(request), practitioner_id=who, kind=text(data, "kind", 16),
                                   start=start, end=end)
        except BillingInvalid as exc:
            errors.update(errors_of(request, exc))
    if errors:
        db.rollback()
        return form_page(request, "billing/exports.html", _context(request, db, dict(data)), errors)
    return Redirect("/billing/exports", status_code=303)


@get("/exports/{export_id:int}/file", name="billing.export_file", opt={"permission": perm.EXPORTS},
     sync_to_thread=True)
def export_file(request: Request[Any, Any, Any], db: DB, export_id: FromPath[Id]) -> Any:
    """The export's file as an attachment while its link lasts (audited); 410 once expired."""
    try:
        export, path = exports.open_file(db, principal_of(request), export_id, settings_of(request).home)
    except NotFound:
        raise NotFoundException() from None
    except BillingInvalid as exc:
        status = 410 if exports.state(db.get(exports.Export, export_id)) == EXPORT_EXPIRED else 409  # type: ignore[arg-type]
        return form_page(request, "billing/exports.html", _context(request, db), errors_of(request, exc),
                         status_code=status)
    return File(path, filename=export.file_name, media_type=exports.MEDIA_TYPES[export.kind],
                content_disposition_type="attachment", headers={"Cache-Control": "no-store"})


EXPORT_HANDLERS = [exports_page, ask_export, export_file]
