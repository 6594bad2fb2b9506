"""Billing benchmark: 50 notes issued concurrently (50 threads, one transaction each) against the
same 50 issued one after the other, in the same run and database: the numbers given (distinct,
consecutive, no gap, the hash chain intact) and the wall times, with their ratio.

A fresh SQLite file under --home (deleted first), or with `--database postgresql://…` a
PostgreSQL database whose schema is wiped first (give a throwaway database):

    .venv/bin/python bench/bench_billing.py [--issues 50] [--home /tmp/carnet-bench-billing]
    .venv/bin/python bench/bench_billing.py --database postgresql://postgres@127.0.0.1/carnet_billing
"""

from __future__ import annotations

import argparse
import shutil
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any


def _setup(home: Path, database: str | None) -> tuple[Any, Any, Any]:
    from carnet_core.clinics.services import create_clinic
    from carnet_core.db.migrate import upgrade
    from carnet_core.db.session import Database
    from carnet_core.plugins import build_plugin_host
    from carnet_core.process import prepare_database
    from carnet_core.testing.plugin import make_settings, wipe_postgres_schema

    shutil.rmtree(home, ignore_errors=True)
    settings = make_settings(home, database or f"sqlite:///{home / 'carnet.db'}")
    host = build_plugin_host(settings)
    db = Database(settings.database_url)
    if database:
        wipe_postgres_schema(db.engine)
    upgrade(db, host)
    prepare_database(db, settings, host)
    with db.session(unscoped=True) as s:
        clinic = create_clinic(s, "bench-billing", "Cabinet Bench", ["billing"])
    return db, host, clinic


def _world(db: Any, clinic: Any, issues: int) -> tuple[list[Any], list[int]]:
    from carnet_billing.permissions import PERMISSIONS
    from carnet_billing.services import profiles
    from carnet_core.plugin_api import Principal, patient_access
    from carnet_core.testing import identity_services as identity

    with db.session(clinic_id=clinic.id) as s:
        s.info["principal"] = "system:bench"
        users = []
        for n in range(2):
            user = identity.create_or_get_user(s, f"p{n}@bench.test", f"Praticien {n}")
            identity.set_membership(s, clinic.id, user.id, ("owner", "practitioner"))
            profiles.save(s, user.id, {"name": f"Praticien {n}", "profession": "Orthophoniste",
                                       "address": "1 rue du Banc, Lyon", "rpps": f"1000000000{n}",
                                       "siret": "12345678900011"})
            users.append(user)
        registrar = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
        patients = [patient_access(s, registrar).register({"last_name": f"Banc{n}", "first_name": "Léa"})
                    for n in range(10)]
    granted = frozenset(p.name for p in PERMISSIONS) | {"core.patients.view", "core.patients.view_all"}
    principals = [Principal(kind="user", user_id=u.id, clinic_id=clinic.id, roles=frozenset({"owner", "practitioner"}),
                            permissions=granted) for u in users]
    return principals, patients


def _drafts(db: Any, clinic: Any, who: Any, patients: list[int], count: int) -> list[int]:
    from carnet_billing.services import notes
    from carnet_billing.services.notes import LineInput

    ids = []
    with db.session(clinic_id=clinic.id) as s:
        s.info["principal"] = "system:bench"
        for n in range(count):
            note = notes.create_draft(s, who, practitioner_id=who.user_id, patient_id=patients[n % len(patients)])
            notes.add_line(s, who, note.id, LineInput(act_day=date(2026, 3, 2), letter="AMO",
                                                      coefficient_hundredths=1010))
            ids.append(note.id)
    return ids


def _issue(db: Any, clinic: Any, who: Any, note_id: int) -> None:
    from carnet_billing.services import notes

    with db.session(clinic_id=clinic.id) as s:
        s.info["principal"] = f"user:{who.user_id}"
        notes.issue(s, who, note_id)


def _check(db: Any, clinic: Any, who: Any, count: int) -> str:
    from sqlmodel import select

    from carnet_billing.models import Note
    from carnet_billing.services import chain

    with db.session(clinic_id=clinic.id) as s:
        seqs = sorted(n.seq for n in s.exec(select(Note).where(Note.practitioner_id == who.user_id,
                                                              Note.status == "issued")).all())
        ok = seqs == list(range(1, count + 1)) and chain.verify(s, who.user_id) == []
        return f"numbers 1..{seqs[-1] if seqs else 0}, distinct, no gap, chain intact: {'yes' if ok else 'NO'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=50)
    parser.add_argument("--home", type=Path, default=Path("/tmp/carnet-bench-billing"))
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    db, _host, clinic = _setup(args.home, args.database)
    (sequential_who, concurrent_who), patients = _world(db, clinic, args.issues)
    # baseline: the same issues one after the other (another practitioner's series)
    ids = _drafts(db, clinic, sequential_who, patients, args.issues)
    start = time.perf_counter()
    for note_id in ids:
        _issue(db, clinic, sequential_who, note_id)
    sequential = time.perf_counter() - start
    ids = _drafts(db, clinic, concurrent_who, patients, args.issues)
    barrier = threading.Barrier(args.issues + 1)
    errors: list[BaseException] = []

    def run(note_id: int) -> None:
        barrier.wait()
        try:
            _issue(db, clinic, concurrent_who, note_id)
        except BaseException as exc:  # noqa: BLE001 - counted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    concurrent = time.perf_counter() - start
    dialect = db.engine.dialect.name
    print(f"database: {dialect}; {args.issues} issues")
    print(f"sequential: {sequential:.2f} s ({args.issues / sequential:.0f}/s) — {_check(db, clinic, sequential_who, args.issues)}")
    print(f"concurrent: {concurrent:.2f} s ({args.issues / concurrent:.0f}/s), {len(errors)} errors — "
          f"{_check(db, clinic, concurrent_who, args.issues)}")
    print(f"ratio concurrent / sequential wall time: {concurrent / sequential:.2f}")
    db.dispose()
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
