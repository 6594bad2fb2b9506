"""Append and verify N audit records (default 1,000,000) on a SQLite file, against hashlib alone.

The append paths are the real ones: `carnet_core.audit.record()` in clinic-bound sessions, one
transaction per batch (a request usually writes one record; a batch stands for many requests
without paying a commit/fsync each), then as many records again through `record_many()`, one call
per batch (what core's structural trace writes at each commit). Verification is `verify_clinic`, the code behind
`carnet audit verify`. The baseline hashes exactly the same canonical bytes with hashlib in a
loop (leaf + chain hash per record, no database, no encoding); "read only" fetches the rows
verification reads (same query, same batches, on the driver's connection) and does nothing with
them: verify can be no faster than read + hashlib, so read's time bounds verify's ratio to hashlib
(on SQLite the driver's 17 values a row cost more than both hashes). Prints records/s and ratios.

    .venv/bin/python bench/bench_audit.py [--records 1000000] [--batch 1000] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="records per transaction")
    parser.add_argument("--keep", action="store_true", help="keep the database file")
    args = parser.parse_args()

    from carnet_core.audit import record, record_many
    from carnet_core.audit.chain import canonical
    from carnet_core.audit.integrity import make_checkpoint, verify_clinic
    from carnet_core.audit.models import AuditRecord
    from carnet_core.audit.signing import ensure_signing_key
    from carnet_core.clinics.services import create_clinic
    from carnet_core.db.base import utcnow
    from carnet_core.db.migrate import upgrade
    from carnet_core.db.session import Database
    from carnet_core.plugins import build_plugin_host
    from carnet_core.testing.plugin import make_settings

    home = Path(tempfile.mkdtemp(prefix="carnet-bench-audit-"))
    settings = make_settings(home)
    host = build_plugin_host(settings, discover=False)
    db = Database(settings.database_url)
    upgrade(db, host)
    ensure_signing_key(settings.keys_dir)
    with db.session(unscoped=True) as s:
        clinic_id = create_clinic(s, "bench", "Bench").id

    n, batch = args.records, args.batch
    start_time = utcnow() - timedelta(days=1)
    print(f"audit benchmark: {n:,} records through record() then {n:,} through record_many(), {batch} per "
          f"transaction, SQLite file {settings.database_url}")

    def entry(i: int) -> dict:
        return dict(action="read" if i % 4 else "update", resource_type="patient", resource_id=i % 5000,
                    patient_id=i % 5000, actor=f"user:{i % 12 + 1}", details={"fields": i % 7},
                    occurred_at=start_time + timedelta(microseconds=i * 50))

    # (1) record() once per record, `batch` records per transaction; (2) record_many() of `batch`
    # records per transaction (what core's trace uses), for as many records again, chained after.
    t0, c0 = time.perf_counter(), time.process_time()
    done = 0
    while done < n:
        with db.session(clinic_id=clinic_id) as s:
            for i in range(done, min(n, done + batch)):
                record(s, **entry(i))
        done = min(n, done + batch)
    append_s, append_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    while done < 2 * n:
        with db.session(clinic_id=clinic_id) as s:
            record_many(s, [entry(i) for i in range(done, min(2 * n, done + batch))])
        done = min(2 * n, done + batch)
    many_s, many_cpu = time.perf_counter() - t0, time.process_time() - c0
    n = 2 * n  # verification reads both
    with db.session(unscoped=True) as s:
        make_checkpoint(s, settings.keys_dir, clinic_id)

    # The same bytes, read back once (not timed), for the hashlib-only baseline.
    with db.engine.connect() as conn:
        table = AuditRecord.__table__
        rows = conn.execute(table.select().where(table.c.clinic_id == clinic_id).order_by(table.c.seq))
        contents = [canonical(r) for r in rows.mappings()]
    total_bytes = sum(len(c) for c in contents)
    t0, c0 = time.perf_counter(), time.process_time()
    prev = bytes(32)
    sha256 = hashlib.sha256
    for content in contents:
        prev = sha256(b"\x01" + prev + sha256(b"\x00" + content).digest()).digest()
    hash_s, hash_cpu = time.perf_counter() - t0, time.process_time() - c0
    del contents

    from carnet_core.audit.integrity import _stored_batches

    t0, c0 = time.perf_counter(), time.process_time()
    with db.session(unscoped=True) as s:
        read = sum(len(rows) for rows, _ in _stored_batches(s, clinic_id, 1, 5000))
    read_s, read_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert read == n

    t0, c0 = time.perf_counter(), time.process_time()
    with db.session(unscoped=True) as s:
        result = verify_clinic(s, clinic_id, settings.keys_dir)
    verify_s, verify_cpu = time.perf_counter() - t0, time.process_time() - c0
    if not result.ok or result.records != n:
        print(f"verification FAILED: {result.problem}", file=sys.stderr)
        return 1

    size = Path(settings.database_url.removeprefix("sqlite:///")).stat().st_size
    print(f"canonical bytes: {total_bytes / n:.0f} B/record, database {size / 1e6:.0f} MB")
    half = n // 2
    # CPU time of this process (SQLite runs in it): steady on a shared machine, where waiting for
    # a core inflates the wall times.
    print("                       wall time                   in-process CPU time")
    print(f"hashlib alone       : {n / hash_s:>10,.0f} records/s  ({hash_s:6.2f} s)  {n / hash_cpu:>10,.0f} records/s")
    print(f"append, record()    : {half / append_s:>10,.0f} records/s  ({append_s:6.2f} s)  "
          f"{half / append_cpu:>10,.0f} records/s  ({batch} calls per transaction)")
    print(f"append, record_many : {half / many_s:>10,.0f} records/s  ({many_s:6.2f} s)  "
          f"{half / many_cpu:>10,.0f} records/s  ({batch} records per call and transaction)")
    print(f"read only           : {n / read_s:>10,.0f} records/s  ({read_s:6.2f} s)  {n / read_cpu:>10,.0f} records/s"
          f"  (verify's ratio to hashlib is at most {hash_s / (hash_s + read_s):.2f} wall, "
          f"{hash_cpu / (hash_cpu + read_cpu):.2f} CPU)")
    print(f"verify              : {n / verify_s:>10,.0f} records/s  ({verify_s:6.2f} s)  "
          f"{n / verify_cpu:>10,.0f} records/s  = {hash_s / verify_s:.2f} of hashlib (wall), "
          f"{hash_cpu / verify_cpu:.2f} (CPU)")
    db.dispose()
    if args.keep:
        print(f"kept: {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
