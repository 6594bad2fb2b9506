"""The patient registry: register, read, update, search, erase — sealed, indexed and audited.

Who sees what: `core.patients.view_all` (owner, secretary) sees the administrative file of every
patient of the clinic; a practitioner sees the patients they follow (`practitioner_id`) unless the
clinic shares patients (`share_patients`), then every patient. Clinical notes need
`core.patients.clinical` (practitioners) on a patient they see under that rule; a secretary never
reads them. Every read and write records an audit entry in the same transaction.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import select

from carnet_core import audit
from carnet_core.db.base import utcnow
from carnet_core.db.session import CarnetSession
from carnet_core.encryption import (
    blind_index,
    destroy_subject_key,
    ensure_subject_key,
    open_,
    patient_subject,
    seal,
)
from carnet_core.encryption.models import PURPOSE_DATA, DataKey, SubjectKey
from carnet_core.encryption.normalise import fold_phone
from carnet_core.encryption.services import PATIENT_SUBJECT, open_data_keys, open_subject_keys
from carnet_core.encryption.unreadable import Unreadable, open_fields, open_row_value, unreadable_fields
from carnet_core.i18n import N_
from carnet_core.patients import prefixes
from carnet_core.patients.models import (
    ADMIN_FIELDS,
    CLINICAL_FIELDS,
    GUARDIAN_FIELDS,
    Patient,
    PatientGuardian,
    PatientSettings,
)
from carnet_core.patients.validation import FieldError, PatientInvalid, clean_patient, normalise_phone

VIEW = "core.patients.view"
VIEW_ALL = "core.patients.view_all"
EDIT = "core.patients.edit"
CLINICAL = "core.patients.clinical"
ERASE = "core.patients.erase"
EXPORT = "core.patients.export"
SETTINGS = "core.patients.settings"
EXPORT_FORMAT = "carnet.patient-export/1"
ERASURE_REASONS = ("patient_request", "retention_expired", "unlawful_processing", "other")
RESOURCE = "patient"


class PatientError(ValueError):
    """Base class of registry errors (answered as 4xx)."""


class PatientNotFound(PatientError):
    """No such patient for this user (unknown, other clinic, or not visible to them)."""


class PatientErased(PatientError):
    """The patient's data was erased (crypto-shredded); it cannot be read or changed."""


class PatientForbidden(PatientError):
    """The user may see the patient but not do this (e.g. clinical notes)."""


__all__ = [
    "PatientErased", "PatientError", "PatientForbidden", "PatientInvalid", "PatientNotFound",
    "PatientView", "create_patient", "erase_patient", "get_patient", "list_patients", "read_patient",
    "search_patients", "shares_patients", "update_patient", "export_patient", "may_export",
]


@dataclass
class PatientView:
    """Plaintext of the fields this user may read."""

    id: int
    fields: dict[str, Any]
    guardians: list[dict[str, Any]] = field(default_factory=list)
    practitioner_id: int | None = None
    identity_status: str = "provisional"
    archived: bool = False
    clinical_visible: bool = False
    created_at: Any = None
    updated_at: Any = None
    # Fields whose sealed value failed its integrity check (shown as "données illisibles").
    unreadable: list[str] = field(default_factory=list)

    @property
    def display_name(self) -> str:
        return display_name(self.fields.get("last_name") or "", self.fields.get("first_name") or "")


def display_name(last_name: str, first_name: str) -> str:
    """How staff pages show a patient: "LEFÈVRE Élodie" (the `Unreadable` marker when a part of
    the name is damaged: never half a name)."""
    for part in (last_name, first_name):
        if isinstance(part, Unreadable):
            return part
    return f"{last_name.upper()} {first_name}".strip()


# --- visibility ----------------------------------------------------------------------------------


_SHARE_INFO = "carnet.patients.share"


def shares_patients(db: Any) -> bool:
    """The clinic's `share_patients` setting (read once per transaction)."""
    cached = db.info.get(_SHARE_INFO)
    if cached is None:
        row = db.exec(select(PatientSettings)).first()
        cached = db.info[_SHARE_INFO] = bool(row and row.share_patients)
    return cached


def set_share_patients(db: Any, share: bool, actor: Any = None) -> bool:
    """Turn patient sharing on or off for the session's clinic; audited when `actor` is given.
    Returns whether the setting changed."""
    row = db.exec(select(PatientSettings)).first() or PatientSettings(clinic_id=db.clinic_id)
    changed = bool(row.share_patients) != share or row.id is None
    row.share_patients = share
    db.add(row)
    db.flush()
    db.info[_SHARE_INFO] = share
    if actor is not None and changed:
        audit.record(
            db, actor=actor, action="update", resource_type="patient_settings", resource_id=row.id,
            details={"share_patients": share},
        )
    return changed


def _sees_all(db: Any, principal: Any) -> bool:
    return principal.can(VIEW_ALL) or shares_patients(db)


def _follows(db: Any, principal: Any, patient: Patient) -> bool:
    return patient.practitioner_id == principal.user_id or shares_patients(db)


def _visible(db: Any, principal: Any) -> sa.ColumnElement[bool] | None:
    """The filter on patients this principal may see (None: every patient of the clinic)."""
    if _sees_all(db, principal):
        return None
    return Patient.practitioner_id == principal.user_id


def clinical_allowed(db: Any, principal: Any, patient: Patient) -> bool:
    return principal.can(CLINICAL) and _follows(db, principal, patient)


def get_patient(db: Any, principal: Any, patient_id: int) -> Patient:
    """The patient if this principal may see them; PatientNotFound otherwise (no existence leak)."""
    query = select(Patient).where(Patient.id == patient_id)
    visible = _visible(db, principal)
    if visible is not None:
        query = query.where(visible)
    patient = db.exec(query).first()
    if patient is None:
        raise PatientNotFound("no such patient")
    if patient.erased_at is not None:
        raise PatientErased("this patient's data was erased; it can no longer be read or changed")
    return patient


# --- writing -------------------------------------------------------------------------------------


def _check_practitioner(db: Any, practitioner_id: int | None) -> None:
    if practitioner_id is None:
        return
    from carnet_core.identity.models import Membership

    member = db.exec(
        select(Membership).where(Membership.user_id == practitioner_id, Membership.active.is_(True))
    ).first()
    if member is None or "practitioner" not in member.role_set:
        raise PatientInvalid({"practitioner_id": FieldError(
            "not_a_practitioner", N_("Not a practitioner of this clinic."))})


def _write_fields(db: Any, patient: Patient, values: dict[str, Any], new: bool = False) -> None:
    clinic_id = patient.clinic_id
    # The key reads below do not flush the sealed values set above them: the row is written
    # once, by the caller's flush, not once per key read.
    with db.no_autoflush:
        for name in (*ADMIN_FIELDS, *CLINICAL_FIELDS):
            if name in values:
                seal(db, patient, name, values[name])
        if "last_name" in values:
            patient.last_name_bidx = blind_index(db, clinic_id, "core_patient.last_name", values["last_name"], "name")
        if "last_name" in values or "first_name" in values:
            names = {n: values[n] if n in values else open_(db, patient, n) for n in ("last_name", "first_name")}
            prefixes.write(db, patient, names["last_name"], names["first_name"], new=new)
        if "email" in values:
            patient.email_bidx = blind_index(db, clinic_id, "core_patient.email", values["email"], "email")
        if "phone" in values:
            patient.phone_bidx = blind_index(db, clinic_id, "core_patient.phone", values["phone"], "phone")
        if "birth_date" in values:
            patient.birth_date_bidx = prefixes.birth_date_index(db, clinic_id, values["birth_date"])
    for name in ("identity_status", "archived", "practitioner_id"):
        if name in values:
            setattr(patient, name, values[name])


def _write_guardians(db: Any, patient: Patient, guardians: list[dict[str, Any]], new: bool = False) -> None:
    if not new:  # a patient just created has none to replace
        for old in db.exec(select(PatientGuardian).where(PatientGuardian.patient_id == patient.id)).all():
            db.delete(old)
    db.flush()
    for data in guardians:
        guardian = PatientGuardian(
            patient_id=patient.id, relation=data["relation"], clinic_id=patient.clinic_id,
            may_receive_messages=data.get("may_receive_messages", True),
            main_contact=bool(data.get("main_contact", False)),
        )
        db.add(guardian)
        for name in GUARDIAN_FIELDS:
            seal(db, guardian, name, data.get(name))


def create_patient(db: Any, principal: Any, data: dict[str, Any]) -> Patient:
    """Register a patient from raw input; raises PatientInvalid with every bad field."""
    values = clean_patient(data, partial=False)
    if values.get("notes") and not principal.can(CLINICAL):
        raise PatientForbidden("clinical notes need the core.patients.clinical permission")
    if values.get("practitioner_id") is None and "practitioner" in principal.roles:
        values["practitioner_id"] = principal.user_id
    _check_practitioner(db, values.get("practitioner_id"))
    guardians = values.pop("guardians", [])
    patient = Patient(clinic_id=db.clinic_id)
    db.add(patient)
    db.flush()
    assert patient.id is not None
    ensure_subject_key(db, patient.clinic_id, patient_subject(patient.id))
    _write_fields(db, patient, values, new=True)
    _write_guardians(db, patient, guardians, new=True)
    db.add(patient)
    db.flush()
    audit.record(
        db, actor=principal, action="create", resource_type=RESOURCE, resource_id=patient.id,
        patient_id=patient.id,
    )
    return patient


def update_patient(db: Any, principal: Any, patient: Patient, data: dict[str, Any]) -> Patient:
    """Change the fields given (None clears an optional one); audited with the field names."""
    values = clean_patient(data, partial=True)
    if "notes" in values and not clinical_allowed(db, principal, patient):
        raise PatientForbidden("clinical notes need the core.patients.clinical permission")
    if "practitioner_id" in values:
        _check_practitioner(db, values["practitioner_id"])
    guardians = values.pop("guardians", None)
    _write_fields(db, patient, values)
    if guardians is not None:
        _write_guardians(db, patient, guardians)
    patient.updated_at = utcnow()
    db.add(patient)
    db.flush()
    changed = sorted([*values, *(["guardians"] if guardians is not None else [])])
    audit.record(
        db, actor=principal, action="update", resource_type=RESOURCE, resource_id=patient.id, patient_id=patient.id,
        details={"fields": changed},
    )
    return patient


def erase_patient(
    db: Any, principal: Any, patient: Patient, host: Any = None, clinic: Any = None, reason: str | None = None
) -> None:
    """Lawful erasure: every installed plugin's `erase_patient_data` (enabled for the clinic or
    not: a disabled module keeps its data), then destroy the patient's key (crypto-shredding) and
    their search indexes.

    `reason` is one of ERASURE_REASONS (a code, kept in the audit record; never free text)."""
    assert patient.id is not None
    if reason is not None and reason not in ERASURE_REASONS:
        raise PatientInvalid({"reason": FieldError("invalid_choice", N_("Choose a reason from the list."))})
    if host is not None:
        host.lifecycle("erase_patient_data")(clinic=clinic, patient=patient, db=db)
    destroy_subject_key(db, patient.clinic_id, patient_subject(patient.id))
    patient.last_name_bidx = patient.email_bidx = patient.phone_bidx = patient.birth_date_bidx = None
    prefixes.forget(db, patient)
    patient.erased_at = utcnow()
    patient.archived = True
    db.add(patient)
    db.flush()
    audit.record(
        db, actor=principal, action="erase", resource_type=RESOURCE, resource_id=patient.id,
        patient_id=patient.id, details={"reason": reason} if reason else None,
    )


def kept_after_erasure(db: Any, host: Any, clinic: Any, patient_id: int) -> list[str]:
    """What the modules keep of a patient's file after its erasure, and why (msgids, translated
    where shown): the erasure form says it before, the erased file's page after. Every installed
    plugin is asked (`patient_data_kept`), enabled for the clinic or not."""
    if host is None:
        return []
    kept: list[str] = []
    for _plugin, messages in host.lifecycle_each("patient_data_kept", clinic=clinic, patient_id=patient_id, db=db):
        kept.extend(str(m) for m in messages)
    return kept


def confirms_last_name(db: Any, patient: Patient, typed: str) -> bool:
    """Whether `typed` is the patient's last name (case, spaces and accents folded, like search)."""
    if not typed or not typed.strip() or patient.last_name_bidx is None:
        return False
    index = blind_index(db, patient.clinic_id, "core_patient.last_name", typed, "name")
    return hmac.compare_digest(index, patient.last_name_bidx)


# --- RGPD export ---------------------------------------------------------------------------------


def may_export(principal: Any, patient: Patient) -> bool:
    """Owners export any patient's file; a practitioner, the files of the patients they follow."""
    if not principal.can(EXPORT):
        return False
    return "owner" in principal.roles or patient.practitioner_id == principal.user_id


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"an export holds JSON values, not {type(value).__name__}")


def export_patient(db: Any, actor: Any, patient: Patient, *, host: Any, clinic: Any) -> dict[str, Any]:
    """Everything the record holds about the patient, decrypted (RGPD access and portability):
    core fields, guardians, and each installed plugin's `export_patient_data` (enabled for the
    clinic or not: a disabled module keeps its data), keyed by plugin name.

    Callers check who may export (`may_export` for people); audited as action "export".
    """
    assert patient.id is not None
    if patient.erased_at is not None:
        raise PatientErased("this patient's data was erased; it can no longer be exported")
    fields = open_fields(db, patient, (*ADMIN_FIELDS, *CLINICAL_FIELDS))
    guardians = [
        {"relation": g.relation, **open_fields(db, g, GUARDIAN_FIELDS), "may_receive_messages": g.may_receive_messages,
         "main_contact": g.main_contact}
        for g in db.exec(
            select(PatientGuardian).where(PatientGuardian.patient_id == patient.id).order_by(PatientGuardian.id)
        ).all()
    ]
    plugins = {
        name: _jsonable(result)
        for name, result in host.lifecycle_each("export_patient_data", clinic=clinic, patient=patient, db=db)
    }
    unreadable = unreadable_fields(fields) + [f"guardians.{n}" for g in guardians for n in unreadable_fields(g)]
    fields = {name: _readable(value) for name, value in fields.items()}
    guardians = [{name: _readable(value) for name, value in g.items()} for g in guardians]
    document = {
        "format": EXPORT_FORMAT,
        "exported_at": utcnow().isoformat(),
        "clinic": {"slug": getattr(clinic, "slug", None), "name": getattr(clinic, "name", None)},
        "patient": {
            "id": patient.id, **fields, "identity_status": patient.identity_status,
            "practitioner_id": patient.practitioner_id, "archived": patient.archived,
            "created_at": patient.created_at.isoformat(), "updated_at": patient.updated_at.isoformat(),
            "guardians": guardians,
        },
        "plugins": plugins,
    }
    if unreadable:  # fail closed per field: the damaged values are left out and named
        document["unreadable"] = unreadable
    audit.record(
        db, actor=actor, action="export", resource_type=RESOURCE, resource_id=patient.id, patient_id=patient.id,
        clinic_id=patient.clinic_id, details={"plugins": sorted(plugins), "guardians": len(guardians)},
    )
    return document


# --- reading -------------------------------------------------------------------------------------


def _view(db: Any, principal: Any, patient: Patient, with_guardians: bool = True) -> PatientView:
    clinical = clinical_allowed(db, principal, patient)
    names = ADMIN_FIELDS + (CLINICAL_FIELDS if clinical else ())
    fields = open_fields(db, patient, names)  # a damaged value fails closed for this record only
    unreadable = unreadable_fields(fields)
    guardians = []
    if with_guardians:
        for g in db.exec(
            select(PatientGuardian).where(PatientGuardian.patient_id == patient.id).order_by(PatientGuardian.id)
        ).all():
            opened = open_fields(db, g, GUARDIAN_FIELDS)
            unreadable += [f"guardians.{n}" for n in unreadable_fields(opened)]
            guardians.append({"relation": g.relation, **opened, "may_receive_messages": g.may_receive_messages,
                              "main_contact": g.main_contact})
    assert patient.id is not None
    return PatientView(
        id=patient.id, fields=fields, guardians=guardians, practitioner_id=patient.practitioner_id,
        identity_status=patient.identity_status, archived=patient.archived, clinical_visible=clinical,
        created_at=patient.created_at, updated_at=patient.updated_at, unreadable=unreadable,
    )


def read_patient(db: Any, principal: Any, patient_id: int) -> PatientView:
    """One patient's file as this user may see it; audited."""
    patient = get_patient(db, principal, patient_id)
    view = _view(db, principal, patient)
    audit.record(
        db, actor=principal, action="read", resource_type=RESOURCE, resource_id=patient.id, patient_id=patient.id,
        details={"clinical": view.clinical_visible},
    )
    return view


def _search_index(db: Any, q: str) -> tuple[str, sa.ColumnElement[bool]] | None:
    clinic_id = db.clinic_id
    q = q.strip()
    if not q:
        return None
    born = prefixes.typed_birth_date(q)
    if born is not None:  # before the phone: "23/04/2014" is digits only too
        return "birth_date", Patient.birth_date_bidx == prefixes.birth_date_index(db, clinic_id, born)
    if "@" in q:
        return "email", Patient.email_bidx == blind_index(db, clinic_id, "core_patient.email", q, "email")
    if sum(ch.isdigit() for ch in q) >= 6 and not any(ch.isalpha() for ch in q):
        try:
            phone = normalise_phone(q)
        except ValueError:
            phone = "+" + fold_phone(q)
        return "phone", Patient.phone_bidx == blind_index(db, clinic_id, "core_patient.phone", phone, "phone")
    exact = Patient.last_name_bidx == blind_index(db, clinic_id, "core_patient.last_name", q, "name")
    by_prefix = prefixes.matching(db, q)
    if by_prefix is None:  # no word of two letters: an exact last name ("Ô") or nothing
        return "last_name", exact
    # the exact last name too: a patient whose prefixes `carnet init` has not indexed yet
    return "name_prefix", sa.or_(by_prefix, exact)


def search_patients(
    db: Any, principal: Any, q: str | None, limit: int = 50, offset: int = 0, archived: bool = False
) -> list[PatientView]:
    """Search by the first letters of the last or first names ("Mar", "mar jul": each word starts
    a name's word; `prefixes`), by birth date ("23/04/2014" or "2014-04-23"), by exact e-mail or
    phone (blind indexes), or the list when `q` is empty.

    A search records one audit entry per patient found; a plain list records one entry.
    """
    query = select(Patient).where(Patient.erased_at.is_(None))
    if not archived:
        query = query.where(Patient.archived.is_(False))
    visible = _visible(db, principal)
    if visible is not None:
        query = query.where(visible)
    searched = _search_index(db, q or "")
    if searched is not None:
        query = query.where(searched[1])
    rows = db.exec(query.order_by(Patient.id).offset(offset).limit(limit)).all()
    views = [_view(db, principal, p, with_guardians=False) for p in rows]
    if searched is not None and searched[0] == "name_prefix":
        views = [v for v in views if prefixes.names_start_with(q or "", v.fields.get("last_name"),
                                                               v.fields.get("first_name"))]
    views.sort(key=lambda v: (
        (v.fields.get("last_name") or "").casefold(), (v.fields.get("first_name") or "").casefold()
    ))
    if searched is not None:
        for view in views:
            audit.record(
                db, actor=principal, action="search", resource_type=RESOURCE, resource_id=view.id, patient_id=view.id,
                details={"by": searched[0]},
            )
    else:
        audit.record(
            db, actor=principal, action="list", resource_type=RESOURCE,
            details={"count": len(views), "offset": offset},
        )
    return views


class _KeyRow(NamedTuple):
    """What `open_subject_keys` reads of a `SubjectKey` row."""

    id: int
    clinic_id: int
    subject: str
    data_key_version: int
    wrapped: bytes | None


_KEY_COLUMNS = tuple(getattr(SubjectKey, name) for name in _KeyRow._fields)


@lru_cache(maxsize=1)
def _with_keys_query() -> Any:
    """`patient_with_keys`'s statement, built once (building it cost as much as running it)."""
    return (
        select(Patient, *_KEY_COLUMNS, DataKey.wrapped)
        .outerjoin(SubjectKey, sa.and_(SubjectKey.clinic_id == Patient.clinic_id,
                                       SubjectKey.subject == sa.bindparam("subject")))
        .outerjoin(DataKey, sa.and_(DataKey.clinic_id == SubjectKey.clinic_id, DataKey.purpose == PURPOSE_DATA,
                                    DataKey.version == SubjectKey.data_key_version))
        .where(Patient.id == sa.bindparam("patient_id"))
    )


def patient_with_keys(db: Any, patient_id: int) -> Patient | None:
    """The patient row of the session's clinic (None: no such patient), its key and the clinic
    key that wraps it opened from the same query: one round trip where reading the row, then its
    key, then the clinic key took three (a job opening one patient's address)."""
    row = db.exec(_with_keys_query(), params={"patient_id": patient_id, "subject": patient_subject(patient_id)}).first()
    if row is None:
        return None
    patient, key_id, clinic_id, subject, version, wrapped, data_wrapped = row
    if key_id is not None:
        open_data_keys(db, [(clinic_id, version, data_wrapped)])
        open_subject_keys(db, [_KeyRow(key_id, clinic_id, subject, version, wrapped)])
    return patient  # type: ignore[no-any-return]


def names_of(
    db: Any, patient_ids: Iterable[int], keep: Callable[[int, int | None], bool] | None = None,
) -> dict[int, tuple[str, str]]:
    """(last name, first name) of live patients of the session's clinic, for pages that list many
    (an agenda week shows 40): one query reads the rows with their keys. `keep(patient_id,
    practitioner_id)` chooses which names are opened at all. Each name opened is traced by core
    (one record per patient and transaction, see `carnet_core.audit.trace`)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    subject = sa.literal(PATIENT_SUBJECT) + sa.cast(Patient.id, sa.String)  # patient_subject(id), in SQL
    on = [SubjectKey.clinic_id == Patient.clinic_id, SubjectKey.subject == subject]
    if db.get_bind().dialect.name == "postgresql":
        # The keys' subjects also as constants: PostgreSQL then reads the keys through their
        # (clinic_id, subject) index instead of scanning every key of the clinic to hash-join them
        # on the computed text (SQLite looks each one up by the index already).
        on.append(SubjectKey.subject.in_([patient_subject(pid) for pid in ids]))  # type: ignore[attr-defined]
    rows = db.exec(
        select(Patient.id, Patient.clinic_id, Patient.practitioner_id, Patient.last_name, Patient.first_name,
               *_KEY_COLUMNS, DataKey.wrapped)
        .outerjoin(SubjectKey, sa.and_(*on))
        # the clinic key that wraps each patient key, read with it (not by a query of its own)
        .outerjoin(DataKey, sa.and_(DataKey.clinic_id == SubjectKey.clinic_id, DataKey.purpose == PURPOSE_DATA,
                                    DataKey.version == SubjectKey.data_key_version))
        .where(Patient.id.in_(ids), Patient.erased_at.is_(None))  # type: ignore[union-attr,attr-defined]
    ).all()
    rows = [r for r in rows if keep is None or keep(r[0], r[2])]
    if not rows:
        return {}
    # The keys came with the rows (no second query), as the columns opening needs: 40 key rows
    # built as ORM objects cost more than opening them.
    open_data_keys(db, {(r[6], r[8], r[10]) for r in rows if r[5] is not None})
    open_subject_keys(db, [None if r[5] is None else _KeyRow(*r[5:10]) for r in rows])
    table = Patient.__tablename__

    def opened(patient_id: int, clinic_id: int, column: str, sealed: bytes | None) -> str:
        # a damaged name becomes an Unreadable marker for this patient only (reported once)
        return open_row_value(db, clinic_id, table, column, patient_id, sealed) or ""

    return {pid: (opened(pid, cid, "last_name", last), opened(pid, cid, "first_name", first))
            for pid, cid, _, last, first, *_ in rows}


def _readable(value: Any) -> Any:
    return None if isinstance(value, Unreadable) else value


def count_patients(db: Any, principal: Any, archived: bool = False) -> int:
    """How many live patients this principal may see (the list's pages); opens nothing."""
    query = select(sa.func.count()).select_from(Patient).where(Patient.erased_at.is_(None))
    if not archived:
        query = query.where(Patient.archived.is_(False))
    visible = _visible(db, principal)
    if visible is not None:
        query = query.where(visible)
    return int(db.exec(query).one())


def list_patients(db: Any, principal: Any, limit: int = 50, offset: int = 0) -> list[PatientView]:
    return search_patients(db, principal, None, limit=limit, offset=offset)


@event.listens_for(CarnetSession, "after_commit")
def _forget_share_setting(session: CarnetSession) -> None:
    session.info.pop(_SHARE_INFO, None)


@event.listens_for(CarnetSession, "after_soft_rollback")
def _forget_share_setting_on_rollback(session: CarnetSession, previous_transaction: Any) -> None:
    session.info.pop(_SHARE_INFO, None)
