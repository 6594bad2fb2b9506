"""The per-practitioner hash chain of issued documents (notes and credit notes).

When a document is issued, its canonical content — number, kind, dates, practitioner, patient id,
the note it cancels, the printed mentions, total, and each line's date, coefficient, unit,
quantity and amount — is hashed (SHA-256) together with the previous document's hash in the
practitioner's series (ordered by year, then number), and both hashes are kept on the row.

`verify` walks each practitioner's documents in that order and names the first one that was
altered (its content no longer gives its hash), inserted (its previous hash is not the hash of
the document before it, or its number is beyond the last one its series gave), or missing (a
number skipped in a year, or a series that counts more numbers than there are documents). The
database already refuses these changes (triggers); the chain is what proves, to an accountant
or an auditor, that nobody went around them.

The sealed texts (the patient's printed name, the acts' codes, labels and places) are not in the
hash: key rotation re-seals them (new ciphertext, same text) and a hash of the plaintext kept in
clear would let anyone with the database test guesses of a name. They are protected by their
authenticated encryption, bound to their table, column and row: a value altered or moved from
another row no longer opens.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from carnet_billing.models import ISSUED, Note, NoteLine, NumberSeries
from carnet_billing.services.numbering import format_number
from carnet_core.plugin_api import N_, CarnetSession, Clinic, record

WHAT = (N_("altered"), N_("inserted"), N_("missing"))

GENESIS = "0" * 64


def canonical(note: Note, lines: list[NoteLine], prev_hash: str) -> bytes:
    """The bytes hashed for a document: sorted-key JSON, no spaces, UTF-8."""
    content = {
        "v": 1, "clinic_id": note.clinic_id, "practitioner_id": note.practitioner_id, "kind": note.kind,
        "number": note.number, "year": note.year, "seq": note.seq,
        "issued_on": note.issued_on.isoformat() if note.issued_on else None,
        "patient_id": note.patient_id, "credit_of_id": note.credit_of_id, "total_cents": note.total_cents,
        "name_withheld": note.name_withheld, "issuer": note.issuer, "prev": prev_hash,
        "lines": [{
            "position": line.position, "act_day": line.act_day.isoformat(),
            "coefficient_hundredths": line.coefficient_hundredths, "unit_cents": line.unit_cents,
            "quantity": line.quantity, "amount_cents": line.amount_cents,
        } for line in sorted(lines, key=lambda item: (item.position, item.id or 0))],
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(note: Note, lines: list[NoteLine], prev_hash: str) -> str:
    return hashlib.sha256(canonical(note, lines, prev_hash)).hexdigest()


def _lines(db: CarnetSession, note_id: int) -> list[NoteLine]:
    return list(db.exec(select(NoteLine).where(NoteLine.note_id == note_id)).all())


def last_hash(db: CarnetSession, practitioner_id: int) -> str:
    """The hash of the practitioner's last issued document (GENESIS before the first)."""
    row = db.exec(select(Note.chain_hash).where(Note.practitioner_id == practitioner_id, Note.status == ISSUED)
                  .order_by(Note.year.desc(), Note.seq.desc()).limit(1)).first()  # type: ignore[union-attr]
    return row or GENESIS


def link(db: CarnetSession, note: Note, lines: list[NoteLine] | None = None) -> None:
    """Set `prev_hash` and `chain_hash` of a document being issued (its number already taken,
    under the series lock, so the previous document is committed and final); `lines`: the note's
    lines when the caller has just read them."""
    prev = last_hash(db, note.practitioner_id)
    note.prev_hash = prev
    note.chain_hash = digest(note, _lines(db, note.id) if lines is None else lines, prev)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Problem:
    practitioner_id: int
    number: str
    what: str  # altered, inserted, missing (English words, translated where shown)

    def __str__(self) -> str:
        words = {"altered": "altered (its content no longer gives its hash)",
                 "inserted": "inserted or reordered (it does not follow the previous document)",
                 "missing": "missing (deleted, or its number was skipped)"}
        return f"practitioner {self.practitioner_id}: document {self.number} {words[self.what]}"


def verify(db: CarnetSession, practitioner_id: int | None = None) -> list[Problem]:
    """The first problem of each practitioner's chain (empty: every chain is intact)."""
    query = select(Note).where(Note.status == ISSUED)
    if practitioner_id is not None:
        query = query.where(Note.practitioner_id == practitioner_id)
    documents = list(db.exec(query.order_by(Note.practitioner_id, Note.year, Note.seq)).all())
    series = {(s.practitioner_id, s.year): s.last_seq for s in db.exec(select(NumberSeries)).all()}
    problems: list[Problem] = []
    by_practitioner: dict[int, list[Note]] = {}
    for note in documents:
        by_practitioner.setdefault(note.practitioner_id, []).append(note)
    practitioners = set(by_practitioner) | {p for p, _ in series if practitioner_id in (None, p)}
    for who in sorted(practitioners):
        problem = _verify_one(db, who, by_practitioner.get(who, []), series)
        if problem is not None:
            problems.append(problem)
    return problems


def _verify_one(db: CarnetSession, who: int, documents: list[Note],
                series: dict[tuple[int, int], int]) -> Problem | None:
    prev = GENESIS
    expected_seq: dict[int, int] = {}
    for note in documents:
        number = note.number or f"{note.year}-?"
        year = int(note.year or 0)
        wanted = expected_seq.get(year, 1)
        if note.seq != wanted:
            return Problem(who, format_number(year, wanted), "missing")
        expected_seq[year] = wanted + 1
        if note.seq > series.get((who, year), 0):  # beyond the last number the series ever gave
            return Problem(who, number, "inserted")
        if note.prev_hash != prev:
            return Problem(who, number, "inserted")
        if digest(note, _lines(db, note.id), prev) != note.chain_hash:  # type: ignore[arg-type]
            return Problem(who, number, "altered")
        prev = note.chain_hash or ""
    for (practitioner, year), last in sorted(series.items()):
        if practitioner == who and last >= expected_seq.get(year, 1):
            return Problem(who, format_number(year, expected_seq.get(year, 1)), "missing")
    return None



def verify_clinics(database: Any, slug: str | None = None) -> list[tuple[Any, int, list[Problem]]]:
    """`verify` for every clinic (or the clinic `slug`), each in its own session, audited as the
    command's check: (clinic, issued documents, problems). LookupError for an unknown slug."""
    with database.session(unscoped=True) as db:
        query = select(Clinic).order_by(Clinic.slug)
        if slug is not None:
            query = query.where(Clinic.slug == slug)
        clinics = list(db.exec(query).all())
    if slug is not None and not clinics:
        raise LookupError(f"no clinic '{slug}'; see `carnet clinic list`")
    results = []
    for clinic in clinics:
        with database.session(clinic_id=clinic.id) as db:
            db.info["principal"] = "system:billing-verify"
            problems = verify(db)
            count = db.exec(select(sa.func.count()).select_from(Note).where(Note.status == ISSUED)).one()
            record(db, action="verify", resource_type="billing_note", details={"problems": len(problems)})
        results.append((clinic, int(count), problems))
    return results
