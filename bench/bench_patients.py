"""What do encryption, blind indexes and audit cost? Create and read N patients both ways.

Sealed: the registry's own services (`create_patient`, `read_patient`): every field sealed with
the patient's key (AES-256-GCM), three blind indexes, a patient key wrapped by the clinic key, an
audit record appended to the clinic's hash chain in the same transaction.
Plain: the same fields as plaintext columns of a throwaway table, no index, no audit.
Both run one transaction per patient (as one API request would), on the same kind of database.
Prints patients/s for each and the ratios.

    .venv/bin/python bench/bench_patients.py [--patients 10000] [--pg postgresql://…/scratch_db]

With --pg, use a scratch database: the benchmark migrates it and leaves its clinic and patients.
`--callgrind OUT` (under valgrind, see bench_agenda.py) prints the instructions per patient of each
phase instead of rates: two revisions compare on a loaded machine.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from benchlib import Counted

FIRST = ["Élodie", "Lucas", "Chloé", "Hugo", "Léa", "Nathan", "Inès", "Louis", "Manon", "Jules"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]


def sample(i: int) -> dict[str, object]:
    rnd = random.Random(i)
    last = f"{rnd.choice(LAST)}{i}"
    return {
        "last_name": last, "first_name": rnd.choice(FIRST), "birth_date": f"{rnd.randint(1940, 2020)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}",
        "sex": rnd.choice("FMU"), "email": f"{last.lower()}@example.fr", "phone": f"+336{10000000 + i:08d}",
        "address": f"{rnd.randint(1, 99)} rue des Lilas, 69003 Lyon", "referring_physician": "Dr Morel",
        "notes": "Bilan initial : retard de langage oral, suivi hebdomadaire proposé.",
    }


PLAIN_COLUMNS = ("last_name", "first_name", "birth_date", "sex", "email", "phone", "address", "referring_physician", "notes")


def setup(database_url: str | None, home: Path):
    from benchlib import new_home

    from carnet_core.clinics.services import create_clinic
    from carnet_core.identity.services import create_or_get_user, set_membership
    from carnet_core.settings import load_settings
    from carnet_core.web.principal import Principal

    env = {"CARNET_HOME": str(home)}
    if os.environ.get("CARNET_ALLOWED_PLUGINS"):  # the same plugins whatever else is installed
        env["CARNET_ALLOWED_PLUGINS"] = os.environ["CARNET_ALLOWED_PLUGINS"]
    if database_url:
        env["CARNET_DATABASE_URL"] = database_url
    settings = load_settings(env)
    db = new_home(settings)
    with db.session(unscoped=True) as s:
        clinic = create_clinic(s, f"bench-{int(time.time())}", "Cabinet Bench", [])
    with db.session(clinic_id=clinic.id) as s:
        user = create_or_get_user(s, f"bench-{clinic.id}@cabinet.test", "Bench")
        set_membership(s, clinic.id, user.id, ("practitioner",))
    perms = frozenset({"core.patients.view", "core.patients.edit", "core.patients.clinical"})
    principal = Principal(kind="user", user_id=user.id, clinic_id=clinic.id, roles=frozenset({"practitioner"}),
                          permissions=perms)
    return db, clinic, principal


# CPU seconds of this process per phase: with SQLite (in the process) all of the work, and time
# spent waiting for a core on a shared machine does not count.
CPU: dict[str, float] = {}


# Instructions per phase under callgrind (--callgrind OUT).
INSTRUCTIONS: dict[str, int] = {}
CALLGRIND: dict[str, str] = {}


class _Phase:
    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> _Phase:
        self.counted = Counted(CALLGRIND["out"]).__enter__() if CALLGRIND else None
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.wall
        CPU[self.name] = time.process_time() - self.cpu
        if self.counted is not None:
            self.counted.__exit__(*exc)
            INSTRUCTIONS[self.name] = self.counted.instructions


def run_sealed(db, clinic, principal, n: int) -> tuple[float, float, list[int]]:
    from carnet_core.patients.services import create_patient, read_patient

    ids: list[int] = []
    with _Phase("sealed create") as create:
        for i in range(n):
            with db.session(clinic_id=clinic.id) as s:
                ids.append(create_patient(s, principal, sample(i)).id)
    with _Phase("sealed read") as read:
        for i, pid in enumerate(ids):
            with db.session(clinic_id=clinic.id) as s:
                view = read_patient(s, principal, pid)
                assert view.fields["email"] == sample(i)["email"]
    return create.seconds, read.seconds, ids


def run_plain(db, n: int) -> tuple[float, float]:
    meta = sa.MetaData()
    table = sa.Table(
        "bench_plain_patient", meta, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("clinic_id", sa.Integer, nullable=False), *(sa.Column(c, sa.Text) for c in PLAIN_COLUMNS),
    )
    meta.drop_all(db.engine)
    meta.create_all(db.engine)
    ids: list[int] = []
    try:
        with _Phase("plain create") as create:
            for i in range(n):
                with db.session(unscoped=True) as s:
                    result = s.connection().execute(sa.insert(table).values(clinic_id=1, **sample(i)))
                    ids.append(result.inserted_primary_key[0])
        with _Phase("plain read") as read:
            for i, pid in enumerate(ids):
                with db.session(unscoped=True) as s:
                    row = s.connection().execute(sa.select(table).where(table.c.id == pid)).one()
                    assert row.email == sample(i)["email"]
    finally:
        meta.drop_all(db.engine)
    return create.seconds, read.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--pg", help="PostgreSQL URL (default: a SQLite file in WAL mode)")
    parser.add_argument("--callgrind", metavar="OUT", help="under valgrind: count instructions per phase")
    args = parser.parse_args()
    n = args.patients
    if args.callgrind:
        CALLGRIND["out"] = args.callgrind
    with tempfile.TemporaryDirectory() as tmp:
        db, clinic, principal = setup(args.pg, Path(tmp))
        kind = db.dialect
        plain_c, plain_r = run_plain(db, n)
        sealed_c, sealed_r, ids = run_sealed(db, clinic, principal, n)
        db.dispose()
    rate = lambda seconds: n / seconds  # noqa: E731
    print(f"{n} patients on {kind}, one transaction each")
    print(f"  create  plain {rate(plain_c):8.0f}/s   sealed+indexed+audited {rate(sealed_c):8.0f}/s   "
          f"overhead x{sealed_c / plain_c:.2f}")
    print(f"  read    plain {rate(plain_r):8.0f}/s   sealed+audited         {rate(sealed_r):8.0f}/s   "
          f"overhead x{sealed_r / plain_r:.2f}")
    if INSTRUCTIONS:
        for what in ("create", "read"):
            plain, sealed = INSTRUCTIONS[f"plain {what}"] / n, INSTRUCTIONS[f"sealed {what}"] / n
            print(f"  {what:6s}  instructions per patient (callgrind): plain {plain / 1e6:.3f}M, sealed "
                  f"{sealed / 1e6:.3f}M, ratio {plain / sealed:.3f}")
    if kind == "sqlite":
        for what in ("create", "read"):
            plain, sealed = CPU[f"plain {what}"], CPU[f"sealed {what}"]
            print(f"  {what:6s}  in-process CPU per patient: plain {1000 * plain / n:.2f} ms, sealed "
                  f"{1000 * sealed / n:.2f} ms, CPU-time ratio {plain / sealed:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
