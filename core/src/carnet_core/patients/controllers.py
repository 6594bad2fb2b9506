"""Patient API (/api/v1/patients) and pages (/patients): parse, call a service, answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.params import Body, FromQuery, JSONBody, Parameter
from litestar.response import Redirect, Response, Template

from carnet_core.encryption import DecryptionError, KeyDestroyed
from carnet_core.encryption.unreadable import readable
from carnet_core.i18n import N_
from carnet_core.inputs import Id, Offset
from carnet_core.patients import services
from carnet_core.patients.schemas import (
    ArchiveAccessIn,
    GuardianOut,
    PatientCreate,
    PatientOut,
    PatientPatch,
    PatientSummary,
    given,
)
from carnet_core.patients.services import (
    CLINICAL,
    EDIT,
    ERASE,
    ERASURE_REASONS,
    EXPORT,
    SETTINGS,
    VIEW,
    PatientErased,
    PatientForbidden,
    PatientInvalid,
    PatientNotFound,
    PatientView,
)
from carnet_core.retention.models import ARCHIVE_ACCESS_REASONS
from carnet_core.retention.services import RetentionInvalid, archive_access_open, record_archive_access
from carnet_core.web.errors import invalid_fields
from carnet_core.web.forms import errors_of, form_page
from carnet_core.web.guards import principal_of
from carnet_core.web.render import contributed, page, rendered_panels, translate
from carnet_core.web.state import carnet_state

log = logging.getLogger("carnet.patients")


@contextmanager
def answers(request: Request[Any, Any, Any]) -> Iterator[None]:
    """Registry errors become clear 4xx answers (never a 500), in the request's language; each
    field error of the API carries a stable `code` so clients need not parse the text."""
    try:
        yield
    except PatientInvalid as exc:
        raise invalid_fields(request, exc, N_("Invalid patient data.")) from None
    except PatientNotFound:
        raise NotFoundException(translate(request, "No such patient.")) from None
    except (PatientErased, KeyDestroyed):
        raise HTTPException(
            status_code=410, detail=translate(request, "This patient's data was erased.")
        ) from None
    except PatientForbidden:
        raise PermissionDeniedException(
            translate(request, "Clinical notes need the permission to read and write clinical notes.")
        ) from None
    except DecryptionError:
        log.warning("a patient record failed its integrity check")
        raise HTTPException(
            status_code=409,
            detail=translate(request, "This record failed its integrity check and cannot be shown."),
        ) from None


def _archived_gate(request: Request[Any, Any, Any], db: Any, principal: Any, patient_id: int) -> Any:
    """The patient's row, unless the record is archived and this user gave no reason lately: 403 with
    `code` `archived` (nothing of the record read), as the pages show the reason form instead."""
    patient = services.get_patient(db, principal, patient_id)
    if patient.archived and not archive_access_open(db, principal, patient_id):
        raise PermissionDeniedException(
            translate(request, "This record is archived: give the reason you read it first."),
            extra={"code": "archived", "reasons": list(ARCHIVE_ACCESS_REASONS)},
        )
    return patient


def _out(view: PatientView) -> PatientOut:
    # A damaged value (integrity check failed) is null and named in `unreadable`: never a 409 for
    # the whole file, never the marker text passed off as the patient's data.
    f = {name: readable(value) for name, value in view.fields.items()}
    extra: dict[str, Any] = {"notes": f.get("notes")} if view.clinical_visible else {}
    if view.unreadable:
        extra["unreadable"] = view.unreadable
    return PatientOut(
        id=view.id, last_name=f["last_name"], first_name=f["first_name"], birth_date=f["birth_date"],
        sex=f["sex"], email=f["email"], phone=f["phone"], address=f["address"],
        referring_physician=f["referring_physician"], ins_number=f["ins_number"],
        birth_last_name=f["birth_last_name"], birth_first_names=f["birth_first_names"],
        birth_place_code=f["birth_place_code"], identity_status=view.identity_status,
        practitioner_id=view.practitioner_id, archived=view.archived, created_at=view.created_at,
        updated_at=view.updated_at,
        guardians=[GuardianOut(**{k: readable(v) for k, v in g.items()}) for g in view.guardians], **extra,
    )


BY_ID = {"patient_id": "$response.body#/id"}
PATIENT_LINKS = {  # where a registered patient leads (OpenAPI links)
    "GetPatient": ("GET", "/api/v1/patients/{patient_id}", BY_ID),
    "UpdatePatient": ("PATCH", "/api/v1/patients/{patient_id}", BY_ID),
}


class PatientApi(Controller):
    path = "/api/v1/patients"
    tags = ["patients"]
    include_in_schema = True
    opt = {"error_statuses": (409, 410, 422)}  # integrity check failed; patient erased; field errors

    @post("/", opt={"permission": EDIT, "links": PATIENT_LINKS}, sync_to_thread=True, status_code=201,
          summary="Register a patient")
    def create(
        self, request: Request[Any, Any, Any], db: NamedDependency[Any], data: JSONBody[PatientCreate],
    ) -> PatientOut:
        principal = principal_of(request)
        with answers(request):
            patient = services.create_patient(db, principal, given(data))
            assert patient.id is not None
            return _out(services.read_patient(db, principal, patient.id))

    @get("/{patient_id:int}", opt={"permission": VIEW}, sync_to_thread=True, summary="A patient's file",
         description="An archived record answers 403 (`code` `archived`) until a reason is given: "
                     "`POST /api/v1/patients/{patient_id}/archive-access`.")
    def read(self, request: Request[Any, Any, Any], db: NamedDependency[Any], patient_id: Id) -> PatientOut:
        principal = principal_of(request)
        with answers(request):
            _archived_gate(request, db, principal, patient_id)
            return _out(services.read_patient(db, principal, patient_id))

    @post("/{patient_id:int}/archive-access", opt={"permission": VIEW}, sync_to_thread=True, status_code=204,
          summary="Give the reason to read an archived record",
          description="Recorded in the audit trail (`read_archived`, the reason code); the record then opens for "
                      "this user for 30 minutes, through the API and the pages alike.")
    def archive_access(
        self, request: Request[Any, Any, Any], db: NamedDependency[Any], patient_id: Id,
        data: JSONBody[ArchiveAccessIn],
    ) -> None:
        principal = principal_of(request)
        with answers(request):
            services.get_patient(db, principal, patient_id)
            try:
                record_archive_access(db, principal, patient_id, data.reason)
            except RetentionInvalid as exc:  # the schema takes only the listed reasons; kept for its message
                raise invalid_fields(request, exc, N_("Choose a reason from the list.")) from None

    @patch("/{patient_id:int}", opt={"permission": EDIT}, sync_to_thread=True, summary="Change a patient's file")
    def update(
        self, request: Request[Any, Any, Any], db: NamedDependency[Any], patient_id: Id, data: JSONBody[PatientPatch],
    ) -> PatientOut:
        principal = principal_of(request)
        with answers(request):
            patient = _archived_gate(request, db, principal, patient_id)
            services.update_patient(db, principal, patient, given(data))
            return _out(services.read_patient(db, principal, patient_id))

    @get(
        "/", opt={"permission": VIEW}, sync_to_thread=True, summary="List or search patients",
        description=(
            "Without `q`, the list of patients. With `q`, a search by the first letters of the "
            "last or first name (two letters at least; every word of `q` starts a word of the names), or by the "
            "exact e-mail or phone. "
            "Prefer `POST /api/v1/patients/search`: a query string carries the name, e-mail or phone "
            "into URLs, proxy and server access logs."
        ),
    )
    def search(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Any],
        q: Annotated[str | None, Parameter(max_length=254, description="exact last name, e-mail or phone")] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Offset = 0,
        archived: FromQuery[bool] = False,
    ) -> list[PatientSummary]:
        with answers(request):
            views = services.search_patients(
                db, principal_of(request), q, limit=limit, offset=offset, archived=archived
            )
        return [_summary(v) for v in views]


class SearchQuery(msgspec.Struct, forbid_unknown_fields=True):
    q: Annotated[str, msgspec.Meta(max_length=254)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    offset: Offset = 0
    archived: bool = False


@post("/api/v1/patients/search", opt={"permission": VIEW, "error_statuses": (409, 410, 422)}, sync_to_thread=True,
      status_code=200, tags=["patients"], include_in_schema=True, summary="Search patients (query kept out of URLs)",
      description=(
          "The preferred way to search: the same search as `GET /api/v1/patients?q=`, with the "
          "query in the body so that no name, e-mail or phone number lands in URLs or access logs."
      ))
def search_by_body(
    request: Request[Any, Any, Any], db: NamedDependency[Any], data: JSONBody[SearchQuery],
) -> list[PatientSummary]:
    """Same as `GET /api/v1/patients?q=`, with the query in the body so that no name, e-mail or
    phone number lands in proxy or server access logs."""
    with answers(request):
        views = services.search_patients(
            db, principal_of(request), data.q, limit=data.limit, offset=data.offset, archived=data.archived
        )
    return [_summary(v) for v in views]


def _summary(v: PatientView) -> PatientSummary:
    extra: dict[str, Any] = {"unreadable": v.unreadable} if v.unreadable else {}
    return PatientSummary(
        id=v.id, last_name=readable(v.fields["last_name"]), first_name=readable(v.fields["first_name"]),
        birth_date=readable(v.fields["birth_date"]), archived=v.archived, **extra,
    )


# --- pages ---------------------------------------------------------------------------------------

RELATION_LABELS = {"mother": N_("Mother"), "father": N_("Father"), "guardian": N_("Legal guardian"),
                   "other": N_("Other holder")}
FORM_FIELDS = (
    "last_name", "first_name", "birth_date", "sex", "email", "phone", "address", "referring_physician",
    "ins_number", "birth_last_name", "birth_first_names", "birth_place_code", "notes",
)
FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


GUARDIAN_FORM_FIELDS = ("relation", "last_name", "first_name", "email", "phone")
MAX_GUARDIANS = 4


def _one(data: dict[str, Any], name: str) -> Any:
    raw = data.get(name)
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    return raw if raw not in ("",) else None


def _form_values(data: dict[str, Any], clinical: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in FORM_FIELDS:
        if name == "notes" and not clinical:
            continue
        values[name] = _one(data, name)
    # Holders of parental authority: rows g0_…, g1_…; a row with nothing typed is no holder.
    guardians = []
    for i in range(MAX_GUARDIANS):
        row = {name: _one(data, f"g{i}_{name}") for name in GUARDIAN_FORM_FIELDS}
        if not any(row[n] for n in ("last_name", "first_name", "email", "phone")):
            continue
        row["may_receive_messages"] = _one(data, f"g{i}_messages") in ("1", "on", "true")
        row["main_contact"] = _one(data, f"g{i}_main") in ("1", "on", "true")
        guardians.append({k: v for k, v in row.items() if v is not None})
    values["guardians"] = guardians
    return values


def _guardian_rows(guardians: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The form's rows: the holders given, then empty rows (two at least, four at most)."""
    rows = [dict(g) for g in guardians][:MAX_GUARDIANS]
    wanted = min(MAX_GUARDIANS, max(2, len(rows) + 1))
    rows += [{"may_receive_messages": True} for _ in range(wanted - len(rows))]
    return rows


def _panels(request: Request[Any, Any, Any], db: Any, patient: Any) -> list[Any]:
    principal = principal_of(request)
    return rendered_panels(request, contributed(request, "patient_panels", "patient panel",
                                                clinic=principal.clinic, patient=patient, user=principal, db=db))


PAGE_SIZE = 50  # patients per page of the list (ordered by registration: names are sealed)


class PatientPages(Controller):
    path = "/patients"
    include_in_schema = False

    @get("/", opt={"permission": VIEW}, sync_to_thread=True, name="patients.list")
    def list_page(self, request: Request[Any, Any, Any], db: NamedDependency[Any]) -> Template:
        # The page's search form posts (POST /patients/search): a query string would carry names,
        # e-mails and phone numbers into URLs, browser history and proxy logs.
        raw = request.query_params.get("page") or "1"
        number = int(raw) if raw.isdigit() and len(raw) < 7 else 1
        with answers(request):
            total = services.count_patients(db, principal_of(request))
            pages = max(1, -(-total // PAGE_SIZE))
            number = min(max(number, 1), pages)
            views = services.search_patients(db, principal_of(request), None, limit=PAGE_SIZE,
                                             offset=(number - 1) * PAGE_SIZE)
        return page(
            request, "core/patients/list.html",
            {"patients": views, "q": "", "total": total, "page_number": number, "pages": pages},
            partial="core/patients/_results.html",
        )

    @post("/search", opt={"permission": VIEW}, sync_to_thread=True, status_code=200, name="patients.search")
    def search_page(self, request: Request[Any, Any, Any], db: NamedDependency[Any], data: FormBody) -> Template:
        raw = data.get("q")
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        q = raw.strip() if isinstance(raw, str) else ""
        if len(q) > 254:
            error = translate(request, "The search is too long (254 characters at most).")
            return page(request, "core/patients/list.html", {"patients": [], "q": "", "error": error},
                        partial="core/patients/_results.html", status_code=400)
        with answers(request):
            views = services.search_patients(db, principal_of(request), q or None)
        return page(
            request, "core/patients/list.html", {"patients": views, "q": q}, partial="core/patients/_results.html"
        )

    @get("/new", opt={"permission": EDIT}, sync_to_thread=True, name="patients.new")
    def new_page(self, request: Request[Any, Any, Any]) -> Template:
        principal = principal_of(request)
        return page(request, "core/patients/form.html", {
            "values": {}, "errors": {}, "patient_id": None, "clinical": principal.can(CLINICAL),
            "guardian_rows": _guardian_rows([]), "relations": RELATION_LABELS,
        })

    @post("/new", opt={"permission": EDIT}, sync_to_thread=True, name="patients.create")
    def create_page(
        self, request: Request[Any, Any, Any], db: NamedDependency[Any], data: FormBody,
    ) -> Template | Redirect:
        principal = principal_of(request)
        clinical = principal.can(CLINICAL)
        values = _form_values(data, clinical)
        with answers(request):
            try:
                patient = services.create_patient(db, principal, values)
            except PatientInvalid as exc:
                return form_page(request, "core/patients/form.html", {
                    "values": values, "patient_id": None, "clinical": clinical,
                    "guardian_rows": _guardian_rows(values["guardians"]), "relations": RELATION_LABELS,
                }, errors_of(request, exc))
        return Redirect(f"/patients/{patient.id}", status_code=303)

    @get("/{patient_id:int}", opt={"permission": VIEW}, sync_to_thread=True, name="patients.show")
    def show_page(self, request: Request[Any, Any, Any], db: NamedDependency[Any], patient_id: Id) -> Template:
        principal = principal_of(request)
        try:
            with answers(request):
                patient = services.get_patient(db, principal, patient_id)
                if patient.archived and not archive_access_open(db, principal, patient_id):
                    # an archived record opens only with a recorded reason (nothing read before it)
                    return page(request, "core/patients/archived.html", {
                        "patient_id": patient_id, "reasons": _archive_reasons(request), "errors": {}})
                view = services.read_patient(db, principal, patient_id)
        except HTTPException as exc:
            if exc.status_code == 410:
                kept = services.kept_after_erasure(db, carnet_state(request).host, principal.clinic, patient_id)
                return page(request, "core/patients/erased.html", {"kept": kept}, status_code=410)
            raise
        return page(request, "core/patients/show.html", {
            "patient": view, "relations": RELATION_LABELS,
            "panels": _panels(request, db, patient), "can_edit": principal.can(EDIT),
            "can_export": services.may_export(principal, patient), "can_erase": principal.can(ERASE),
        })

    @post("/{patient_id:int}/archive-access", opt={"permission": VIEW}, sync_to_thread=True,
          name="patients.archive_access")
    def archive_access(
        self, request: Request[Any, Any, Any], db: NamedDependency[Any], patient_id: Id, data: FormBody,
    ) -> Template | Redirect:
        """Open an archived record for this user for a while, with the reason recorded (audited)."""
        principal = principal_of(request)
        raw = data.get("reason")
        reason = (raw[-1] if raw else "") if isinstance(raw, list) else (raw if isinstance(raw, str) else "")
        with answers(request):
            services.get_patient(db, principal, patient_id)
            try:
                record_archive_access(db, principal, patient_id, reason)
            except RetentionInvalid:
                return page(request, "core/patients/archived.html", {
                    "patient_id": patient_id, "reasons": _archive_reasons(request),
                    "errors": {"reason": translate(request, "Choose a reason from the list.")}}, status_code=422)
        return Redirect(f"/patients/{patient_id}", status_code=303)

    @post("/{patient_id:int}/export", opt={"permission": EXPORT}, sync_to_thread=True, status_code=200,
          name="patients.export")
    def export_file(self, request: Request[Any, Any, Any], db: NamedDependency[Any], patient_id: Id) -> Response[bytes]:
        """The RGPD export of one patient's file, as a JSON attachment (audited "export")."""
        principal = principal_of(request)
        state = carnet_state(request)
        with answers(request):
            patient = services.get_patient(db, principal, patient_id)
            if not services.may_export(principal, patient):
                raise PatientForbidden("only owners and the patient's practitioner export a file")
            document = services.export_patient(db, principal, patient, host=state.host, clinic=principal.clinic)
        body = json.dumps(document, ensure_ascii=False, indent=2).encode()
        return Response(body, media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="patient-{patient_id}-export.json"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        })

    @get("/{patient_id:int}/erase", opt={"permission": ERASE}, sync_to_thread=True, name="patients.erase_form")
    def erase_form(self, request: Request[Any, Any, Any], db: NamedDependency[Any], patient_id: Id) -> Template:
        principal = principal_of(request)
        with answers(request):
            services.get_patient(db, principal, patient_id)
        return page(request, "core/patients/erase.html", {
            "patient_id": patient_id, "reasons": _reasons(request), "errors": {}, "values": {},
            "kept": services.kept_after_erasure(db, carnet_state(request).host, principal.clinic, patient_id),
        })

    @post("/{patient_id:int}/erase", opt={"permission": ERASE}, sync_to_thread=True, name="patients.erase")
    def erase(
        self, request: Request[Any, Any, Any], db: NamedDependency[Any], patient_id: Id, data: FormBody,
    ) -> Template | Redirect:
        """Lawful erasure, confirmed by typing the patient's last name and choosing a reason."""
        principal = principal_of(request)
        state = carnet_state(request)
        values = {k: (v[0] if isinstance(v, list) and v else v) for k, v in data.items() if k != "_csrf_token"}
        typed = values.get("confirm_last_name") if isinstance(values.get("confirm_last_name"), str) else ""
        reason = values.get("reason") if isinstance(values.get("reason"), str) else ""
        with answers(request):
            patient = services.get_patient(db, principal, patient_id)
            errors: dict[str, str] = {}
            if reason not in ERASURE_REASONS:
                errors["reason"] = translate(request, "Choose a reason from the list.")
            if not services.confirms_last_name(db, patient, typed):
                errors["confirm_last_name"] = translate(request, "Type the patient's last name exactly to confirm.")
            if errors:
                return page(request, "core/patients/erase.html", {
                    "patient_id": patient_id, "reasons": _reasons(request), "errors": errors,
                    "values": {"reason": reason},
                    "kept": services.kept_after_erasure(db, state.host, principal.clinic, patient_id),
                }, status_code=422)
            services.erase_patient(db, principal, patient, host=state.host, clinic=principal.clinic, reason=reason)
        return Redirect(f"/patients/{patient_id}", status_code=303)

    @get("/{patient_id:int}/edit", opt={"permission": EDIT}, sync_to_thread=True, name="patients.edit")
    def edit_page(self, request: Request[Any, Any, Any], db: NamedDependency[Any], patient_id: Id) -> Template:
        principal = principal_of(request)
        with answers(request):
            view = services.read_patient(db, principal, patient_id)
        return page(request, "core/patients/form.html", {
            # a damaged field is left empty: saving the form replaces it (never the marker's text)
            "values": {name: readable(value) for name, value in view.fields.items()}, "errors": {},
            "patient_id": patient_id, "clinical": view.clinical_visible, "relations": RELATION_LABELS,
            "guardian_rows": _guardian_rows([{k: readable(v) for k, v in g.items()} for g in view.guardians]),
        })

    @post("/{patient_id:int}/edit", opt={"permission": EDIT}, sync_to_thread=True, name="patients.update")
    def update_page(
        self, request: Request[Any, Any, Any], db: NamedDependency[Any], patient_id: Id, data: FormBody
    ) -> Template | Redirect:
        principal = principal_of(request)
        with answers(request):
            patient = services.get_patient(db, principal, patient_id)
            clinical = services.clinical_allowed(db, principal, patient)
        values = _form_values(data, clinical)
        with answers(request):
            try:
                services.update_patient(db, principal, patient, values)
            except PatientInvalid as exc:
                return form_page(request, "core/patients/form.html", {
                    "values": values, "patient_id": patient_id, "clinical": clinical,
                    "guardian_rows": _guardian_rows(values["guardians"]), "relations": RELATION_LABELS,
                }, errors_of(request, exc))
        return Redirect(f"/patients/{patient_id}", status_code=303)


class PatientSettingsPages(Controller):
    """The clinic's registry settings (owners): whether practitioners share every patient."""

    path = "/settings/patients"
    include_in_schema = False
    opt = {"permission": SETTINGS}

    @get("/", sync_to_thread=True, name="patients.settings")
    def show(self, request: Request[Any, Any, Any], db: NamedDependency[Any]) -> Template:
        return page(request, "core/patients/settings.html", {"share_patients": services.shares_patients(db)})

    @post("/", sync_to_thread=True, name="patients.settings.save")
    def save(self, request: Request[Any, Any, Any], db: NamedDependency[Any], data: FormBody) -> Template | Redirect:
        raw = data.get("share_patients")
        if isinstance(raw, list):
            raw = raw[-1] if raw else None
        share = str(raw or "").lower() in ("1", "true", "on", "yes")
        services.set_share_patients(db, share, actor=principal_of(request))
        return Redirect("/settings/patients", status_code=303)


def _reasons(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    labels = {
        "patient_request": translate(request, "The patient asked for erasure (right to erasure)"),
        "retention_expired": translate(request, "The retention period has ended"),
        "unlawful_processing": translate(request, "The data should never have been collected"),
        "other": translate(request, "Another lawful ground"),
    }
    return [(code, labels[code]) for code in ERASURE_REASONS]


def _archive_reasons(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    labels = {
        "continuity_of_care": translate(request, "Continuity of care (the patient comes back)"),
        "patient_request": translate(request, "The patient asked for their record"),
        "legal_request": translate(request, "A legal request"),
        "billing_query": translate(request, "A billing or insurance query"),
    }
    return [(code, labels[code]) for code in ARCHIVE_ACCESS_REASONS]


def route_handlers() -> list[Any]:
    return [PatientApi, search_by_body, PatientPages, PatientSettingsPages]
