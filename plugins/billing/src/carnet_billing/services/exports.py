"""Accounting exports of one practitioner's period: the receipts journal (livre des recettes, CSV
and PDF) and the FEC (fichier des écritures comptables, article A47 A-1 of the LPF).

- Asked for on the exports page (`request_export`), built by the actor `billing.build_export`
  (ids only, idempotent: a finished export is never rebuilt), which streams the payments of the
  period from the database to a file in batches (`yield_per`), so memory stays flat whatever the
  number of rows, and records its progress (rows written of rows to write) as it goes. The
  journal's PDF is laid out a bounded number of rows at a time and the parts joined
  (`write_journal_pdf`): WeasyPrint would otherwise hold every page of the period at once.
- A receipt is a payment received for one of the practitioner's notes (cash accounting, as BNC
  practitioners keep it). No patient's name is written: the payer is its kind (patient, Assurance
  Maladie, complémentaire) and the note's number identifies the receipt (professionals bound by
  medical secrecy may leave the client's identity out of the journal). The files therefore hold
  no health data and are kept in clear under the data folder, readable by the process only.
- The file is downloaded by whoever may see the export (its practitioner, owners) until
  `expires_at` (24 h); after that the link answers 410 and the file is deleted. Asking,
  building and downloading are audited.

FEC (A47 A-1): the 18 columns in order, tab-separated, a header line, one entry (EcritureNum,
sequential from 1 in date order) per receipt with two lines that balance — debit of the treasury
account (531 cash, 512 bank for card, cheque and transfer), credit of 706 (fees) — dates
YYYYMMDD, amounts with a comma and two decimals, ISO-8859-15 text, file name
`<SIREN>FEC<closing date YYYYMMDD>.txt` (SIREN: the first 9 digits of the SIRET).
"""

from __future__ import annotations

import csv
import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import select

from carnet_billing import permissions as perm
from carnet_billing.models import (
    EXPORT_EXPIRED,
    EXPORT_FAILED,
    EXPORT_KINDS,
    EXPORT_PENDING,
    EXPORT_READY,
    EXPORT_RUNNING,
    FEC,
    ISSUED,
    JOURNAL_CSV,
    JOURNAL_PDF,
    Export,
    Note,
    Payment,
)
from carnet_billing.money import euros
from carnet_billing.services import notes, profiles
from carnet_billing.services.errors import BillingInvalid, NotFound, refuse
from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    Clinic,
    FieldError,
    JobContext,
    Membership,
    PdfUnavailable,
    enqueue,
    render_pdf,
    utcnow,
)
from carnet_core.plugin_api import record as audit_record

ACTOR = "billing.build_export"
RESOURCE = "billing_export"
LIFETIME = timedelta(hours=24)
BATCH = 2000  # rows fetched per round trip, and progress recorded every BATCH rows
JOURNAL_CHUNK = 1000  # receipts laid out per WeasyPrint document in the journal's PDF (about 23 pages)
MAX_DAYS = 731  # a period of two years at most
FOLDER = "billing-exports"

FEC_COLUMNS = ("JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
               "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
               "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise")
FEC_ENCODING = "iso-8859-15"
JOURNAL = ("RE", "Recettes")
REVENUE = ("706000", "Honoraires")
TREASURY = {"cash": ("531000", "Caisse"), "card": ("512000", "Banque"), "cheque": ("512000", "Banque"),
            "transfer": ("512000", "Banque")}
METHOD_TEXT = {"card": "carte", "cash": "espèces", "cheque": "chèque", "transfer": "virement"}
PAYER_TEXT = {"patient": "Patient", "amo": "Assurance Maladie", "amc": "Complémentaire"}
JOURNAL_HEADER = ("Date", "Payeur", "N° de note", "Mode de règlement", "Montant (€)")
KIND_LABELS = {JOURNAL_CSV: N_("Receipts journal (CSV)"), JOURNAL_PDF: N_("Receipts journal (PDF)"),
               FEC: N_("FEC (fichier des écritures comptables)")}


@dataclass(frozen=True)
class Receipt:
    """One payment received, as the exports print it."""

    payment_id: int
    paid_on: date
    method: str
    payer: str
    amount_cents: int
    recorded_on: date
    note_number: str
    note_day: date


# --- formats (pure: also measured by bench/bench_billing_exports.py) -----------------------------


def fec_amount(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


def fec_day(day: date) -> str:
    return day.strftime("%Y%m%d")


def fec_rows(receipts: Iterable[Receipt]) -> Iterator[tuple[str, ...]]:
    """The FEC's lines: two per receipt (debit treasury, credit fees), entries numbered from 1."""
    for number, r in enumerate(receipts, start=1):
        yield from fec_rows_one(number, r)


def write_fec(out: TextIO, receipts: Iterable[Receipt], progress: Any = None) -> int:
    """Write the FEC (header, then the lines) to `out`; returns the number of entries."""
    out.write("\t".join(FEC_COLUMNS) + "\r\n")
    count = 0
    for count, r in enumerate(receipts, start=1):
        for row in fec_rows_one(count, r):
            out.write("\t".join(row) + "\r\n")
        if progress is not None and count % BATCH == 0:
            progress(count)
    return count


def fec_rows_one(number: int, r: Receipt) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Entry `number`: debit of the treasury account, credit of the fees account, same amount."""
    account, account_label = TREASURY[r.method]
    common = (JOURNAL[0], JOURNAL[1], str(number), fec_day(r.paid_on))
    tail = (r.note_number, fec_day(r.note_day), f"Règlement note {r.note_number} ({METHOD_TEXT[r.method]})")
    amount = fec_amount(r.amount_cents)
    after = ("", "", fec_day(r.recorded_on), "", "")
    return ((*common, account, account_label, "", "", *tail, amount, "0,00", *after),
            (*common, REVENUE[0], REVENUE[1], "", "", *tail, "0,00", amount, *after))


def journal_row(r: Receipt) -> tuple[str, ...]:
    return (r.paid_on.strftime("%d/%m/%Y"), PAYER_TEXT[r.payer], r.note_number, METHOD_TEXT[r.method],
            fec_amount(r.amount_cents))


def write_journal_csv(out: TextIO, receipts: Iterable[Receipt], progress: Any = None) -> int:
    """The receipts journal as CSV for a French spreadsheet (`;`, decimal comma), a total line last."""
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(JOURNAL_HEADER)
    count = total = 0
    for count, r in enumerate(receipts, start=1):
        writer.writerow(journal_row(r))
        total += r.amount_cents
        if progress is not None and count % BATCH == 0:
            progress(count)
    writer.writerow(("Total", "", "", "", fec_amount(total)))
    return count


def fec_file_name(siret: str, period_end: date) -> str:
    return f"{siret[:9]}FEC{fec_day(period_end)}.txt"


# --- reading the receipts -------------------------------------------------------------------------


def _receipts_query(clinic_id: int, practitioner_id: int, start: date, end: date) -> sa.Select[Any]:
    return (sa.select(Payment.id, Payment.paid_on, Payment.method, Payment.payer, Payment.amount_cents,
                      Payment.created_at, Note.number, Note.issued_on)
            .join(Note, sa.and_(Note.id == Payment.note_id, Note.clinic_id == Payment.clinic_id))
            .where(Payment.clinic_id == clinic_id, Note.practitioner_id == practitioner_id,
                   Note.status == ISSUED, Payment.paid_on >= start, Payment.paid_on <= end)
            .order_by(Payment.paid_on, Payment.id))


def count_receipts(db: CarnetSession, practitioner_id: int, start: date, end: date) -> int:
    inner = _receipts_query(db.clinic_id, practitioner_id, start, end).order_by(None).subquery()  # type: ignore[arg-type]
    return int(db.execute(sa.select(sa.func.count()).select_from(inner)).scalar() or 0)


def receipts(db: CarnetSession, practitioner_id: int, start: date, end: date, tz: str = "Europe/Paris",
             batch: int = BATCH) -> Iterator[Receipt]:
    """The practitioner's receipts of the period in date order, fetched `batch` rows at a time
    (a server-side cursor on PostgreSQL): memory does not grow with the period."""
    zone = ZoneInfo(tz)
    # Core rows on the session's connection (its transaction; the query names the clinic, and
    # row-level security holds on PostgreSQL): 2.5x faster than ORM rows, memory as flat.
    connection = db.connection().execution_options(yield_per=batch)
    result = connection.execute(_receipts_query(db.clinic_id, practitioner_id, start, end))  # type: ignore[arg-type]
    for row in result:
        yield Receipt(row[0], row[1], row[2], row[3], row[4], row[5].astimezone(zone).date(), row[6], row[7])


# --- asking, building, downloading ---------------------------------------------------------------


def folder(home: Path, clinic_id: int) -> Path:
    return Path(home) / FOLDER / str(clinic_id)


def _may_see(principal: Any, export: Export) -> bool:
    return principal.can(perm.EXPORTS) and ("owner" in principal.roles or export.practitioner_id == principal.user_id)


def listing(db: CarnetSession, principal: Any, limit: int = 30) -> list[Export]:
    query = select(Export)
    if "owner" not in principal.roles:
        query = query.where(Export.practitioner_id == principal.user_id)
    return list(db.exec(query.order_by(Export.created_at.desc(), Export.id.desc()).limit(limit)).all())  # type: ignore[attr-defined]


def _is_practitioner(db: CarnetSession, user_id: int) -> bool:
    row = db.exec(select(Membership).where(Membership.user_id == user_id, Membership.active == True)).first()  # noqa: E712
    return row is not None and bool(row.role_set & {"practitioner"})


def request_export(db: CarnetSession, principal: Any, *, practitioner_id: int | None, kind: str,
                   start: date | None, end: date | None) -> Export:
    """Ask for an export (French field errors, nothing written, on bad input) and enqueue its build."""
    errors: dict[str, FieldError] = {}
    if kind not in EXPORT_KINDS:
        errors["kind"] = FieldError("invalid_choice", N_("Choose an export from the list."))
    who = practitioner_id or principal.user_id
    if who != principal.user_id and "owner" not in principal.roles:
        errors["practitioner"] = FieldError("forbidden", N_("You may export your own receipts only."))
    elif not _is_practitioner(db, who):
        errors["practitioner"] = FieldError("unknown", N_("Choose a practitioner of the practice."))
    today = notes.clinic_today(db)
    if start is None:
        errors.setdefault("start", FieldError("required", N_("Enter a date.")))
    if end is None:
        errors.setdefault("end", FieldError("required", N_("Enter a date.")))
    if start and end:
        if end < start:
            errors["end"] = FieldError("before_start", N_("The end of the period comes before its start."))
        elif (end - start).days >= MAX_DAYS:
            errors["end"] = FieldError("too_long", N_("A period covers two years at most."))
        elif start > today:
            errors["start"] = FieldError("future", N_("The period cannot start in the future."))
        elif start.year < 2000:
            errors["start"] = FieldError("out_of_range", N_("Enter a date between 2000 and 2099."))
    if kind == FEC and "practitioner" not in errors:
        profile = profiles.get(db, who)
        if profile is None or len(profile.siret) != 14:
            errors["kind"] = FieldError("no_siret", N_("The FEC is named after the SIREN: enter the SIRET in the "
                                                       "practitioner's billing profile first."))
    if errors:
        raise BillingInvalid(errors)
    export = Export(practitioner_id=who, kind=kind, period_start=start, period_end=end,  # type: ignore[arg-type]
                    created_by=principal.user_id)
    db.add(export)
    db.flush()
    audit_record(db, action="create", resource_type=RESOURCE, resource_id=export.id,
                 details={"kind": kind, "practitioner": who})
    enqueue(db, ACTOR, export.id)
    return export


def _update(job: JobContext, export_id: int, **values: Any) -> None:
    with job.session() as db:
        db.execute(sa.update(Export).where(Export.id == export_id).values(**values))


def build_export(export_id: int, job: JobContext) -> None:
    """Actor `billing.build_export`: write the export's file, streaming, with its progress."""
    with job.session() as db:
        export = db.get(Export, export_id)
        if export is None or export.status in (EXPORT_READY, EXPORT_EXPIRED, EXPORT_FAILED):
            return  # built already (a redelivery), or given up
        total = count_receipts(db, export.practitioner_id, export.period_start, export.period_end)
        profile = profiles.get(db, export.practitioner_id)
        siret = profile.siret if profile else ""
        kind, pid, start, end = export.kind, export.practitioner_id, export.period_start, export.period_end
        clinic = db.get(Clinic, db.clinic_id)
        tz = getattr(clinic, "timezone", None) or "Europe/Paris"
    _update(job, export_id, status=EXPORT_RUNNING, total=total, done=0)
    target = folder(job.settings.home, job.clinic_id)  # type: ignore[arg-type]
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    stored = f"{export_id}-{secrets.token_hex(12)}"
    path = target / stored
    partial = target / (stored + ".part")
    try:
        with job.session() as db:
            rows = receipts(db, pid, start, end, tz)
            progress = lambda n: _update(job, export_id, done=n)  # noqa: E731
            if kind == FEC:
                name = fec_file_name(siret, end)
                with open(partial, "w", encoding=FEC_ENCODING, errors="replace", newline="") as out:
                    count = write_fec(out, rows, progress)
            elif kind == JOURNAL_CSV:
                name = f"livre-des-recettes-{fec_day(start)}-{fec_day(end)}.csv"
                with open(partial, "w", encoding="utf-8-sig", newline="") as out:
                    count = write_journal_csv(out, rows, progress)
            else:
                name = f"livre-des-recettes-{fec_day(start)}-{fec_day(end)}.pdf"
                count = write_journal_pdf(partial, job.host, profile, rows, start, end, progress)
        os.replace(partial, path)
    except PdfUnavailable:
        partial.unlink(missing_ok=True)
        _update(job, export_id, status=EXPORT_FAILED, error="pdf_unavailable", finished_at=utcnow())
        return
    except Exception:
        partial.unlink(missing_ok=True)
        _update(job, export_id, status=EXPORT_PENDING)  # retried by the worker
        raise
    with open(path, "rb") as written:  # read back in chunks: memory stays flat here too
        digest = hashlib.file_digest(written, "sha256").hexdigest()
    now = utcnow()
    with job.session() as db:
        db.execute(sa.update(Export).where(Export.id == export_id).values(
            status=EXPORT_READY, done=count, total=count, file_name=name, stored_as=stored,
            size=path.stat().st_size, sha256=digest, finished_at=now, expires_at=now + LIFETIME))
        audit_record(db, action="build", resource_type=RESOURCE, resource_id=export_id,
                     details={"kind": kind, "rows": count})


def _chunks(receipts: Iterable[Receipt], size: int) -> Iterator[list[Receipt]]:
    chunk: list[Receipt] = []
    for r in receipts:
        chunk.append(r)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_journal_pdf(path: Path, host: Any, profile: Any, receipts: Iterable[Receipt], start: date, end: date,
                      progress: Any = None, chunk: int = JOURNAL_CHUNK) -> int:
    """The receipts journal as one PDF/A-3b at `path`, in memory bounded by `chunk` rows: WeasyPrint
    keeps every page of a document laid out until it writes it, so the receipts are laid out
    `chunk` at a time (each part carried forward from the previous one's total, pages numbered on
    from its last page, the totals per method after the last row), each part written to a file
    beside `path`, then the parts' pages joined into one file by pypdf, which keeps the first
    part's PDF/A metadata (XMP, output intent). Returns the number of receipts."""
    from pypdf import PdfReader, PdfWriter

    created = datetime(end.year, end.month, end.day).astimezone()
    parts: list[Path] = []
    count = total = pages = 0
    by_method: dict[str, int] = {}
    try:
        chunks = _chunks(receipts, chunk)
        current = next(chunks, [])
        while True:
            following = next(chunks, None)
            carried, carried_count = total, count
            for r in current:
                by_method[r.method] = by_method.get(r.method, 0) + r.amount_cents
            count += len(current)
            total += sum(r.amount_cents for r in current)
            context = {"profile": profile, "rows": current, "start": start, "end": end, "euros": euros,
                       "payer_text": PAYER_TEXT, "method_text": METHOD_TEXT, "first": not parts,
                       "last": following is None, "carried": carried, "carried_count": carried_count,
                       "first_page": pages + 1, "by_method": sorted(by_method.items()), "total": total,
                       "count": count}
            part = path.with_name(f"{path.name}.{len(parts)}")
            parts.append(part)
            part.write_bytes(render_pdf(host, "billing/pdf/journal.html", context, title="Livre des recettes",
                                        created=created))
            pages += len(PdfReader(part).pages)
            if progress is not None:
                progress(count)
            if following is None:
                break
            current = following
        if len(parts) == 1:
            os.replace(parts[0], path)
            return count
        writer = PdfWriter(clone_from=parts[0])
        for part in parts[1:]:
            for page in PdfReader(part).pages:
                writer.add_page(page)
        with open(path, "wb") as out:
            writer.write(out)
        return count
    finally:
        for part in parts:
            part.unlink(missing_ok=True)


def get(db: CarnetSession, principal: Any, export_id: int) -> Export:
    export = db.get(Export, export_id)
    if export is None or not _may_see(principal, export):
        raise NotFound("no such export")
    return export


def expire_old(db: CarnetSession, home: Path) -> int:
    """Delete the files of the clinic's exports past their time and mark them expired."""
    rows = db.exec(select(Export).where(Export.status == EXPORT_READY, Export.expires_at <= utcnow())).all()  # type: ignore[operator]
    for export in rows:
        if export.stored_as:
            (folder(home, export.clinic_id) / export.stored_as).unlink(missing_ok=True)
        export.status, export.stored_as = EXPORT_EXPIRED, None
        db.add(export)
    db.flush()
    return len(rows)


def state(export: Export) -> str:
    """The export's state as shown: a ready export past its time is expired."""
    if export.status == EXPORT_READY and export.expires_at is not None and export.expires_at <= utcnow():
        return EXPORT_EXPIRED
    return export.status


def open_file(db: CarnetSession, principal: Any, export_id: int, home: Path) -> tuple[Export, Path]:
    """The export's file for download (audited); refused once expired (the file is deleted then)."""
    export = get(db, principal, export_id)
    if state(export) == EXPORT_EXPIRED:
        if export.stored_as:  # the file goes now (the row says so when the next export is asked)
            (folder(home, export.clinic_id) / export.stored_as).unlink(missing_ok=True)
        raise refuse("export", "expired", N_("This download link has expired: ask for the export again."))
    if export.status != EXPORT_READY or not export.stored_as:
        raise refuse("export", "not_ready", N_("This export is not ready yet."))
    audit_record(db, action="download", resource_type=RESOURCE, resource_id=export.id,
                 details={"kind": export.kind})
    return export, folder(home, export.clinic_id) / export.stored_as


MEDIA_TYPES = {JOURNAL_CSV: "text/csv; charset=utf-8", JOURNAL_PDF: "application/pdf",
               FEC: "text/plain; charset=iso-8859-15"}
