"""The clinic export: every module's records into one archive, encrypted for its recipient.

Layout of the archive (a ZIP, documented in docs/OPERATIONS.md, "Exporting the whole clinic"):

- `manifest.json`: format, time, clinic, core and plugin versions, and per file its records,
  size and SHA-256 (of the file's content);
- `<source>/<entity>.jsonl`: one JSON record per line, `source` being `core` or a plugin's name;
- `fhir/<ResourceType>.ndjson`: FHIR R4 resources, each checked against the structure;
- `csv/<source>-<name>.csv`: human-readable tables (UTF-8, header line);
- `files/<source>/…`: documents as they were issued (billing's notes as PDF).

It is written as a stream (ZIP with data descriptors) straight into age encryption, through a
pipe to the encrypting thread: no plaintext reaches the disk and memory stays flat. Each
source's entities come one after another; an entity that comes back after another is refused.

The delivered file (`.carnet-export`, a ZIP too) holds `clinic.zip.age` and, for a passphrase,
`key.age`: the archive's age identity wrapped with the passphrase (age's scrypt recipient,
memory-hard). Both open with the stock `age` tool (docs/OPERATIONS.md).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlmodel import select

from carnet_core.db.base import utcnow
from carnet_core.export import fhir
from carnet_core.export.records import table_records

FORMAT = "carnet-clinic-export/1"
ENTITY = re.compile(r"^(fhir:[A-Z][A-Za-z]{1,40}|csv:[a-z][a-z0-9_]{0,40}|[a-z][a-z0-9_]{0,62}"
                    r"|file:[a-z0-9_-]{1,40}(/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,80})+)$")
MIN_PASSPHRASE = 12
LINK_HOURS = 24  # a ready export may be downloaded once within this time
INNER, KEY_FILE = "clinic.zip.age", "key.age"


class ExportError(Exception):
    """The export cannot be made or opened; the message says why (never a value of a record)."""


# --- recipients ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    public: str  # age X25519 recipient ("age1…")
    wrapped_identity: str | None = None  # base64 of key.age (passphrase mode)


def recipient_for(*, passphrase: str | None = None, age_recipient: str | None = None) -> Recipient:
    """Who can open the archive: an age public key, or a passphrase (a new identity wrapped with it)."""
    import pyrage

    if (passphrase is None) == (age_recipient is None):
        raise ExportError("give either a passphrase or an age public key")
    if age_recipient is not None:
        try:
            pyrage.x25519.Recipient.from_str(age_recipient.strip())
        except Exception:  # noqa: BLE001 - pyrage raises its own types for malformed keys
            raise ExportError("not an age public key (age1…)") from None
        return Recipient(age_recipient.strip())
    if len(passphrase or "") < MIN_PASSPHRASE:
        raise ExportError(f"the passphrase needs at least {MIN_PASSPHRASE} characters")
    identity = pyrage.x25519.Identity.generate()
    wrapped = pyrage.passphrase.encrypt(str(identity).encode("ascii"), passphrase)
    return Recipient(str(identity.to_public()), base64.b64encode(wrapped).decode("ascii"))


def identity_of(export_file: Path, *, passphrase: str | None = None, identity: str | None = None) -> Any:
    import pyrage

    if identity is not None:
        try:
            return pyrage.x25519.Identity.from_str(identity.strip())
        except Exception:  # noqa: BLE001
            raise ExportError("not an age identity (AGE-SECRET-KEY-1…)") from None
    with zipfile.ZipFile(export_file) as outer:
        if KEY_FILE not in outer.namelist():
            raise ExportError("this export was made for an age key: give its identity, not a passphrase")
        wrapped = outer.read(KEY_FILE)
    # age refuses a scrypt work factor more than 16 times what it measures this machine does in a
    # second; the measurement is a millisecond's work, so a busy machine can misjudge itself:
    # measured again up to three times before the refusal stands.
    for attempt in range(3):
        try:
            return pyrage.x25519.Identity.from_str(pyrage.passphrase.decrypt(wrapped, passphrase or "").decode("ascii"))
        except pyrage.DecryptError as exc:
            if "Excessive work" not in str(exc):
                raise ExportError("wrong passphrase") from None
            if attempt == 2:
                raise ExportError("this machine is too busy or too slow to open the passphrase's key now "
                                  "(age's scrypt work factor): try again later, or with `age -d key.age`") from None
        except Exception:  # noqa: BLE001 - a damaged key.age
            raise ExportError("wrong passphrase") from None
    raise AssertionError("unreachable")


def decrypt_to(export_file: Path, target: BinaryIO, **secret: Any) -> None:
    """Write the archive (ZIP) of `export_file` decrypted into `target`."""
    import pyrage

    key = identity_of(export_file, **secret)
    with zipfile.ZipFile(export_file) as outer, outer.open(INNER) as source:
        try:
            pyrage.decrypt_io(source, target, [key])
        except Exception:  # noqa: BLE001
            raise ExportError("the archive does not open with this key") from None


# --- what the archive holds ------------------------------------------------------------------


def _core_records(db: Any, clinic: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    from carnet_core.audit.models import AuditRecord
    from carnet_core.clinics.models import ClinicPlugin
    from carnet_core.identity.models import Membership, User
    from carnet_core.patients.models import Patient, PatientGuardian, PatientSettings
    from carnet_core.retention.models import DestructionEntry, LegalHold, RetentionRule

    yield "clinic", {"id": clinic.id, "slug": clinic.slug, "name": clinic.name, "address": clinic.address,
                     "postcode": clinic.postcode, "city": clinic.city, "timezone": clinic.timezone,
                     "created_at": clinic.created_at.isoformat()}
    for record in table_records(db, ClinicPlugin):
        yield "clinic_plugin", record
    members = select(User).join(Membership, Membership.user_id == User.id).order_by(User.id)
    for user in db.exec(members).unique().all():  # never a password hash, second factor or token
        yield "user", {"id": user.id, "email": user.email, "display_name": user.display_name, "rpps": user.rpps,
                       "adeli": user.adeli, "disabled": user.disabled, "created_at": user.created_at.isoformat()}
    for record in table_records(db, Membership):
        yield "membership", record
    for model, entity in ((Patient, "patient"), (PatientGuardian, "patient_guardian"),
                          (PatientSettings, "patient_settings"), (RetentionRule, "retention_rule"),
                          (LegalHold, "legal_hold"), (DestructionEntry, "destruction_register"),
                          (AuditRecord, "audit")):
        for record in table_records(db, model):
            yield entity, record
    for record in table_records(db, Patient):
        if record.get("erased_at") is None:
            yield "fhir:Patient", fhir.patient(record)
    for record in table_records(db, PatientGuardian):
        yield "fhir:RelatedPerson", fhir.related_person(record)
    for record in table_records(db, Patient):
        if record.get("erased_at") is None:
            yield "csv:patients", {
                "id": record["id"], "nom": record.get("last_name"), "prenom": record.get("first_name"),
                "date_de_naissance": record.get("birth_date"), "telephone": record.get("phone"),
                "email": record.get("email"), "archive": "oui" if record.get("archived") else "non",
            }


def sources(db: Any, host: Any, clinic: Any) -> list[tuple[str, Iterable[tuple[str, dict[str, Any]]]]]:
    """Core's records, then each installed plugin's `export_clinic_data` (enabled or not)."""
    found: list[tuple[str, Iterable[tuple[str, dict[str, Any]]]]] = [("core", _core_records(db, clinic))]
    for name, result in host.lifecycle_each("export_clinic_data", clinic=clinic, db=db):
        if name != "core":
            found.append((name, result))
    return found


# --- writing ---------------------------------------------------------------------------------


@dataclass
class _Member:
    path: str
    handle: Any
    kind: str  # jsonl, fhir, csv
    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    records: int = 0
    csv_writer: Any = None
    csv_buffer: Any = None

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.handle.write(data)


class _ArchiveWriter:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.current: _Member | None = None
        self.files: list[dict[str, Any]] = []
        self.seen: set[str] = set()

    def _path(self, source: str, entity: str) -> tuple[str, str]:
        if not isinstance(entity, str) or not ENTITY.match(entity):
            raise ExportError(f"{source}: entity name {entity!r} is not one the archive takes")
        if entity.startswith("fhir:"):
            return f"fhir/{entity[5:]}.ndjson", "fhir"
        if entity.startswith("csv:"):
            return f"csv/{source}-{entity[4:]}.csv", "csv"
        if entity.startswith("file:"):
            if ".." in entity:
                raise ExportError(f"{source}: file name {entity!r} climbs out of its folder")
            return f"files/{source}/{entity[5:]}", "file"
        return f"{source}/{entity}.jsonl", "jsonl"

    def add(self, source: str, entity: str, record: dict[str, Any]) -> None:
        path, kind = self._path(source, entity)
        if self.current is None or self.current.path != path:
            self.close_current()
            if path in self.seen:
                raise ExportError(f"{source}: {entity} came back after another entity (each entity's records together)")
            self.seen.add(path)
            self.current = _Member(path, self.zf.open(path, "w", force_zip64=True), kind)
        member = self.current
        if kind == "file":
            content = record.get("content")
            if not isinstance(content, bytes):
                raise ExportError(f"{source}: {entity} is given as {{'content': bytes}}")
            member.write(content)
            member.records += 1
            self.close_current()
            return
        if kind == "fhir":
            member.write((fhir.checked(record) + "\n").encode("utf-8"))
        elif kind == "csv":
            if member.csv_writer is None:
                member.csv_buffer = io.StringIO()
                member.csv_writer = csv.DictWriter(member.csv_buffer, fieldnames=list(record), lineterminator="\r\n")
                member.csv_writer.writeheader()
            try:
                member.csv_writer.writerow(record)
            except ValueError:
                raise ExportError(f"{source}: {entity} rows do not all have the same columns") from None
            member.write(member.csv_buffer.getvalue().encode("utf-8"))
            member.csv_buffer.seek(0)
            member.csv_buffer.truncate()
        else:
            member.write((json.dumps(record, ensure_ascii=False, sort_keys=True, default=str) + "\n").encode("utf-8"))
        member.records += 1

    def close_current(self) -> None:
        if self.current is not None:
            self.current.handle.close()
            self.files.append({"path": self.current.path, "records": self.current.records,
                               "size": self.current.size, "sha256": self.current.digest.hexdigest()})
            self.current = None


def plugin_versions(host: Any) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in host.names:
        found[name] = "unknown"
        with suppress(PackageNotFoundError):
            found[name] = version(f"carnet-{name}")
    return found


ProgressFn = Callable[[str, int, int, int], None]  # phase, phases done, phases total, records


TRACE_EVERY = 1000  # records written between two batches of the audit trace of what was opened


def _write_sources(db: Any, writer: _ArchiveWriter, todo: list[Any], progress: ProgressFn | None) -> int:
    """Every source's records into the archive. Every TRACE_EVERY records, the values opened so far
    are recorded in the audit trail apart and forgotten: noted until the end, they grew with the
    clinic (an entry per patient and table, with the ids of the rows) and were written in one batch."""
    from carnet_core.audit.trace import record_opens_apart

    records = 0
    for done, (source, stream) in enumerate(todo):
        if progress:
            progress(source, done, len(todo), records)
        for item in stream:
            try:
                entity, record = item
            except (TypeError, ValueError):
                raise ExportError(f"{source}: export_clinic_data yields (entity, record) pairs") from None
            if not isinstance(record, dict):
                raise ExportError(f"{source}: {entity} records are dicts")
            writer.add(source, entity, record)
            records += 1
            if records % TRACE_EVERY == 0:
                record_opens_apart(db)
            if progress and records % 1000 == 0:
                progress(source, done, len(todo), records)
        writer.close_current()
    return records


def write_archive(db: Any, host: Any, clinic: Any, out: BinaryIO, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Write the clinic's archive (plain ZIP) into `out`; returns its manifest."""
    from carnet_core.version import __version__

    todo = sources(db, host, clinic)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        writer = _ArchiveWriter(zf)
        try:
            records = _write_sources(db, writer, todo, progress)
        except BaseException:
            # a member left open would make closing the ZIP raise instead, hiding the real error
            with suppress(Exception):
                if writer.current is not None:
                    writer.current.handle.close()
            raise
        manifest = {
            "format": FORMAT, "exported_at": utcnow().isoformat(),
            "clinic": {"slug": clinic.slug, "name": clinic.name},
            "core_version": __version__, "plugins": plugin_versions(host),
            "sources": [name for name, _ in todo], "files": writer.files,
            "documentation": ("docs/OPERATIONS.md of Carnet's repository, \"Exporting the whole clinic\": "
                              "entities, fields, formats"),
        }
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True))
    if progress:
        progress("encrypt", len(todo), len(todo), records)
    return manifest


README = """Carnet: export of a whole clinic.

clinic.zip.age  the archive (ZIP) encrypted with age (https://age-encryption.org)
key.age         (passphrase exports) the archive's key, encrypted with your passphrase

Open it with the age tool:
  age -d key.age > key.txt            (asks the passphrase; keep key.txt safe, then delete it)
  age -d -i key.txt clinic.zip.age > clinic.zip
or, with your own age key: age -d -i YOUR-KEY.txt clinic.zip.age > clinic.zip
Or in Carnet: carnet import clinic FILE.carnet-export
manifest.json in clinic.zip lists every file with its SHA-256.
"""


def write_encrypted(db: Any, host: Any, clinic: Any, target: Path, recipient: Recipient,
                    progress: ProgressFn | None = None) -> dict[str, Any]:
    """Write the `.carnet-export` file at `target` (via a partial name, renamed when complete)."""
    import pyrage

    partial = target.with_name(f".{target.name}.partial")
    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []
    manifest: dict[str, Any] = {}
    try:
        with open(partial, "xb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as outer:
            outer.writestr("LISEZ-MOI.txt", README)
            if recipient.wrapped_identity:
                outer.writestr(KEY_FILE, base64.b64decode(recipient.wrapped_identity))
            with outer.open(INNER, "w", force_zip64=True) as sealed_out, \
                    os.fdopen(read_fd, "rb") as reader, os.fdopen(write_fd, "wb") as writer:
                public = pyrage.x25519.Recipient.from_str(recipient.public)

                def encrypt() -> None:
                    try:
                        pyrage.encrypt_io(reader, sealed_out, [public])
                    except BaseException as exc:  # noqa: BLE001 - handed to the writing thread
                        errors.append(exc)
                        with suppress(OSError):
                            reader.close()

                thread = threading.Thread(target=encrypt, name="carnet-export-encrypt", daemon=True)
                thread.start()
                try:
                    manifest = write_archive(db, host, clinic, writer, progress)
                finally:
                    with suppress(OSError):
                        writer.close()
                    thread.join()
            if errors:
                raise ExportError("the archive could not be encrypted") from errors[0]
        os.replace(partial, target)
    except BaseException:
        with suppress(FileNotFoundError):
            partial.unlink()
        raise
    return manifest


# --- the job and its row ---------------------------------------------------------------------


def exports_dir(settings: Any) -> Path:
    path = settings.home / "exports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def request_export(db: Any, actor: Any, clinic: Any, recipient: Recipient, requested_by: int | None) -> Any:
    """Record an export to make and enqueue `core.export_clinic` in the same transaction (audited)."""
    from carnet_core import audit
    from carnet_core.export.models import ClinicExport
    from carnet_core.jobs import enqueue

    row = ClinicExport(clinic_id=clinic.id, requested_by=requested_by, recipient=recipient.public,
                       wrapped_identity=recipient.wrapped_identity)
    db.add(row)
    db.flush()
    audit.record(db, actor=actor, action="request", resource_type="clinic_export", resource_id=row.id,
                 details={"mode": "passphrase" if recipient.wrapped_identity else "age"})
    enqueue(db, "core.export_clinic", row.id)  # the session's clinic: the job's
    return row


def run_export(settings: Any, host: Any, database: Any, clinic_id: int, export_id: int) -> Any:
    """Make the export `export_id` (the job's body; idempotent: a finished export is left alone)."""
    from carnet_core import audit
    from carnet_core.clinics.models import Clinic
    from carnet_core.export.models import FAILED, QUEUED, READY, RUNNING, ClinicExport

    with database.session(clinic_id=clinic_id) as db:
        row = db.get(ClinicExport, export_id)
        if row is None or row.status not in (QUEUED, RUNNING):
            return row
        row.status, row.started_at = RUNNING, utcnow()
        db.add(row)
        db.commit()
        recipient = Recipient(row.recipient, row.wrapped_identity)

    def progress(phase: str, done: int, total: int, records: int) -> None:
        with database.session(clinic_id=clinic_id) as s:
            current = s.get(ClinicExport, export_id)
            current.phase, current.phases_done, current.phases_total, current.records = phase[:63], done, total, records
            s.add(current)
            s.commit()

    with database.session(clinic_id=clinic_id) as db:
        clinic = db.get(Clinic, clinic_id)
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        target = exports_dir(settings) / f"{clinic.slug}-{stamp}-{export_id}.carnet-export"
        try:
            manifest = write_encrypted(db, host, clinic, target, recipient, progress)
        except Exception as exc:
            db.rollback()
            with database.session(clinic_id=clinic_id) as s:
                current = s.get(ClinicExport, export_id)
                current.status, current.finished_at = FAILED, utcnow()
                told = isinstance(exc, (ExportError, fhir.FhirInvalid))  # messages name ids, never values
                current.error = (str(exc) if told else type(exc).__name__)[:200]
                s.add(current)
                audit.record(s, actor="job:core.export_clinic", action="export", resource_type="clinic_export",
                             resource_id=export_id, outcome="failure")
                s.commit()
            raise
        digest = hashlib.sha256()
        with open(target, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        row = db.get(ClinicExport, export_id)
        row.status, row.finished_at = READY, utcnow()
        row.expires_at = row.finished_at + timedelta(hours=LINK_HOURS)
        row.file_name, row.size, row.sha256 = target.name, target.stat().st_size, digest.hexdigest()
        row.records = sum(f["records"] for f in manifest["files"])
        row.phase, row.phases_done = "done", row.phases_total
        db.add(row)
        audit.record(db, actor="job:core.export_clinic", action="export", resource_type="clinic_export",
                     resource_id=export_id, details={"files": len(manifest["files"]), "records": row.records})
        db.commit()
        return row


def take_download(settings: Any, db: Any, actor: Any, export: Any, user_id: int) -> Path:
    """The file of a ready export, for one download only (then it is marked downloaded; audited)."""
    from carnet_core import audit
    from carnet_core.export.models import DOWNLOADED, EXPIRED, READY

    if export.status != READY or export.file_name is None:
        raise ExportError("this export is not ready, or was already downloaded")
    path = exports_dir(settings) / export.file_name
    if export.expires_at is not None and export.expires_at <= utcnow():
        export.status = EXPIRED
        db.add(export)
        with suppress(FileNotFoundError):
            path.unlink()
        raise ExportError("this export's link has expired: make a new export")
    export.status, export.downloaded_at, export.downloaded_by = DOWNLOADED, utcnow(), user_id
    db.add(export)
    audit.record(db, actor=actor, action="download", resource_type="clinic_export", resource_id=export.id)
    return path
