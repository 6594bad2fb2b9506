"""Search of sealed names by their first letters ("Mar" finds MARTIN, MARCHAND and Marie).

Names are sealed with each patient's key, so the database cannot compare them. Exact search uses
one blind index per field (`core_patient.last_name_bidx`); prefix search adds, per patient, the
blind indexes of the prefixes of their names (`normalise.name_prefixes`: each word of the last and
first names folded like the exact index — case, accents, punctuation — from 2 to 12 letters) in
`core_patient_name_prefix`. A search folds the query the same way and asks for the patients that
have the token of each of its words. Then the names found are opened for display anyway, and a
patient whose opened names do not start so (a word longer than 12 letters, a truncated HMAC's
collision) is left out.

What the tokens reveal, and why it is acceptable here:
- they are HMAC-SHA256 with the clinic's blind-index key (never the data key: `PURPOSE_INDEX`),
  truncated to 16 bytes, under their own domain ("core_patient.name_prefix"): without that key, a
  copy of the database cannot test a guess, and the same name gives other tokens in another
  clinic;
- within one clinic they show which patients share a prefix (as the exact index shows which
  share a name): a reader of the table can group patients, not read a letter;
- a patient's rows are written in token order (not in prefix-length order) and padded with
  random tokens to a multiple of PREFIX_ROWS, so the row ids and the count do not give the
  names' length, and last and first names are in one set (which name matched does not show);
- one-letter prefixes are not indexed (they would split the clinic in 26 groups) and a query
  needs two letters.
Erasing a patient deletes their rows with the key (`erase_patient`).

Search by birth date ("23/04/2014") uses one more blind index on the patient row
(`birth_date_bidx`, domain "core_patient.birth_date", the ISO date): an exact value, as the
e-mail's and the phone's, written with every birth date and by the same back-fill. A birth date
has few possible values (about 40,000 in a century), so the index is only as strong as its key:
without the clinic's blind-index key a copy of the database cannot test a date; within a clinic it
shows which patients share a birth date (twins), no more than the exact name index shows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlmodel import delete, select

from carnet_core.audit.trace import note_write
from carnet_core.db.session import ScopeError
from carnet_core.encryption.normalise import LONGEST_PREFIX, SHORTEST_PREFIX, name_prefixes, name_words
from carnet_core.encryption.services import KeyDestroyed, blind_index, blind_indexes
from carnet_core.encryption.unreadable import open_or_unreadable, readable
from carnet_core.patients.models import Patient, PatientNamePrefix

FIELD = "core_patient.name_prefix"
PREFIX_ROWS = 16  # rows per patient: a multiple of this (random tokens fill the rest)
BATCH = 200
_PREFIX_TABLE = PatientNamePrefix.__table__  # type: ignore[attr-defined]


def tokens(db: Any, clinic_id: int, last_name: str | None, first_name: str | None) -> list[bytes]:
    """The tokens of a patient's names, in token order, padded with random ones."""
    found = sorted(set(blind_indexes(db, clinic_id, FIELD, sorted(name_prefixes(last_name or "", first_name or "")))))
    padding = -len(found) % PREFIX_ROWS if found else 0
    return sorted(found + [os.urandom(16) for _ in range(padding)])


def write(db: Any, patient: Patient, last_name: str | None, first_name: str | None, new: bool = False) -> None:
    """Replace the patient's prefix rows with those of these names (in the caller's transaction);
    a patient just created (`new`) has none to delete (nor their trace's read of the rows first)."""
    assert patient.id is not None
    if db.clinic_id is not None and patient.clinic_id != db.clinic_id:
        raise ScopeError(f"patient of clinic {patient.clinic_id} indexed from clinic {db.clinic_id}")
    if not new:
        db.execute(delete(PatientNamePrefix).where(PatientNamePrefix.patient_id == patient.id))
    rows = [{"clinic_id": patient.clinic_id, "patient_id": patient.id, "token": t}
            for t in tokens(db, patient.clinic_id, last_name, first_name)]
    if rows:
        # One Core INSERT of the ~16 rows (as ORM objects, their flush cost more than the HMACs).
        # The flush's write trace does not see a Core statement: the write is noted here, as the
        # flush would note it (covered, as always, by the patient's own record of the change).
        db.execute(sa.insert(_PREFIX_TABLE), rows)
        note_write(db, patient.clinic_id, patient.id, _PREFIX_TABLE.name, "create")
    patient.prefixes_indexed = True
    db.add(patient)


def forget(db: Any, patient: Patient) -> None:
    """Delete the patient's prefix rows (erasure)."""
    db.execute(delete(PatientNamePrefix).where(PatientNamePrefix.patient_id == patient.id))
    patient.prefixes_indexed = False


def query_words(q: str) -> list[str]:
    """The words of a query that prefix search can look up: two letters at least, each cut to
    the longest indexed prefix ("Mar" -> ["mar"], "le fe" -> ["le", "fe"])."""
    return sorted({w[:LONGEST_PREFIX] for w in name_words(q) if len(w) >= SHORTEST_PREFIX})


def matching(db: Any, q: str) -> sa.ColumnElement[bool] | None:
    """The filter on patients whose names have a word starting with each word of `q` (None when
    `q` has no word of two letters)."""
    words = query_words(q)
    if not words:
        return None
    wanted = blind_indexes(db, db.clinic_id, FIELD, words)
    having = (
        select(PatientNamePrefix.patient_id)
        .where(PatientNamePrefix.token.in_(wanted))  # type: ignore[attr-defined]
        .group_by(PatientNamePrefix.patient_id)
        .having(sa.func.count(sa.distinct(PatientNamePrefix.token)) == len(set(wanted)))
    )
    return Patient.id.in_(having)  # type: ignore[union-attr]


def names_start_with(q: str, last_name: Any, first_name: Any) -> bool:
    """Whether the opened names really have a word starting with each word of `q` (removes what
    the index cannot tell apart: words longer than LONGEST_PREFIX, a truncated HMAC's collision)."""
    have = [
        w
        for name in (last_name, first_name)
        if isinstance(name, str)
        for w in (*name_words(name), "".join(name_words(name)))
    ]
    return all(any(h.startswith(w) for h in have) for w in (x for x in name_words(q) if len(x) >= SHORTEST_PREFIX))


BIRTH_DATE_FIELD = "core_patient.birth_date"
_TYPED_DATE = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\s*$")


def typed_birth_date(q: str) -> str | None:
    """The ISO date a search means when it is a date ("23/04/2014", "23.04.2014", "23-04-2014"
    the French way, or "2014-04-23"), else None (an impossible date such as 31/02 too)."""
    from datetime import date

    text = (q or "").strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text).isoformat()
        found = _TYPED_DATE.match(text)
        if found:
            return date(int(found.group(3)), int(found.group(2)), int(found.group(1))).isoformat()
    except ValueError:
        return None
    return None


def birth_date_index(db: Any, clinic_id: int, iso_date: Any) -> bytes | None:
    """The blind index of a birth date (the registry's ISO form), None without one (or for what
    is not a date's text: an archive's damaged record is refused by the import's own checks)."""
    return blind_index(db, clinic_id, BIRTH_DATE_FIELD, iso_date, "exact") if isinstance(iso_date, str) and iso_date \
        else None


def backfill(database: Any, batch: int = BATCH) -> int:
    """Index the prefixes of every live patient not indexed yet (patients registered before the
    prefix search): one transaction per batch and clinic, safe to stop and to run again. Returns
    how many patients were indexed."""
    from carnet_core.clinics.models import Clinic

    with database.session(unscoped=True) as db:
        clinic_ids = [c for c in db.exec(select(Clinic.id)).all()]
    done = 0
    for clinic_id in clinic_ids:
        while True:
            with database.session(clinic_id=clinic_id) as db:
                db.info["principal"] = "system:patients.prefixes"
                rows = db.exec(
                    select(Patient)
                    .where(
                        Patient.prefixes_indexed.is_(False),
                        Patient.erased_at.is_(None),  # type: ignore[attr-defined]
                    )
                    .order_by(Patient.id)
                    .limit(batch)
                ).all()
                if not rows:
                    break
                for patient in rows:
                    done += _index_one(db, patient)
    return done


def _index_one(db: Any, patient: Patient) -> int:
    try:
        last = readable(open_or_unreadable(db, patient, "last_name"))
        first = readable(open_or_unreadable(db, patient, "first_name"))
        born = readable(open_or_unreadable(db, patient, "birth_date")) if patient.birth_date is not None else None
    except KeyDestroyed:  # erased meanwhile: nothing to index
        patient.prefixes_indexed = True
        db.add(patient)
        return 0
    patient.birth_date_bidx = birth_date_index(db, patient.clinic_id, born)
    write(db, patient, last, first)  # a damaged name (reported) indexes what is readable
    return 1


def backfill_step(settings: Any, host: Any, database: Any) -> Iterator[str]:
    """`carnet init` step: the search indexes (name prefixes and birth date) of patients
    registered before prefix or birth-date search existed."""
    count = backfill(database)
    if count:
        yield f"patient search: the name prefixes and birth dates of {count} patients are now indexed"
