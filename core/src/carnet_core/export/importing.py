"""`carnet import clinic FILE`: a clinic export recreated in an empty instance, with new keys.

The archive is opened (age), then checked whole before anything is written: its format, every
file the manifest lists present with its size and SHA-256, no file the manifest does not list,
and every module whose data it holds installed here. Then one transaction writes it: core's
records (the clinic, its members, patients, retention rules and registers, the audit trail as it
was), then each installed plugin's part through `import_clinic_data(clinic, db, archive)`, every
plugin whether the clinic enabled it or not. Rows keep their ids, numbers and hash chains (the
audit trail and billing's chain verify as they did); sealed values are sealed again with keys made
here; blind indexes are computed again; the secrets an export never carries (password hashes,
second factors, calendar-feed tokens, the consent signing key) are not there: members are invited
again (an enrolment e-mail each), feeds must be made again. A record that does not fit, a plugin
that fails: the transaction rolls back and the instance is as it was. The import itself is the
last record of the clinic's audit trail.

Why an empty instance: ids are kept (the audit trail's and billing's hash chains cover them), so
they must be free; an instance holding a clinic is refused before anything is read.

The decrypted archive is held in memory (a ZIP is read by seeking), never written to disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from carnet_core.export.records import IMPORTED_IDS, RecordError, insert_records
from carnet_core.export.services import FORMAT, ExportError, decrypt_to

CHUNK = 1 << 20


class ClinicImportError(Exception):
    """The archive cannot be imported; the message says why (never a value of a record)."""


class Archive:
    """A checked export archive: what `import_clinic_data` reads its records and files from.

    `records(entity)` streams the records of `<plugin>/<entity>.jsonl` (none when absent),
    `file(path)` the bytes of `files/<plugin>/<path>` (None when absent), `entities()` the
    entities the plugin's part holds. `for_source(name)` is the same reader for another part
    (core hands each plugin its own)."""

    def __init__(self, zf: zipfile.ZipFile, manifest: dict[str, Any], source: str = "core") -> None:
        self.zf, self.manifest, self.source = zf, manifest, source
        self._paths = {f["path"] for f in manifest["files"]}

    def for_source(self, source: str) -> Archive:
        return Archive(self.zf, self.manifest, source)

    def entities(self) -> list[str]:
        prefix = f"{self.source}/"
        return [p[len(prefix):-len(".jsonl")] for p in sorted(self._paths)
                if p.startswith(prefix) and p.endswith(".jsonl")]

    def records(self, entity: str) -> Iterator[dict[str, Any]]:
        path = f"{self.source}/{entity}.jsonl"
        if path not in self._paths:
            return
        with self.zf.open(path) as handle:
            for number, line in enumerate(io.TextIOWrapper(handle, encoding="utf-8"), 1):
                try:
                    record = json.loads(line)
                except ValueError:
                    raise ClinicImportError(f"{path}: line {number} is not JSON") from None
                if not isinstance(record, dict):
                    raise ClinicImportError(f"{path}: line {number} is not a record")
                yield record

    def file(self, path: str) -> bytes | None:
        name = f"files/{self.source}/{path}"
        return self.zf.read(name) if name in self._paths else None


# --- opening and checking --------------------------------------------------------------------


def open_archive(export_file: Path, **secret: Any) -> Archive:
    """Decrypt `export_file` (a `.carnet-export`) in memory and check it whole (see `check`)."""
    plain = io.BytesIO()
    try:
        if not zipfile.is_zipfile(export_file):
            raise ClinicImportError("not a Carnet export (.carnet-export)")
        decrypt_to(export_file, plain, **secret)
    except ExportError as exc:
        raise ClinicImportError(str(exc)) from None
    except (zipfile.BadZipFile, KeyError):
        raise ClinicImportError("not a Carnet export (.carnet-export)") from None
    plain.seek(0)
    return check(plain)


def check(plain: Any) -> Archive:
    """The archive (a plain ZIP) checked against its manifest: format, every listed file there with
    its size and SHA-256, nothing unlisted. ClinicImportError otherwise."""
    try:
        zf = zipfile.ZipFile(plain)
        manifest = json.loads(zf.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise ClinicImportError("the archive has no readable manifest.json: not a Carnet clinic export") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ClinicImportError(f"the archive is not of the format this version reads ({FORMAT})")
    files = manifest.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) and isinstance(f.get("path"), str) for f in files):
        raise ClinicImportError("the manifest's list of files is damaged")
    listed = {f["path"] for f in files}
    unlisted = sorted(set(zf.namelist()) - listed - {"manifest.json"})
    if unlisted:
        raise ClinicImportError(f"the archive holds a file its manifest does not list: {unlisted[0]}")
    for entry in files:
        try:
            info = zf.getinfo(entry["path"])
        except KeyError:
            raise ClinicImportError(f"{entry['path']} is listed in the manifest but missing") from None
        digest, size = hashlib.sha256(), 0
        try:
            with zf.open(info) as handle:
                for chunk in iter(lambda h=handle: h.read(CHUNK), b""):
                    digest.update(chunk)
                    size += len(chunk)
        except (zipfile.BadZipFile, OSError, EOFError):
            raise ClinicImportError(f"{entry['path']} is damaged") from None
        if size != entry.get("size") or digest.hexdigest() != entry.get("sha256"):
            raise ClinicImportError(f"{entry['path']} does not match its SHA-256 in the manifest (altered)")
    if "core/clinic.jsonl" not in listed:
        raise ClinicImportError("the archive holds no clinic (core/clinic.jsonl)")
    return Archive(zf, manifest)


# --- writing ---------------------------------------------------------------------------------


def _one(archive: Archive, entity: str) -> dict[str, Any]:
    found = list(archive.records(entity))
    if len(found) != 1:
        raise ClinicImportError(f"core/{entity}.jsonl holds {len(found)} records, not 1")
    return found[0]


def _refuse_unless_empty(database: Any, clinic: dict[str, Any], users: list[dict[str, Any]]) -> None:
    from carnet_core.clinics.models import Clinic
    from carnet_core.identity.models import User

    with database.session(unscoped=True) as db:
        if db.exec(select(Clinic.id).limit(1)).first() is not None:
            raise ClinicImportError("this instance already holds a clinic: import into an empty instance "
                                    "(ids, numbers and hash chains are kept as they were)")
        ids = [u.get("id") for u in users]
        emails = [str(u.get("email", "")).lower() for u in users]
        if db.exec(select(User.id).where(sa.or_(User.id.in_(ids), User.email.in_(emails))).limit(1)).first():
            raise ClinicImportError("this instance already holds an account of the archive's staff (same id or "
                                    "e-mail): import into an empty instance")


def _patient_indexes(db: Any, clinic_id: int) -> Any:
    from carnet_core.encryption import blind_index
    from carnet_core.patients import prefixes

    def fill(record: dict[str, Any]) -> dict[str, Any]:
        return {
            "last_name_bidx": blind_index(db, clinic_id, "core_patient.last_name", record.get("last_name"), "name"),
            "email_bidx": blind_index(db, clinic_id, "core_patient.email", record.get("email"), "email"),
            "phone_bidx": blind_index(db, clinic_id, "core_patient.phone", record.get("phone"), "phone"),
            "birth_date_bidx": prefixes.birth_date_index(db, clinic_id, record.get("birth_date")),
            # the name prefixes are written below for live patients (`_patient_prefixes`)
            "prefixes_indexed": record.get("erased_at") is None,
        }

    return fill


def _patient_prefixes(db: Any, clinic_id: int, records: Any) -> None:
    """The prefix-search rows of each live patient, computed again with this instance's index key."""
    from carnet_core.patients import prefixes
    from carnet_core.patients.models import PatientNamePrefix

    rows = [{"clinic_id": clinic_id, "patient_id": record["id"], "token": token}
            for record in records if record.get("erased_at") is None
            for token in prefixes.tokens(db, clinic_id, record.get("last_name"), record.get("first_name"))]
    if rows:
        db.execute(sa.insert(PatientNamePrefix.__table__), rows)


def _import_core(db: Any, archive: Archive, clinic_row: dict[str, Any], users: list[dict[str, Any]]) -> dict[str, int]:
    from carnet_core.audit.models import AuditHead, AuditRecord
    from carnet_core.clinics.models import Clinic, ClinicPlugin
    from carnet_core.encryption import destroy_subject_key, ensure_subject_key, patient_subject
    from carnet_core.export.records import _parse
    from carnet_core.identity.models import Membership, User
    from carnet_core.patients.models import Patient, PatientGuardian, PatientSettings
    from carnet_core.retention.models import DestructionEntry, LegalHold, RetentionRule

    clinic_id = clinic_row["id"]
    clinic_table = Clinic.__table__
    db.execute(sa.insert(clinic_table).values(
        id=clinic_id, slug=clinic_row["slug"], name=clinic_row["name"], timezone=clinic_row["timezone"],
        # an archive made before the clinic had an address has none
        address=clinic_row.get("address", ""), postcode=clinic_row.get("postcode", ""), city=clinic_row.get("city", ""),
        created_at=_parse(clinic_table.c.created_at, clinic_row["created_at"])))
    user_table = User.__table__
    for user in users:  # no password, no second factor: each is invited again
        db.execute(sa.insert(user_table).values(
            id=user["id"], email=user["email"], display_name=user["display_name"], rpps=user["rpps"],
            adeli=user["adeli"], disabled=user["disabled"],
            created_at=_parse(user_table.c.created_at, user["created_at"]),
            updated_at=_parse(user_table.c.created_at, user["created_at"])))
    db.info.setdefault(IMPORTED_IDS, {}).update({"core_clinic": clinic_id,
                                                 "core_user": max((u["id"] for u in users), default=0)})
    counts = {"clinic": 1, "user": len(users)}
    for model, entity, fill in ((ClinicPlugin, "clinic_plugin", None), (Membership, "membership", None),
                                (Patient, "patient", _patient_indexes(db, clinic_id)),
                                (PatientGuardian, "patient_guardian", None),
                                (PatientSettings, "patient_settings", None), (RetentionRule, "retention_rule", None),
                                (LegalHold, "legal_hold", None), (DestructionEntry, "destruction_register", None),
                                (AuditRecord, "audit", None)):
        counts[entity] = insert_records(db, model, archive.records(entity), fill=fill)
        if entity == "patient":
            _patient_prefixes(db, clinic_id, archive.records("patient"))
    # erased patients: their key is destroyed here too (an erased patient stays unreadable)
    for record in archive.records("patient"):
        if record.get("erased_at") is not None:
            subject = patient_subject(record["id"])
            ensure_subject_key(db, clinic_id, subject)
            destroy_subject_key(db, clinic_id, subject)
    last = db.execute(sa.select(AuditRecord.seq, AuditRecord.hash).where(AuditRecord.clinic_id == clinic_id)
                      .order_by(AuditRecord.seq.desc()).limit(1)).first()
    if last is not None:  # the chain goes on from where the archive's ended
        db.execute(sa.insert(AuditHead.__table__).values(clinic_id=clinic_id, seq=last.seq, hash=last.hash))
    return counts


def _move_sequences(db: Any) -> None:
    """PostgreSQL: the id sequences past the ids written (SQLite's rowids follow by themselves)."""
    if db.get_bind().dialect.name != "postgresql":
        return
    for table, highest in sorted(db.info.pop(IMPORTED_IDS, {}).items()):
        sequence = db.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar()
        if not sequence or not highest:
            continue
        # the name comes from the catalog (quoted by PostgreSQL), never from the archive
        current = db.execute(sa.text(f"SELECT last_value FROM {sequence}")).scalar() or 0  # noqa: S608
        db.execute(sa.text("SELECT setval(CAST(:s AS regclass), :m)"), {"s": sequence, "m": max(highest, current)})


def import_archive(settings: Any, host: Any, database: Any, archive: Archive,
                   actor: str = "system:cli") -> dict[str, Any]:
    """Write the checked `archive` as a new clinic of this (empty) instance in one transaction;
    returns the clinic's slug and the records written per source. ClinicImportError: nothing written."""
    from carnet_core import audit
    from carnet_core.clinics.models import Clinic
    from carnet_core.identity.mail import enqueue_account_link
    from carnet_core.identity.models import User

    sources = archive.manifest.get("sources") or []
    missing = [s for s in sources if s != "core" and s not in host.names]
    if missing:
        raise ClinicImportError(f"the archive holds the data of modules not installed here: {', '.join(missing)} "
                                "(install them first: nothing of theirs may be lost)")
    clinic_row = _one(archive, "clinic")
    if not isinstance(clinic_row.get("id"), int):
        raise ClinicImportError("core/clinic.jsonl: the clinic has no id")
    users = list(archive.records("user"))
    if not all(isinstance(u.get("id"), int) and isinstance(u.get("email"), str) for u in users):
        raise ClinicImportError("core/user.jsonl: an account without id or e-mail")
    _refuse_unless_empty(database, clinic_row, users)
    clinic_id = clinic_row["id"]
    written: dict[str, Any] = {}
    try:
        with database.session(clinic_id=clinic_id) as db:
            db.info["principal"] = actor
            written["core"] = _import_core(db, archive, clinic_row, users)
            clinic = db.get(Clinic, clinic_id)
            for name, counts in host.lifecycle_each("import_clinic_data", clinic=clinic, db=db,
                                                    per_plugin=lambda n: {"archive": archive.for_source(n)}):
                if name != "core":
                    written[name] = counts
            not_taken = sorted(set(sources) - set(written) - {"core"})
            if not_taken:
                raise ClinicImportError(f"module {not_taken[0]} holds data in the archive but did not import it "
                                        "(it has no import_clinic_data)")
            invited = 0
            for user in db.exec(select(User).where(User.id.in_([u["id"] for u in users]))).all():
                if not user.disabled:
                    enqueue_account_link(db, user.id, "enroll", clinic_id=clinic_id)
                    invited += 1
            _move_sequences(db)
            audit.record(db, actor=actor, action="import", resource_type="clinic", resource_id=clinic_id,
                         details={"exported_at": str(archive.manifest.get("exported_at", ""))[:40],
                                  "files": len(archive.manifest["files"]), "invited": invited,
                                  "records": {s: sum(c.values()) if isinstance(c, dict) else c
                                              for s, c in written.items()}})
            db.commit()
    except (RecordError, ValueError, TypeError, KeyError, sa.exc.StatementError) as exc:
        message = str(exc) if isinstance(exc, RecordError) else type(exc).__name__
        if isinstance(exc, sa.exc.StatementError):  # a duplicate, a reference to nothing, a wrong type
            message = "a record breaks a rule of the database (" + type(getattr(exc, "orig", exc)).__name__ + ")"
        raise ClinicImportError(f"the archive's records do not fit this instance: {message}; nothing was imported") \
            from None
    return {"slug": clinic_row["slug"], "clinic_id": clinic_id, "written": written}
