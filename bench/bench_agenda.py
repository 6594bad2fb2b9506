"""Scheduling benchmarks on a two-year, ten-practitioner clinic (~100,000 appointments, 5,000 patients).

(a) Week view HTML for one practitioner with 40 appointments that week, through the whole app
    (login session, clinic scoping, audit record, sealed patient names, the shell), against a bare
    Litestar + Jinja handler that reads the same rows from the same database and renders the same
    grid template with plain names, without the plugin host, encryption or audit. Ratio of
    throughputs, measured in the same run.
(b) Availability search over four weeks for one practitioner (the service the API calls).
(c) 50 concurrent booking requests for one slot over HTTP (uvicorn on loopback): exactly one 201
    and 49 409s; then the rate of non-conflicting bookings over HTTP.

The seeded database is a SQLite file under /tmp, reused across runs and migrated to the checkout's
revisions first (delete the folder to reseed),
or with `--database postgresql://…` a PostgreSQL database seeded once (use a home of its own; keep
the database between runs). `--role NAME` makes Carnet connect as that application role (created
without SUPERUSER or BYPASSRLS if missing, as CARNET_DATABASE_ROLE does), so row-level security
applies; the bare baseline keeps the URL's user:

    .venv/bin/python bench/bench_agenda.py [--requests 300] [--home /tmp/carnet-bench-agenda]
    .venv/bin/python bench/bench_agenda.py --database postgresql://postgres@127.0.0.1/bench \
        --home /tmp/carnet-bench-agenda-pg --role carnet_bench_app --no-contention [--compare-rls]

`--compare-rls` (with `--role`) adds the same full page served by an app connecting as the URL's
superuser, to which row-level security does not apply, in the same interleaved rounds: the
policies' cost as a ratio of one run. `--only-week` stops after (a).

`--callgrind OUT` counts (a)'s instructions per request instead of timing it: the same on a loaded
machine as on an idle one, so two revisions compare run after run (minutes: valgrind is ~50x slower):

    valgrind --tool=callgrind --dump-before=getpgrp --callgrind-out-file=/tmp/cg/out.%p \
        .venv/bin/python bench/bench_agenda.py --callgrind /tmp/cg/out.%p --requests 20
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from benchlib import (
    CPU,
    DATABASE,
    cpu_ratio,
    ensure_role,
    instructions,
    interleaved,
    login,
    open_db,
    round_ratios,
    settings_for,
    throughput,
)
from litestar.response import Response

PRACTITIONERS = 10
PATIENTS = 5_000
WEEKS = 104
FIRST_MONDAY = date(2025, 1, 6)
MEASURED_WEEK = FIRST_MONDAY + timedelta(weeks=60)
SLOTS = [clock(h, m) for h in range(8, 20) for m in (0, 30)]  # 24 half-hour slots a day


def seed(home: Path) -> dict[str, Any]:
    """Create (or reuse) the big database; return ids the benchmarks need."""
    marker = home / "seeded.json"
    if marker.exists():
        # A kept database (SQLite file or PostgreSQL) brought to this checkout's migrations.
        from carnet_core.db.migrate import upgrade
        from carnet_core.db.session import Database
        from carnet_core.plugins import build_plugin_host

        settings = settings_for(home)
        db = Database(settings.database_url)
        upgrade(db, build_plugin_host(settings))
        db.dispose()
        return json.loads(marker.read_text())
    from carnet_core.clinics.services import create_clinic
    from carnet_core.db.migrate import upgrade
    from carnet_core.db.session import Database
    from carnet_core.encryption import install_keyring
    from carnet_core.encryption.keyprovider import create_master_key_file
    from carnet_core.identity import services as identity
    from carnet_core.patients.services import create_patient
    from carnet_core.plugins import build_plugin_host
    from carnet_core.testing.identity import make_staff
    from carnet_core.web.principal import Principal
    from carnet_scheduling.migrations import scheduling_0001_initial as initial
    from carnet_scheduling.models import Appointment
    from carnet_scheduling.services import setup
    from carnet_scheduling.services.calendar import local_to_utc

    home.mkdir(parents=True, exist_ok=True)
    settings = settings_for(home)
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    if not (settings.keys_dir / "master.key").exists():
        create_master_key_file(settings.keys_dir / "master.key")
    host = build_plugin_host(settings)
    db = Database(settings.database_url)
    upgrade(db, host)
    install_keyring(db, settings)
    started = time.perf_counter()
    with db.session(unscoped=True) as s:
        clinic = create_clinic(s, "bench-agenda", "Cabinet Bench", host.names)
    secretary = make_staff(db, settings, "secretary", clinic, email="secretariat@bench.test", name="Secrétariat")
    with db.session(clinic_id=clinic.id) as s:
        s.info["principal"] = "system:bench"
        practitioners = []
        for n in range(PRACTITIONERS):
            user = identity.create_or_get_user(s, f"praticien{n}@bench.test", f"Praticien {n:02d}")
            identity.set_membership(s, clinic.id, user.id, ("practitioner",))
            practitioners.append(user.id)
        place = setup.create_place(s, "Cabinet", "cabinet")
        rooms = [setup.create_room(s, place.id, f"Salle {n + 1}").id for n in range(PRACTITIONERS)]
        types = [setup.create_appointment_type(s, name, 30, colour=colour).id
                 for name, colour in (("Séance", "#2563eb"), ("Bilan", "#16a34a"), ("Télésoin", "#7c3aed"))]
        for p, room in zip(practitioners, rooms, strict=True):
            setup.set_working_hours(s, p, [(d, clock(8), clock(20), place.id, room) for d in range(5)])
        registrar = Principal(kind="user", user_id=practitioners[0], clinic_id=clinic.id, roles=frozenset({"owner"}))
        patients = [create_patient(s, registrar, {"last_name": f"Patient{i:04d}", "first_name": "Camille",
                                                  "practitioner_id": practitioners[i % PRACTITIONERS]}).id
                    for i in range(PATIENTS)]
    print(f"seed: clinic, staff and {PATIENTS} sealed patients in {time.perf_counter() - started:.0f}s")
    # Appointments: bulk insert without the triggers (rows are built without overlaps), then
    # the triggers are created again, exactly as the migration does.
    started = time.perf_counter()
    rnd = random.Random(7)
    table = Appointment.__table__
    type_key = next(c.key for c in table.columns if c.name == "type_id")
    rows = []
    now = datetime.now(UTC)
    for w in range(WEEKS):
        monday = FIRST_MONDAY + timedelta(weeks=w)
        for pi, p in enumerate(practitioners):
            measured = monday == MEASURED_WEEK and pi == 0
            chosen = [(d, k) for d in range(5) for k in range(len(SLOTS))]
            keep = set(rnd.sample(range(len(chosen)), 40 if measured else 96))
            for idx, (d, k) in enumerate(chosen):
                if idx not in keep:
                    continue
                day = monday + timedelta(days=d)
                start = local_to_utc(day, SLOTS[k])
                past = start < now
                rows.append({
                    "clinic_id": clinic.id, "practitioner_id": p, type_key: types[(idx + w) % 3],
                    "patient_id": patients[(pi * 500 + k * 5 + d * 120 + w) % 500 + pi * 500],
                    "place_id": place.id, "room_id": rooms[pi], "starts_at": start,
                    "ends_at": start + timedelta(minutes=30), "local_day": day,
                    "status": ("honoured" if idx % 17 else "absent") if past else "booked",
                    "billable": True, "source": "staff", "created_at": now, "updated_at": now,
                })
    with db.engine.begin() as conn:
        if db.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS scheduling_appointment_no_overlap_insert")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS scheduling_appointment_no_overlap_update")
        conn.execute(sa.insert(table), rows)
        if db.dialect == "sqlite":
            conn.exec_driver_sql(initial.SQLITE_TRIGGER.format(
                name="scheduling_appointment_no_overlap_insert", event="INSERT", self_clause=""))
            conn.exec_driver_sql(initial.SQLITE_TRIGGER.format(
                name="scheduling_appointment_no_overlap_update",
                event="UPDATE OF starts_at, ends_at, practitioner_id, room_id, status",
                self_clause="AND a.id <> NEW.id"))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    print(f"seed: {len(rows)} appointments in {time.perf_counter() - started:.0f}s")
    info = {"clinic_id": clinic.id, "practitioners": practitioners, "patients": patients, "types": types,
            "rooms": rooms, "secretary": {"email": secretary.email, "password": secretary.password,
                                          "totp": secretary.totp_secret, "id": secretary.id},
            "appointments": len(rows)}
    marker.write_text(json.dumps(info))
    db.dispose()
    return info


# --- (a) week view ----------------------------------------------------------------------------


def baseline_app(database_url: str):
    """A bare Litestar + Jinja handler: the same rows, the same grid template, plain names."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from litestar import Litestar, get
    from litestar.params import FromPath
    from sqlalchemy.orm import Session

    import carnet_scheduling
    from carnet_scheduling.controllers.pages import AgendaQuery
    from carnet_scheduling.models import (
        Appointment,
        AppointmentType,
        AvailabilityException,
        WorkingHours,
        overlapping_window,
    )
    from carnet_scheduling.services import agenda

    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    folder = Path(carnet_scheduling.__file__).parent / "templates"
    env = Environment(loader=FileSystemLoader(str(folder)), autoescape=select_autoescape(default=True),
                      extensions=["jinja2.ext.i18n"])
    env.install_null_translations(newstyle=True)
    template = env.get_template("scheduling/_grid.html")

    @get("/week/{practitioner_id:int}/{day:str}", sync_to_thread=True)
    def week(practitioner_id: FromPath[int], day: FromPath[str]) -> Response[str]:
        anchor = date.fromisoformat(day)
        days = agenda.week_days(anchor)
        start, end = agenda.window(days, "Europe/Paris")
        with Session(engine) as s:
            rows = list(s.scalars(sa.select(Appointment).where(
                Appointment.practitioner_id == practitioner_id, overlapping_window(start, end))
                .order_by(Appointment.starts_at)))
            hours = list(s.scalars(sa.select(WorkingHours).where(WorkingHours.practitioner_id == practitioner_id)))
            off = list(s.scalars(sa.select(AvailabilityException).where(AvailabilityException.starts_at < end,
                                                                         AvailabilityException.ends_at > start)))
            types = {t.id: t for t in s.scalars(sa.select(AppointmentType))}
        shown = agenda.visible_days(days, hours, rows, "Europe/Paris")
        grid = agenda.build_grid(columns=agenda.day_columns(shown, [d.strftime("%a %d/%m") for d in shown]),
                                 appointments=rows, hours=hours, exceptions=off, tz="Europe/Paris", today=anchor)
        aq = AgendaQuery("week", anchor, practitioner_id, None, False)
        html = template.render(grid=grid, aq=aq, names={a.patient_id: f"PATIENT{a.patient_id:04d} Camille"
                                                        for a in rows},
                               types=types, rooms_by_id={}, staff_by_id={}, self_url=aq.url(), title_range=day,
                               can_manage=True, status_labels={k: k for k in
                                                               ("booked", "honoured", "absent", "excused", "cancelled")})
        return Response(html, media_type="text/html")

    return Litestar(route_handlers=[week])


def staff_accounts(settings: Any, info: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """n secretaries of the bench clinic (created once, kept in the seed file's folder)."""
    import hashlib

    from carnet_core.clinics.models import Clinic
    from carnet_core.db.session import Database
    from carnet_core.testing.identity import make_staff

    database = hashlib.sha256(settings.database_url.encode()).hexdigest()[:8]
    path = settings.home / f"staff-{database}-{info['clinic_id']}{info.get('stamp', '')}.json"
    if path.exists():
        return json.loads(path.read_text())
    db = Database(settings.database_url)
    with db.session(unscoped=True) as s:
        clinic = s.get(Clinic, info["clinic_id"])
    accounts = []
    for i in range(n):
        user = make_staff(db, settings, "secretary", clinic, email=f"secretaire{i}-{info['clinic_id']}@bench.test")
        accounts.append({"email": user.email, "password": user.password, "totp": user.totp_secret})
    db.dispose()
    path.write_text(json.dumps(accounts))
    return accounts


def bench_week(home: Path, info: dict[str, Any], n: int, compare_rls: bool = False, callgrind: str | None = None) -> None:
    from contextlib import ExitStack

    from litestar.testing import TestClient

    from carnet_core.plugins import build_plugin_host
    from carnet_core.web.app import create_app

    try:
        from carnet_core.process import freeze_startup_heap
    except ImportError:  # an older checkout measured against this one: what carnet serve does now
        import gc

        def freeze_startup_heap() -> int:
            gc.collect()
            gc.freeze()
            return gc.get_freeze_count()

    settings = settings_for(home)
    host = build_plugin_host(settings)
    app = create_app(settings, host=host, db=open_db(settings))
    practitioner = info["practitioners"][0]
    url = f"/scheduling/?view=week&date={MEASURED_WEEK.isoformat()}&practitioner={practitioner}"
    base = baseline_app(settings.database_url)
    with ExitStack() as stack:
        client = stack.enter_context(TestClient(app=app, base_url="http://127.0.0.1:8000"))
        bare = stack.enter_context(TestClient(app=base))
        login(client, info)
        variants: dict[str, Any] = {}
        if compare_rls:
            # The same app connecting as the URL's user (a superuser: row-level security does not
            # apply), measured in the same interleaved rounds: what the policies cost.
            role = DATABASE["role"]
            DATABASE["role"] = None
            try:
                plain_settings = settings_for(home)
            finally:
                DATABASE["role"] = role
            bypass = stack.enter_context(TestClient(
                app=create_app(plain_settings, host=host, db=open_db(plain_settings)),
                base_url="http://127.0.0.1:8000"))
            login(bypass, info)
            assert bypass.get(url).status_code == 200

            def carnet_bypass() -> None:
                assert bypass.get(url).status_code == 200

            variants["bypass"] = carnet_bypass
        # What `carnet serve` does once the app is built (carnet_core.process.freeze_startup_heap):
        # the process's long-lived objects out of the collector's reach (the baseline, in this same
        # process, benefits alike).
        frozen = freeze_startup_heap()
        full = client.get(url)
        assert full.status_code == 200, full.status_code
        shown = full.text.count('class="appt ')
        plain = bare.get(f"/week/{practitioner}/{MEASURED_WEEK.isoformat()}")
        assert plain.status_code == 200 and plain.text.count('class="appt ') == shown == 40, shown

        def carnet_page() -> None:
            assert client.get(url).status_code == 200

        def carnet_partial() -> None:
            assert client.get(url, headers={"HX-Request": "true"}).status_code == 200

        def baseline() -> None:
            assert bare.get(f"/week/{practitioner}/{MEASURED_WEEK.isoformat()}").status_code == 200

        if callgrind:
            counts = instructions({"base": baseline, "full": carnet_page, "partial": carnet_partial, **variants},
                                  n, callgrind)
            print(f"(a) week view under callgrind, {n} requests each: instructions per request "
                  f"(millions) bare {counts['base'] / 1e6:.1f}, full {counts['full'] / 1e6:.1f} "
                  f"(ratio {counts['base'] / counts['full']:.3f}), partial {counts['partial'] / 1e6:.1f} "
                  f"(ratio {counts['base'] / counts['partial']:.3f})")
            return
        # interleaved rounds: a slow spell of the machine weighs on the three alike
        rates = interleaved({"base": baseline, "full": carnet_page, "partial": carnet_partial, **variants}, n)
    base_rate, rate_full, rate_partial = rates["base"], rates["full"], rates["partial"]
    where = "PostgreSQL" if settings.database_url.startswith("postgres") else "SQLite"
    role = f", Carnet as role {settings.database_role}" if getattr(settings, "database_role", None) else ""
    print(f"(a) week view, 40 appointments, {info['appointments']} in the database ({where}{role}), {n} requests "
          "each (in-process ASGI client)")
    print(f"    bare Litestar + Jinja (same rows, same grid template)  {base_rate:7.1f} req/s "
          f"({1000 / base_rate:.1f} ms)")
    print(f"    carnet full page (shell, session, audit, sealed names) {rate_full:7.1f} req/s "
          f"({1000 / rate_full:.1f} ms)  ratio {rate_full / base_rate:.2f}, {round_ratios('full')}")
    print(f"    carnet htmx partial (what navigation swaps in)         {rate_partial:7.1f} req/s "
          f"({1000 / rate_partial:.1f} ms)  ratio {rate_partial / base_rate:.2f}, {round_ratios('partial')}")
    if "bypass" in rates:
        print(f"    carnet full page, row-level security bypassed          {rates['bypass']:7.1f} req/s "
              f"({1000 / rates['bypass']:.1f} ms)  ratio {rates['bypass'] / base_rate:.2f}, {round_ratios('bypass')}")
        print(f"    RLS on / bypassed: {rate_full / rates['bypass']:.2f}, {round_ratios('full', 'bypass')}")
    if where == "SQLite":
        print(f"    in-process CPU time per request: bare {1000 * CPU['base'] / n:.1f} ms, full "
              f"{1000 * CPU['full'] / n:.1f} ms ({cpu_ratio('full')}), partial {1000 * CPU['partial'] / n:.1f} ms "
              f"({cpu_ratio('partial')})")
    print(f"    page sizes: full {len(full.content) // 1024} KiB, baseline {len(plain.content) // 1024} KiB; "
          f"{frozen:,} start-up objects frozen (gc.freeze, as carnet serve does)")


def profile_week(home: Path, info: dict[str, Any], n: int = 50) -> None:
    """Where the time of the full page goes: the page's parts timed one by one (ms per page)."""
    from carnet_core.audit import record
    from carnet_core.db.session import Database
    from carnet_core.encryption import install_keyring
    from carnet_core.web.principal import Principal
    from carnet_scheduling.services import agenda, people
    from carnet_scheduling.services.context import practitioners

    settings = settings_for(home)
    db = Database(settings.database_url)
    install_keyring(db, settings)
    principal = Principal(kind="user", user_id=info["secretary"]["id"], clinic_id=info["clinic_id"],
                          roles=frozenset({"secretary"}), permissions=frozenset({"core.patients.view_all"}))
    p = info["practitioners"][0]
    days = agenda.week_days(MEASURED_WEEK)
    start, end = agenda.window(days, "Europe/Paris")
    parts: dict[str, float] = {}

    def timed(name: str, fn):
        t = time.perf_counter()
        out = fn()
        parts[name] = parts.get(name, 0.0) + time.perf_counter() - t
        return out

    for _ in range(n):  # the lambdas run at once, inside their iteration
        with db.session(clinic_id=info["clinic_id"]) as s:
            s.info["principal"] = principal
            rows = timed("query appointments, hours, time off", lambda: (
                agenda.load_appointments(s, start, end, practitioner_id=p), agenda.load_hours(s, p),
                agenda.load_exceptions(s, start, end, p)))
            timed("staff, types, rooms", lambda: (practitioners(s), agenda.types_by_id(s), agenda.rooms_by_id(s)))
            timed("grid layout", lambda: agenda.build_grid(
                columns=agenda.day_columns(days[:5], [str(d) for d in days[:5]]), appointments=rows[0], hours=rows[1],  # noqa: B023
                exceptions=rows[2], tz="Europe/Paris", today=MEASURED_WEEK))  # noqa: B023
            timed("open 40 sealed names (patient keys)", lambda: people.names(
                s, principal, (a.patient_id for a in rows[0])))  # noqa: B023
            timed("audit record + commit", lambda: (record(s, action="list", resource_type="appointment",
                                                           details={"bench": True}), s.commit()))
    print("    where the full page's time goes (ms per page, measured apart):")
    for name, total in parts.items():
        print(f"      {name:40s} {1000 * total / n:6.1f}")
    db.dispose()


# --- (b) availability ----------------------------------------------------------------------------


def bench_availability(home: Path, info: dict[str, Any], n: int) -> None:
    from carnet_core.db.session import Database
    from carnet_core.encryption import install_keyring
    from carnet_scheduling.services import availability

    settings = settings_for(home)
    db = Database(settings.database_url)
    install_keyring(db, settings)
    start = datetime.combine(MEASURED_WEEK, clock(0), tzinfo=UTC)
    end = start + timedelta(weeks=4)
    now = start - timedelta(days=1)
    found = []

    def search() -> None:
        with db.session(clinic_id=info["clinic_id"]) as s:
            found.append(len(availability.find_slots(s, info["practitioners"][0], info["types"][0], start, end,
                                                     now=now, horizon=timedelta(days=180))))

    rate = throughput(search, n)
    print(f"(b) availability over four weeks, one practitioner: {rate:.0f} searches/s "
          f"({1000 / rate:.1f} ms each), {found[-1]} free slots found")
    db.dispose()


# --- (c) contention over HTTP --------------------------------------------------------------------


def small_clinic(home: Path, database_url: str) -> dict[str, Any]:
    """A fresh clinic on `database_url` (PostgreSQL scratch database) for the contention run."""
    from carnet_core.clinics.services import create_clinic
    from carnet_core.db.migrate import upgrade
    from carnet_core.db.session import Database
    from carnet_core.encryption import install_keyring
    from carnet_core.identity import services as identity
    from carnet_core.patients.services import create_patient
    from carnet_core.plugins import build_plugin_host
    from carnet_core.testing.identity import make_staff
    from carnet_core.web.principal import Principal
    from carnet_scheduling.services import setup

    settings = settings_for(home, database_url)
    host = build_plugin_host(settings)
    db = Database(database_url)
    upgrade(db, host)
    install_keyring(db, settings)
    stamp = int(time.time())
    with db.session(unscoped=True) as s:
        clinic = create_clinic(s, f"bench-contention-{stamp}", "Cabinet Bench PG", host.names)
    secretary = make_staff(db, settings, "secretary", clinic, email=f"secretariat-{stamp}@bench.test")
    with db.session(clinic_id=clinic.id) as s:
        s.info["principal"] = "system:bench"
        practitioners = []
        for n in range(PRACTITIONERS):
            user = identity.create_or_get_user(s, f"praticien{n}-{stamp}@bench.test", f"Praticien {n:02d}")
            identity.set_membership(s, clinic.id, user.id, ("practitioner",))
            practitioners.append(user.id)
        kind = setup.create_appointment_type(s, "Séance", 30)
        registrar = Principal(kind="user", user_id=practitioners[0], clinic_id=clinic.id, roles=frozenset({"owner"}))
        patients = [create_patient(s, registrar, {"last_name": f"Patient{i:04d}", "first_name": "Camille"}).id
                    for i in range(500)]
    db.dispose()
    return {"clinic_id": clinic.id, "stamp": f"-{stamp}", "practitioners": practitioners, "patients": patients, "types": [kind.id],
            "secretary": {"email": secretary.email, "password": secretary.password, "totp": secretary.totp_secret}}


def bench_contention(home: Path, info: dict[str, Any], bookings: int, database_url: str | None = None,
                     concurrent: int = 50) -> None:
    import httpx
    import uvicorn

    from carnet_core.db.session import Database
    from carnet_core.plugins import build_plugin_host
    from carnet_core.web.app import create_app

    settings = settings_for(home, database_url)
    app = create_app(settings, host=build_plugin_host(settings), db=Database(settings.database_url))
    kind = "PostgreSQL" if settings.database_url.startswith("postgres") else "SQLite"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        # 50 staff members, each logged in with their own session (one browser each)
        logins = []
        for sec in staff_accounts(settings, info, 50):
            with httpx.Client(base_url=base, timeout=60) as client:
                login(client, {"secretary": sec})
                logins.append((dict(client.cookies), dict(client.headers)))
        cookies, headers = logins[0]
        practitioner = info["practitioners"][1]
        # a fresh slot each run: far in the future, at a minute no seeded row uses
        minute = int(time.time()) % 50_000
        slot = datetime(2030, 1, 7, 7, 0, tzinfo=UTC) + timedelta(days=7 * (minute // 10), minutes=(minute % 10) * 61)
        patients = info["patients"][1::PRACTITIONERS][:concurrent]
        barrier = threading.Barrier(concurrent)

        def attempt(job: tuple[int, int]) -> int:
            n, patient_id = job
            with httpx.Client(base_url=base, timeout=90, cookies=logins[n][0], headers=logins[n][1]) as c:
                barrier.wait()
                try:
                    return c.post("/api/v1/scheduling/appointments", json={
                        "practitioner_id": practitioner, "patient_id": patient_id,
                        "appointment_type_id": info["types"][0], "starts_at": slot.isoformat()}).status_code
                except httpx.TimeoutException:
                    return 0

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrent) as pool:
            codes = list(pool.map(attempt, enumerate(patients)))
        elapsed = time.perf_counter() - started
        others = sorted(c for c in codes if c not in (201, 409))
        print(f"(c) {kind}: {concurrent} concurrent bookings of one slot over HTTP: {codes.count(201)} × 201, "
              f"{codes.count(409)} × 409, other {others or 'none'} (0 = client timeout), in {elapsed:.2f}s")
        if others:
            return
        # non-conflicting bookings: distinct practitioners, patients and times, 8 clients at once
        jobs = []
        for i in range(bookings):
            p_index = i % PRACTITIONERS
            start = slot + timedelta(days=1 + i // (PRACTITIONERS * 8), minutes=31 * ((i // PRACTITIONERS) % 8))
            patient = info["patients"][(i * 7919) % len(info["patients"])]
            jobs.append((info["practitioners"][p_index], patient, start))
        local = threading.local()

        counter = iter(range(8))

        def book(job) -> int:
            if not hasattr(local, "client"):
                own_cookies, own_headers = logins[next(counter)]
                local.client = httpx.Client(base_url=base, timeout=60, cookies=own_cookies, headers=own_headers)
            p, patient, start = job
            return local.client.post("/api/v1/scheduling/appointments", json={
                "practitioner_id": p, "patient_id": patient, "appointment_type_id": info["types"][0],
                "starts_at": start.isoformat()}).status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(book, jobs))
        elapsed = time.perf_counter() - started
        ok = results.count(201)
        print(f"    non-conflicting bookings over HTTP (8 clients): {ok}/{len(jobs)} booked "
              f"({results.count(409)} refused: same patient same day), {ok / elapsed:.0f} bookings/s")
    finally:
        server.should_exit = True
        thread.join(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default="/tmp/carnet-bench-agenda")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--bookings", type=int, default=400)
    parser.add_argument("--profile", action="store_true", help="also profile the week page")
    parser.add_argument("--concurrent", type=int, default=50, help="simultaneous bookings of one slot")
    parser.add_argument("--no-contention", action="store_true", help="skip (c) on SQLite")
    parser.add_argument("--pg", help="PostgreSQL scratch database for the contention run (c), besides SQLite")
    parser.add_argument("--database", help="run (a) and (b) on this PostgreSQL database (seeded once) instead")
    parser.add_argument("--role", help="with --database: Carnet connects as this application role (RLS applies)")
    parser.add_argument("--compare-rls", action="store_true",
                        help="with --role: also time the full page connecting as the URL's (superuser) user, "
                             "row-level security bypassed, in the same interleaved rounds")
    parser.add_argument("--only-week", action="store_true", help="run (a) only")
    parser.add_argument("--callgrind", metavar="OUT",
                        help="under valgrind (benchlib.CALLGRIND_OPTIONS, --callgrind-out-file=OUT): count the "
                             "instructions of (a)'s variants, --requests each, instead of timing them")
    args = parser.parse_args()
    home = Path(args.home)
    DATABASE["url"] = args.database
    info = seed(home)
    if args.role and args.database:
        ensure_role(args.database, args.role)  # after seeding and migrating: grants cover every table
        DATABASE["role"] = args.role
    bench_week(home, info, args.requests, compare_rls=bool(args.compare_rls and DATABASE["role"]),
               callgrind=args.callgrind)
    if args.only_week or args.callgrind:
        return 0
    bench_availability(home, info, max(20, args.requests // 3))
    if not args.no_contention:
        bench_contention(home, info, args.bookings, concurrent=args.concurrent)
    if args.pg:
        bench_contention(home, small_clinic(home, args.pg), args.bookings, args.pg, concurrent=args.concurrent)
    if args.profile:
        profile_week(home, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
