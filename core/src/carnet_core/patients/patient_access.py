"""Patient access for plugins: the one way to reach a clinic's patients, with core's rules.

    from carnet_core.plugin_api import patient_access     # (core code: carnet_core.patients.access)

    patients = patient_access(db, principal)           # principal: the request's, or "job:<actor>" in a job
    patients.get(patient_id)                   # PatientRef, or PatientNotFound / PatientErased
    patients.exists(patient_id)                # a patient of this clinic? (checks a reference)
    patients.names(ids, cared_for=own)         # {id: "LEFÈVRE Élodie"} of the patients they may see
    patients.search("lefè")                    # [PatientRef + display_name]: names' first letters, e-mail, phone
    patients.require_clinical(patient_id)      # PatientForbidden unless clinical content is allowed
    patients.contact(patient_id, "email")      # where to send a message (patient, else a guardian)
    patients.phones(ids, cared_for=own)        # {id: "+33612345678"}: the number to call, for a day's list
    patients.guardians(patient_id)             # [GuardianContact]: holders of parental authority
    patients.find(email=..., last_name=...)    # id of a known patient (online forms), no data
    patients.find_by_guardian(email=..., last_name=...)  # (patient id, guardian id) for a parent
    patients.register({...})                   # a new patient through the registry's validation

Rules (the registry's, `patients.services`): staff with `core.patients.view_all` (owner,
secretary) see every patient of the clinic; a practitioner sees the patients they follow, every
patient when the clinic shares them, and the patients the plugin's own records show they care for
(`cared_for`, e.g. appointments booked with them). Clinical content needs
`core.patients.clinical` on a patient they see under that rule (`cares=True`: the plugin's record
is theirs). Jobs and system work (`"job:<actor>"`, `"system:<what>"`; the default outside a
request and a job) see every patient of their session's clinic, never clinical content; a
patient link sees only its own patient; an anonymous visitor none. Unknown,
other clinic's and invisible patients are all PatientNotFound (no existence leak).

Every sealed value these methods open is audited in the caller's transaction under `principal`
(one record per patient and request, see `carnet_core.audit.trace`).

Loading `Patient` or `PatientGuardian` directly from a plugin bypasses these rules; under core's
pytest plugin such a load fails (`patients.guard`), so a plugin's own test suite catches it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select

from carnet_core import audit
from carnet_core.encryption import KeyDestroyed, blind_index
from carnet_core.encryption.unreadable import open_or_unreadable, readable
from carnet_core.patients import services as registry
from carnet_core.patients.models import Patient, PatientGuardian
from carnet_core.patients.services import (
    CLINICAL,
    VIEW_ALL,
    PatientErased,
    PatientForbidden,
    PatientNotFound,
)

__all__ = ["GuardianContact", "PatientAccess", "PatientContact", "PatientRef", "access", "patient_access"]


@dataclass(frozen=True)
class PatientRef:
    """What a plugin may hold of a patient without opening sealed data (plus `display_name` when
    it came from a search)."""

    id: int
    practitioner_id: int | None
    archived: bool
    identity_status: str
    created_at: datetime | None = None
    display_name: str | None = None
    birth_date: str | None = None  # from a search only: tells homonyms apart (ISO date)


@dataclass(frozen=True)
class PatientContact:
    """Where to send a patient a message: their own e-mail and phone, else a guardian's."""

    email: str | None
    phone: str | None
    first_name: str | None = None
    last_name: str | None = None

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class GuardianContact:
    """A holder of parental authority (or legal guardian) recorded on a patient: `id` is stable
    while the patient's record keeps them (a plugin may point at it to say which parent acted)."""

    id: int
    relation: str  # mother, father, guardian, other
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    main_contact: bool = False  # the holder the practice reaches first (at most one)

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class _Acting:
    """A principal that is not a person (a job, system work, a public form): duck-types the web
    Principal for the registry and the audit trail; it holds no permission."""

    kind: str
    actor_id: str | None = None
    clinic_id: int | None = None
    user_id: int | None = None
    roles: frozenset[str] = frozenset()

    @property
    def extra(self) -> dict[str, Any]:
        return {"actor_id": self.actor_id}

    @property
    def is_authenticated(self) -> bool:
        return False

    def can(self, permission: str) -> bool:
        return False


def _principal_of(db: Any, principal: Any) -> Any:
    if principal is None:
        principal = db.info.get("principal")
    if principal is None:
        from carnet_core.jobs.context import current_job_or_none

        job = current_job_or_none()
        principal = f"job:{job.actor}" if job is not None else None
    if principal is None:
        principal = "system"  # outside a request and a job: a command, a script (audited as system)
    if isinstance(principal, str):
        # An audit actor string: "job:<actor>" / "system:<what>" act for the clinic; "user:<id>"
        # (commands, tests) is a person without permissions: the patients they follow.
        kind, _, ident = principal.partition(":")
        if kind not in ("job", "system", "user"):
            raise PatientForbidden(f"principal '{principal}': give the request's principal, or 'job:…' / 'system:…'")
        user_id = int(ident) if kind == "user" and ident.isdigit() else None
        return _Acting(kind, ident or None, db.info.get("clinic_id"), user_id)
    return principal


def access(db: Any, principal: Any = None) -> PatientAccess:
    """Patient access for `principal` (default: the session's, else the running job, else
    "system") in `db`'s clinic."""
    return PatientAccess(db, _principal_of(db, principal))


patient_access = access  # the name on the plugins' surface (carnet_core.plugin_api)


class PatientAccess:
    """One principal's way to the patients of the session's clinic (see the module's rules)."""

    def __init__(self, db: Any, principal: Any):
        self.db = db
        self.principal = principal

    # --- who sees whom -------------------------------------------------------------------------

    @property
    def _kind(self) -> str:
        return getattr(self.principal, "kind", "anonymous")

    def _is_staff(self) -> bool:
        return self._kind in ("user", "token") and getattr(self.principal, "user_id", None) is not None

    def _sees_all(self) -> bool:
        if self._kind in ("job", "system"):
            return True
        return self._is_staff() and (self.principal.can(VIEW_ALL) or registry.shares_patients(self.db))

    def _may_see(self, patient_id: int, practitioner_id: int | None, cared_for: frozenset[int]) -> bool:
        if self._sees_all():
            return True
        if self._kind == "patient_link":
            return patient_id == (getattr(self.principal, "extra", None) or {}).get("patient_id")
        if not self._is_staff():
            return False
        return practitioner_id == self.principal.user_id or patient_id in cared_for

    def _visible_filter(self, cared_for: frozenset[int]) -> Any:
        """`_may_see` for many rows: None when this principal sees every patient of the clinic
        (decided once, not per row), else keep(patient_id, practitioner_id)."""
        if self._sees_all():
            return None
        return lambda patient_id, practitioner_id: self._may_see(patient_id, practitioner_id, cared_for)

    def _row(self, patient_id: int) -> Patient:
        patient = self.db.exec(select(Patient).where(Patient.id == patient_id)).first()
        if patient is None:
            raise PatientNotFound("no such patient")
        return patient

    def get(self, patient_id: int, *, cares: bool = False) -> PatientRef:
        """The patient if this principal may see them (`cares`: the plugin's own record shows they
        care for the patient); PatientNotFound otherwise, PatientErased after an erasure."""
        patient = self._row(patient_id)
        if not self._may_see(patient_id, patient.practitioner_id, frozenset({patient_id} if cares else ())):
            raise PatientNotFound("no such patient")
        if patient.erased_at is not None:
            raise PatientErased("this patient's data was erased; it can no longer be read or changed")
        return _ref(patient)

    def exists(self, patient_id: int) -> bool:
        """Whether the id is a patient of the session's clinic (for checking a reference a caller
        gives, e.g. booking for that patient; nothing about them is read)."""
        return self.db.exec(select(Patient.id).where(Patient.id == patient_id)).first() is not None

    def sees(self, patient_id: int, *, cares: bool = False) -> bool:
        try:
            self.get(patient_id, cares=cares)
        except (PatientNotFound, PatientErased):
            return False
        return True

    def may_read_clinical(self, patient_id: int, *, cares: bool = False) -> bool:
        """Clinical content: the clinical permission, on a patient the principal follows (or the
        clinic shares), or one the plugin's record shows they care for (`cares`)."""
        if not self._is_staff() or not self.principal.can(CLINICAL):
            return False
        try:
            patient = self._row(patient_id)
        except PatientNotFound:
            return False
        follows = patient.practitioner_id == self.principal.user_id or registry.shares_patients(self.db)
        return patient.erased_at is None and (follows or cares)

    def require_clinical(self, patient_id: int, *, cares: bool = False) -> PatientRef:
        """The patient, or PatientForbidden when this principal may not read their clinical content
        (PatientNotFound when they may not see the patient at all)."""
        ref = self.get(patient_id, cares=cares)
        if not self.may_read_clinical(patient_id, cares=cares):
            raise PatientForbidden("clinical content needs core.patients.clinical on a patient one follows")
        return ref

    def export(self, patient_id: int, host: Any) -> dict[str, Any]:
        """Core's RGPD export of the patient (`export_patient`: core's fields and every module's
        part), for a job or a person allowed to export (`may_export`); audited as "export" under
        this principal. PatientNotFound / PatientErased / PatientForbidden otherwise."""
        from carnet_core.clinics.models import Clinic

        self.get(patient_id)
        patient = self._row(patient_id)
        if self._kind not in ("job", "system") and not registry.may_export(self.principal, patient):
            raise PatientForbidden("exporting a patient's file needs core.patients.export on a patient one follows")
        clinic = self.db.get(Clinic, patient.clinic_id)
        return registry.export_patient(self.db, self.principal, patient, host=host, clinic=clinic)

    # --- reading -------------------------------------------------------------------------------

    def names(self, patient_ids: Iterable[int], *, cared_for: Iterable[int] = ()) -> dict[int, str]:
        """Display names ("LEFÈVRE Élodie") of the live patients among `patient_ids` this principal
        may see; the others are left out. One query for the rows and their keys; audited as one
        record per patient opened."""
        ids = sorted(set(patient_ids))
        if not ids or self._kind == "anonymous":
            return {}
        opened = registry.names_of(self.db, ids, self._visible_filter(frozenset(cared_for)))
        self._audit_read(sorted(opened), ["first_name", "last_name"])
        return {pid: registry.display_name(last, first) for pid, (last, first) in opened.items()}

    def _audit_read(self, patient_ids: list[int], fields: list[str]) -> None:
        """Core's trace names the session's principal; when this access acts for another one (a
        job's session opened for a feed's holder, a job without its own session), record the
        read under this principal instead (which also covers the trace: no duplicate). Appended at
        commit with the trace (one chain-head lock, held only for the commit)."""
        if patient_ids and self.principal is not self.db.info.get("principal"):
            audit.record_many_at_commit(self.db, [
                {"action": "read", "resource_type": "patient", "resource_id": pid, "patient_id": pid,
                 "actor": self.principal, "details": {"fields": fields}}
                for pid in patient_ids])

    def name(self, patient_id: int, *, cares: bool = False) -> str | None:
        return self.names([patient_id], cared_for=(patient_id,) if cares else ()).get(patient_id)

    def search(self, q: str, limit: int = 10) -> list[PatientRef]:
        """Search by the first letters of the names, birth date, or exact e-mail or phone (blind indexes), among the
        patients this principal sees; audited by the registry (one record per patient found)."""
        q = (q or "").strip()
        if not q or len(q) > 200 or not self._is_staff():
            return []
        views = registry.search_patients(self.db, self.principal, q, limit=limit)
        return [PatientRef(v.id, v.practitioner_id, v.archived, v.identity_status, v.created_at, v.display_name,
                           readable(v.fields.get("birth_date")))
                for v in views]

    def contact(self, patient_id: int, channel: str | None = None) -> PatientContact | None:
        """Where to reach the patient: their own e-mail and phone, else those of the main contact
        among the holders of parental authority who may receive messages, else the first of them.
        With `channel` ("email" or "sms") only what it needs is opened.
        None for a patient erased, unknown or not visible."""
        patient = registry.patient_with_keys(self.db, patient_id)  # what `get` checks, and the keys, in one query
        if patient is None or patient.erased_at is not None or not self._may_see(
                patient_id, patient.practitioner_id, frozenset()):
            return None
        want_email, want_phone = channel in (None, "email"), channel in (None, "sms")
        db = self.db

        def _open(row: Any, column: str) -> str | None:
            return readable(open_or_unreadable(db, row, column))  # damaged: as if missing (reported)

        try:
            email = _open(patient, "email") if want_email else None
            phone = _open(patient, "phone") if want_phone else None
            first = last = None
            if channel is None:
                first, last = _open(patient, "first_name"), _open(patient, "last_name")
            if (want_email and not email) or (want_phone and not phone):
                for guardian in db.exec(select(PatientGuardian).where(
                        PatientGuardian.patient_id == patient_id,
                        PatientGuardian.may_receive_messages == True,  # noqa: E712
                ).order_by(PatientGuardian.main_contact.desc(), PatientGuardian.id)):  # type: ignore[attr-defined]
                    email = email or (_open(guardian, "email") if want_email else None)
                    phone = phone or (_open(guardian, "phone") if want_phone else None)
        except KeyDestroyed:
            return None
        opened = [n for n, wanted in (("email", want_email), ("phone", want_phone), ("first_name", channel is None),
                                      ("last_name", channel is None)) if wanted]
        self._audit_read([patient_id], opened)
        return PatientContact(email=email or None, phone=phone or None, first_name=first, last_name=last)

    def phones(self, patient_ids: Iterable[int], *, cared_for: Iterable[int] = ()) -> dict[int, str]:
        """The phone to call for each live patient among `patient_ids` this principal may see
        (`cared_for` as in `names`): their own, else the main contact's among the holders of
        parental authority who may receive messages, else the first of them; E.164. Patients
        without one are left out. Two queries for a whole day's list (patients, then holders),
        keys opened together; audited as one record per patient opened."""
        from carnet_core.encryption import patient_subject, warm_subject_keys

        ids = sorted(set(patient_ids))
        if not ids or self._kind == "anonymous":
            return {}
        keep = self._visible_filter(frozenset(cared_for))
        db = self.db
        rows = [p for p in db.exec(select(Patient).where(
            Patient.id.in_(ids), Patient.erased_at.is_(None),  # type: ignore[union-attr,attr-defined]
        )).all() if keep is None or keep(p.id, p.practitioner_id)]
        if not rows:
            return {}
        warm_subject_keys(db, db.clinic_id, [patient_subject(p.id) for p in rows])

        def _open(row: Any, column: str) -> str | None:
            try:
                return readable(open_or_unreadable(db, row, column))  # damaged: as if missing (reported)
            except KeyDestroyed:
                return None

        found = {p.id: _open(p, "phone") for p in rows}
        missing = [pid for pid, phone in found.items() if not phone]
        if missing:
            for g in db.exec(select(PatientGuardian).where(
                    PatientGuardian.patient_id.in_(missing),  # type: ignore[attr-defined]
                    PatientGuardian.may_receive_messages == True,  # noqa: E712
            ).order_by(PatientGuardian.main_contact.desc(), PatientGuardian.id)):  # type: ignore[attr-defined]
                if not found.get(g.patient_id):
                    found[g.patient_id] = _open(g, "phone")
        self._audit_read(sorted(found), ["phone"])
        return {pid: phone for pid, phone in found.items() if phone}

    def guardians(self, patient_id: int) -> list[GuardianContact]:
        """The holders of parental authority recorded on the patient (registration order), with
        their names and contacts; [] for a patient without any, erased, unknown or not visible.
        The values opened are audited under this principal."""
        try:
            self.get(patient_id)
        except (PatientNotFound, PatientErased):
            return []
        db = self.db

        def _open(row: Any, column: str) -> str | None:
            return readable(open_or_unreadable(db, row, column))

        found = []
        try:
            for g in db.exec(select(PatientGuardian).where(PatientGuardian.patient_id == patient_id)
                             .order_by(PatientGuardian.id)):
                assert g.id is not None
                found.append(GuardianContact(g.id, g.relation, _open(g, "first_name"), _open(g, "last_name"),
                                             _open(g, "email"), _open(g, "phone"), g.main_contact))
        except KeyDestroyed:
            return []
        if found:
            self._audit_read([patient_id], ["guardians"])
        return found

    # --- public forms --------------------------------------------------------------------------

    def find(self, *, email: str, last_name: str, first_name: str | None = None,
             birth_date: str | None = None) -> int | None:
        """The id of the clinic's live patient with exactly this e-mail and last name (blind
        indexes), for public forms that must not create duplicates. With `first_name` and/or
        `birth_date` (a child booked with a parent's e-mail: siblings share both), only a patient
        whose first name (folded like the index) and birth date also match; those values of the
        few candidates are opened, audited under this principal."""
        from carnet_core.encryption.normalise import fold_name

        clinic_id = self.db.clinic_id
        email_idx = blind_index(self.db, clinic_id, "core_patient.email", email, "email")
        name_idx = blind_index(self.db, clinic_id, "core_patient.last_name", last_name, "name")
        if email_idx is None or name_idx is None:
            return None
        candidates = self.db.exec(select(Patient).where(
            Patient.email_bidx == email_idx, Patient.last_name_bidx == name_idx,
            Patient.erased_at.is_(None),  # type: ignore[union-attr]
        ).order_by(Patient.id)).all()
        if first_name is None and birth_date is None:
            return int(candidates[0].id) if candidates else None
        opened = [c.id for c in candidates]
        self._audit_read(opened, [n for n, v in (("first_name", first_name), ("birth_date", birth_date)) if v])
        for patient in candidates:
            try:
                if first_name is not None and fold_name(
                        readable(open_or_unreadable(self.db, patient, "first_name")) or "") != fold_name(first_name):
                    continue
                born = readable(open_or_unreadable(self.db, patient, "birth_date"))
                if birth_date is not None and born != birth_date:
                    continue
            except KeyDestroyed:
                continue
            return int(patient.id)
        return None

    def find_by_guardian(self, *, email: str, last_name: str, limit: int = 20) -> tuple[int, int] | None:
        """(patient id, guardian id) of the clinic's live patient with this last name (blind index)
        one of whose holders of parental authority has exactly this e-mail address (compared
        without case), for public forms where a parent identifies a child. Only the e-mails of
        the guardians of at most `limit` patients bearing that name are opened, and the read is
        audited per patient under this principal."""
        clinic_id = self.db.clinic_id
        name_idx = blind_index(self.db, clinic_id, "core_patient.last_name", last_name, "name")
        wanted = (email or "").strip().lower()
        if name_idx is None or not wanted:
            return None
        candidates = list(self.db.exec(select(Patient.id).where(
            Patient.last_name_bidx == name_idx, Patient.erased_at.is_(None),  # type: ignore[union-attr]
        ).order_by(Patient.id).limit(limit)))
        if not candidates:
            return None
        db = self.db
        found: tuple[int, int] | None = None
        opened: list[int] = []
        for guardian in db.exec(select(PatientGuardian).where(
                PatientGuardian.patient_id.in_(candidates)).order_by(PatientGuardian.id)):  # type: ignore[attr-defined]
            try:
                value = readable(open_or_unreadable(db, guardian, "email"))
            except KeyDestroyed:
                continue
            if guardian.patient_id not in opened:
                opened.append(guardian.patient_id)
            if found is None and value and value.strip().lower() == wanted:
                assert guardian.id is not None
                found = (guardian.patient_id, guardian.id)
        self._audit_read(opened, ["guardians.email"])
        return found

    def register(self, data: dict[str, Any]) -> int:
        """Register a patient through the registry (validation, sealing, audit); PatientInvalid
        names every bad field."""
        patient = registry.create_patient(self.db, self.principal, data)
        assert patient.id is not None
        return patient.id


def _ref(patient: Patient) -> PatientRef:
    assert patient.id is not None
    return PatientRef(patient.id, patient.practitioner_id, patient.archived, patient.identity_status,
                      patient.created_at)
