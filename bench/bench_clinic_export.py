"""Does the clinic export stay flat in memory? Peak RSS of the export at 10,000 patients against
the same export at 1,000 (the baseline, measured in the same run), and patients exported per second.

Each size gets its own SQLite database, filled by one process (patients through the registry's
own service: sealed fields, blind indexes, audit; four appointments each with a sealed note,
through scheduling's model and `seal`); then a fresh process runs the whole export (every module,
FHIR checked, CSV, age encryption to a file) and reports its peak RSS (getrusage ru_maxrss: the
whole process, interpreter and libraries included) and its time. Issue 12 asks for a ratio ≤ 1.3.

    .venv/bin/python bench/bench_clinic_export.py [--sizes 1000 10000] [--appointments 4]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

FIRST = ["Élodie", "Lucas", "Chloé", "Hugo", "Léa", "Nathan", "Inès", "Louis", "Manon", "Jules"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
PLUGINS = "scheduling,billing,consent"


def _settings(home: Path):
    from carnet_core.settings import load_settings

    return load_settings({"CARNET_HOME": str(home), "CARNET_ALLOWED_PLUGINS": PLUGINS})


def _open(home: Path):
    from carnet_core.db.session import Database
    from carnet_core.encryption import install_keyring
    from carnet_core.plugins import build_plugin_host

    settings = _settings(home)
    host = build_plugin_host(settings)
    db = Database(settings.database_url)
    install_keyring(db, settings)
    return settings, host, db


def populate(home: Path, patients: int, per_patient: int) -> None:
    from carnet_core.clinics.services import create_clinic
    from carnet_core.db.migrate import upgrade
    from carnet_core.encryption import seal
    from carnet_core.encryption.keyprovider import create_master_key_file
    from carnet_core.identity.services import create_or_get_user, set_membership
    from carnet_core.patients.services import create_patient
    from carnet_core.web.principal import Principal
    from carnet_scheduling.models import Appointment, AppointmentType

    settings = _settings(home)
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    create_master_key_file(settings.keys_dir / "master.key")
    settings, host, db = _open(home)
    upgrade(db, host)
    with db.session(unscoped=True) as s:
        clinic = create_clinic(s, "bench-export", "Cabinet Bench", PLUGINS.split(","))
    with db.session(clinic_id=clinic.id) as s:
        user = create_or_get_user(s, "bench@cabinet.test", "Bench")
        set_membership(s, clinic.id, user.id, ("owner", "practitioner"))
        kind = AppointmentType(name="Séance", duration_minutes=30)
        s.add(kind)
        s.commit()
        user_id, kind_id = user.id, kind.id
    perms = frozenset({"core.patients.view", "core.patients.edit", "core.patients.clinical"})
    principal = Principal(kind="user", user_id=user_id, clinic_id=clinic.id, roles=frozenset({"practitioner"}),
                          permissions=perms)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    for first in range(0, patients, 250):  # 250 patients per transaction
        with db.session(clinic_id=clinic.id) as s:
            if first:  # a practitioner per 250 patients (scheduling's overlap check reads theirs)
                user = create_or_get_user(s, f"bench-{first}@cabinet.test", f"Bench {first}")
                set_membership(s, clinic.id, user.id, ("practitioner",))
                s.flush()
                user_id = user.id
            for i in range(first, min(first + 250, patients)):
                rnd = random.Random(i)
                last = f"{rnd.choice(LAST)}{i}"
                pid = create_patient(s, principal, {
                    "last_name": last, "first_name": rnd.choice(FIRST),
                    "birth_date": f"{rnd.randint(1940, 2020)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}",
                    "sex": rnd.choice("FM"), "email": f"{last.lower()}@example.fr", "phone": f"+336{10000000 + i:08d}",
                    "address": f"{rnd.randint(1, 99)} rue des Lilas, 69003 Lyon",
                    "notes": "Bilan initial : retard de langage oral, suivi hebdomadaire proposé.",
                }).id
                for k in range(per_patient):
                    # no overlap for the practitioner; a patient's visits 250 slots (5 days) apart
                    at = start + timedelta(minutes=30 * (k * 250 + i % 250))
                    visit = Appointment(practitioner_id=user_id, patient_id=pid, appointment_type_id=kind_id,
                                        starts_at=at, ends_at=at + timedelta(minutes=30),
                                        local_day=date(at.year, at.month, at.day), status="honoured")
                    s.add(visit)
                    s.flush()
                    seal(s, visit, "notes", f"Séance {k + 1} : exercices de conscience phonologique.")
            s.commit()


def export(home: Path) -> dict[str, float]:
    from carnet_core.clinics.services import get_clinic_by_slug
    from carnet_core.export.services import recipient_for, write_encrypted

    settings, host, db = _open(home)
    import pyrage

    # an age key, not a passphrase: wrapping a passphrase's key runs scrypt (256 MiB by design,
    # memory-hard) once, which would hide the export's own memory
    recipient = recipient_for(age_recipient=str(pyrage.x25519.Identity.generate().to_public()))
    with db.session(unscoped=True) as s:
        clinic = get_clinic_by_slug(s, "bench-export")
    target = home / "bench.carnet-export"
    began = time.perf_counter()
    with db.session(clinic_id=clinic.id) as s:
        manifest = write_encrypted(s, host, clinic, target, recipient)
    seconds = time.perf_counter() - began
    patients = next(f["records"] for f in manifest["files"] if f["path"] == "core/patient.jsonl")
    return {"patients": patients, "records": sum(f["records"] for f in manifest["files"]), "seconds": seconds,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "bytes": target.stat().st_size}


def _child(args: list[str]) -> dict[str, float] | None:
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate(timeout=3600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 10000], metavar=("BASELINE", "LARGE"))
    parser.add_argument("--appointments", type=int, default=4)
    parser.add_argument("--child", choices=["populate", "export"])
    parser.add_argument("--home")
    parser.add_argument("--patients", type=int)
    args = parser.parse_args()
    if args.child == "populate":
        populate(Path(args.home), args.patients, args.appointments)
        return 0
    if args.child == "export":
        print(json.dumps(export(Path(args.home))))
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="carnet-bench-export-") as tmp:
        for n in args.sizes:
            home = Path(tmp) / f"n{n}"
            home.mkdir(mode=0o700)
            began = time.perf_counter()
            _child(["--child", "populate", "--home", str(home), "--patients", str(n),
                    "--appointments", str(args.appointments)])
            print(f"{n} patients, {n * args.appointments} appointments made in {time.perf_counter() - began:.0f} s",
                  file=sys.stderr)
            result = _child(["--child", "export", "--home", str(home)])
            results.append(result)
            print(f"export of {result['patients']} patients ({result['records']} records, "
                  f"{result['bytes'] / 1048576:.1f} MiB encrypted): {result['seconds']:.1f} s, "
                  f"{result['patients'] / result['seconds']:.0f} patients/s, peak RSS {result['peak_rss_mib']:.1f} MiB")
            os.sync()
    base, large = results
    ratio = large["peak_rss_mib"] / base["peak_rss_mib"]
    print(f"peak RSS ratio {large['patients']}/{base['patients']} patients: {ratio:.2f} (issue 12: ≤ 1.3)")
    return 0 if ratio <= 1.3 else 1


if __name__ == "__main__":
    sys.exit(main())
