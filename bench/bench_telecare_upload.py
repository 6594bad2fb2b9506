"""Telecare's attachment upload: a real `carnet serve` process, its peak resident memory (VmHWM,
reset before each upload) while it takes a 1 MB attachment (the baseline: accepted, sealed and
stored) and while it refuses a 100 MB one (413 at the 10 MB request body limit), streamed without
a length and announced with its length, as browsers send forms. Prints each growth, how much of the
body was sent before the answer, and the ratio of the refused 100 MB upload's growth to the
accepted 1 MB one's, measured in the same run (Linux only: /proc):

    .venv/bin/python bench/bench_telecare_upload.py [--rounds 3] [--home /tmp/carnet-bench-upload]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "telecare" / "tests"))


def setup(home: Path):
    from benchlib import new_home, settings_for
    from telecare_world import honoured_session, registrar

    from carnet_core.clinics.services import create_clinic
    from carnet_core.plugin_api import patient_access
    from carnet_core.testing.identity import make_staff

    settings = settings_for(home)
    db = new_home(settings)
    with db.session(unscoped=True) as s:
        clinic = create_clinic(s, "bench-upload", "Cabinet Bench", ["scheduling", "telecare"])
    owner = make_staff(db, settings, ("owner", "practitioner"), clinic)
    with db.session(clinic_id=clinic.id) as s:
        s.info["principal"] = "system:bench"
        patient = patient_access(s, registrar(clinic.id)).register(
            {"last_name": "Banc", "first_name": "Essai", "email": "essai@example.org", "practitioner_id": owner.id})
        honoured_session(s, owner.id, patient)
    return settings, db, owner, patient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    from carnet_core.testing import peak_rss_growth, serving, stream_upload
    from carnet_core.testing.identity import login_as
    from carnet_core.testing.uploads import MB

    home = args.home or Path(tempfile.mkdtemp(prefix="carnet-bench-upload-"))
    shutil.rmtree(home, ignore_errors=True)
    settings, db, owner, patient = setup(home)
    growth: dict[str, list[int]] = {"accepted 1 MB": [], "refused 100 MB, streamed": [],
                                    "refused 100 MB, announced": []}
    sent: dict[str, list[int]] = {k: [] for k in growth}
    with serving(settings, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as (proc, base), httpx.Client(base_url=base, timeout=120) as browser:
        token = login_as(browser, db, owner)
        path = f"/telecare/patients/{patient}/conversations"
        fields = {"_csrf_token": token, "kind": "clinical", "subject": "Bilan", "body": "Voici le bilan."}
        for _ in range(args.rounds):
            for name, size, announce, status in (("accepted 1 MB", MB, True, 303),
                                                 ("refused 100 MB, streamed", 100 * MB, False, 413),
                                                 ("refused 100 MB, announced", 100 * MB, True, 413)):
                answer, grew = peak_rss_growth(proc.pid, lambda s=size, a=announce: stream_upload(
                    base, path, browser.cookies, fields, size=s, announce=a))
                assert answer.status == status, (name, answer.status)
                growth[name].append(grew)
                sent[name].append(answer.sent)
    print(f"server peak RSS growth over its resident size, median of {args.rounds} (carnet serve, loopback):")
    for name, values in growth.items():
        print(f"  {name:28} {statistics.median(values) / MB:6.2f} MB   body sent before the answer: "
              f"{statistics.median(sent[name]) / MB:6.1f} MB")
    base_growth = max(statistics.median(growth["accepted 1 MB"]), 1)
    for name in ("refused 100 MB, streamed", "refused 100 MB, announced"):
        print(f"  ratio {name} / accepted 1 MB: {statistics.median(growth[name]) / base_growth:.2f}")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
