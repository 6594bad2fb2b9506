"""Many practices on one PostgreSQL: does one clinic's work cost the same among a thousand?

Two databases on the same PostgreSQL server, both with the same measured clinic (10 practitioners,
10,000 patients, ~100,000 appointments over two years, 40 appointments in the measured week):
  one   that clinic alone;
  many  a copy of `one` (CREATE DATABASE … TEMPLATE: the measured clinic's rows are byte for byte
        the same) plus 999 other clinics of 1,000 patients and 10,000 appointments each, so about
        1,000 clinics, 1,000,000 patients and 10,000,000 appointments at --scale 1.
Four paths of the measured clinic are timed in both, in interleaved rounds, as the application
role (no SUPERUSER, no BYPASSRLS: row-level security applies), and the ratio many/one printed
(goal ≤ 1.5): the week view (full page through the app: session, audit, sealed names), an
availability search over four weeks, a patient search by last name (blind index, sealed fields
opened, audited) and reminder planning (`reminders.replan` of 100 booked appointments, rolled
back). Then every SQL statement those paths send is EXPLAINed on `many`, in the same transaction
as the application role, and the plans are printed with a verdict: no sequential scan of a
clinic-owned table (but tables under 1,000 rows in all), and no index scan expecting more rows of a
table than the clinic owns (one that reads other clinics' rows: a batch of reminder planning read
2.5 million through `ix_scheduling_appointment_start` at scale 1 before `scheduling_0011`).

Seeding is server-side SQL (generate_series, INSERT … SELECT), not the ORM row by row. Sealed
columns hold real ciphertext: 400 patients of the measured clinic are registered through
`create_patient` (sealed with their own keys, blind-indexed, audited) and every other patient
reuses one of those 400 sealed rows and key rows byte for byte (so its values do not open: the
measured paths only open the 400 real ones), with blind indexes of its own. While the other
clinics' appointments are loaded, the appointment table's secondary indexes and exclusion
constraints are dropped and then created again from their own catalog definitions (faster than
maintaining them row by row), and foreign-key triggers are off (`session_replication_role =
replica`); every row is built valid (no overlap, same-clinic references).

    nice -n 10 .venv/bin/python bench/bench_many_clinics.py [--scale 0.01] [--requests 40]
        [--server postgresql://postgres@127.0.0.1:5432] [--prefix carnet_bench_many] [--role carnet_bench_app]

--scale 0.01 makes 10 clinics (the measured one and 9 others): for development. The databases
`<prefix>_one` and `<prefix>_many` are dropped and created again on every run.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench_patients import sample
from benchlib import DATABASE, ensure_role, interleaved, login, open_db, round_ratios, settings_for
from sqlalchemy import event

PRACTITIONERS = 10  # of the measured clinic
PATIENTS = 10_000  # of the measured clinic
POOL = 400  # patients registered through the services: the real ciphertext every other row reuses
OTHER_PRACTITIONERS = 3
OTHER_PATIENTS = 1_000  # per other clinic
WEEKS = 104
PAST_WEEKS = 78  # the agenda runs from 78 weeks ago to 26 weeks ahead
MEASURED = PAST_WEEKS + 1  # next week: booked appointments, reminders to plan, free slots to find
REPLAN = 50  # appointments whose reminders one planning pass covers


STARTED = time.perf_counter()


def step(what: str) -> None:
    print(f"  [{time.perf_counter() - STARTED:6.0f}s] {what}", flush=True)


def this_monday() -> date:
    today = datetime.now(UTC).date()
    return today - timedelta(days=today.weekday())


FIRST_MONDAY = this_monday() - timedelta(weeks=PAST_WEEKS)
MEASURED_WEEK = FIRST_MONDAY + timedelta(weeks=MEASURED)


@contextmanager
def connect(url: str, autocommit: bool = False) -> Iterator[sa.Connection]:
    """One connection as the URL's user (a transaction, or autocommit), its engine disposed after:
    a database used as a template must have no session left."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.pool.NullPool)
    try:
        if autocommit:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield conn
        else:
            with engine.begin() as conn:
                yield conn
    finally:
        engine.dispose()


def recreate(server: str, name: str, template: str | None = None) -> str:
    with connect(f"{server}/postgres", autocommit=True) as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return f"{server}/{name}"


# --- seeding ---------------------------------------------------------------------------------------

# Appointments of the practitioners listed in bench_prac: 30-minute slots from 8:00 to 20:00
# (Paris time), five days a week over WEEKS weeks, about `keep` of the 120 slots of a week taken;
# in the measured week the measured practitioner has exactly 40 (every third slot), with 40
# distinct real (POOL) patients. Slot n of a practitioner's agenda goes to their patient n mod
# count (count ≥ 24): never two appointments of one patient on a day. Past ones honoured (1 in 17
# absent), future ones booked.
APPOINTMENTS_SQL = """
INSERT INTO scheduling_appointment (clinic_id, practitioner_id, patient_id, type_id, place_id, room_id,
    starts_at, ends_at, local_day, status, billable, source, created_at, updated_at)
SELECT s.clinic_id, s.uid, pat.id,
       CASE s.n %% 3 WHEN 0 THEN s.type1 WHEN 1 THEN s.type2 ELSE s.type3 END, s.place_id, s.room_id,
       s.ts, s.ts + interval '30 minutes', s.day,
       CASE WHEN s.ts >= now() THEN 'booked' WHEN s.n %% 17 = 0 THEN 'absent' ELSE 'honoured' END,
       true, 'staff', now(), now()
FROM (
    SELECT pr.*, w, d, k, slot.day, slot.ts, (w * 5 + d) * 24 + k AS n
    FROM bench_prac pr
    CROSS JOIN generate_series(0, %(weeks)s - 1) w
    CROSS JOIN generate_series(0, 4) d
    CROSS JOIN generate_series(0, 23) k
    CROSS JOIN LATERAL (
        SELECT %(first)s::date + w * 7 + d AS day,
               ((%(first)s::date + w * 7 + d) + make_time(8 + k / 2, (k %% 2) * 30, 0)) AT TIME ZONE 'Europe/Paris' AS ts
    ) slot
    WHERE CASE WHEN pr.measured AND w = %(measured)s THEN k %% 3 = 0
               ELSE (k * 7 + w * 13 + d * 5 + pr.idx) %% 120 < pr.keep END
) s
JOIN bench_count c ON c.uid = s.uid
JOIN bench_pat pat ON pat.practitioner_id = s.uid
     AND pat.ord = CASE WHEN s.measured AND s.w = %(measured)s THEN s.d * 8 + s.k / 3 ELSE s.n %% c.count END
"""


def load_appointments(conn: Any, clinic_ids: list[int]) -> None:
    """Appointments for the practitioners in bench_prac (a temporary table the caller filled)."""
    conn.exec_driver_sql("DROP TABLE IF EXISTS bench_pat, bench_count")
    conn.exec_driver_sql(
        "CREATE TEMP TABLE bench_pat AS SELECT practitioner_id, id, (row_number() OVER "
        "(PARTITION BY practitioner_id ORDER BY id) - 1)::int AS ord FROM core_patient "
        "WHERE clinic_id = ANY(%(c)s)", {"c": clinic_ids})
    conn.exec_driver_sql("CREATE INDEX ON bench_pat (practitioner_id, ord)")
    conn.exec_driver_sql("CREATE TEMP TABLE bench_count AS SELECT practitioner_id AS uid, count(*) AS count "
                         "FROM bench_pat GROUP BY practitioner_id")
    conn.exec_driver_sql("ANALYZE bench_pat")
    conn.exec_driver_sql(APPOINTMENTS_SQL, {"weeks": WEEKS, "first": FIRST_MONDAY, "measured": MEASURED})


def seed_one(url: str, home: Path) -> dict[str, Any]:
    """The measured clinic, alone: set-up and POOL patients through the services, the rest in SQL."""
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
    from carnet_scheduling.services import reminders, setup

    home.mkdir(parents=True, exist_ok=True)
    settings = settings_for(home, url)
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    if not (settings.keys_dir / "master.key").exists():
        create_master_key_file(settings.keys_dir / "master.key")
    host = build_plugin_host(settings)
    db = Database(url)
    upgrade(db, host)
    install_keyring(db, settings)
    with db.session(unscoped=True) as s:
        clinic = create_clinic(s, "bench-many-0000", "Cabinet mesuré", host.names)
    secretary = make_staff(db, settings, "secretary", clinic, email="secretariat@many.bench", name="Secrétariat")
    with db.session(clinic_id=clinic.id) as s:
        s.info["principal"] = "system:bench"
        practitioners = []
        for n in range(PRACTITIONERS):
            user = identity.create_or_get_user(s, f"praticien{n}@many.bench", f"Praticien {n:02d}")
            identity.set_membership(s, clinic.id, user.id, ("practitioner",))
            practitioners.append(user.id)
        place = setup.create_place(s, "Cabinet", "cabinet")
        rooms = [setup.create_room(s, place.id, f"Salle {n + 1}").id for n in range(PRACTITIONERS)]
        types = [setup.create_appointment_type(s, name, 30, colour=colour).id
                 for name, colour in (("Séance", "#2563eb"), ("Bilan", "#16a34a"), ("Télésoin", "#7c3aed"))]
        for p, room in zip(practitioners, rooms, strict=True):
            setup.set_working_hours(s, p, [(d, clock(8), clock(20), place.id, room) for d in range(5)])
        reminders.ensure_default_rules(s, replan_booked=False)
        registrar = Principal(kind="user", user_id=practitioners[0], clinic_id=clinic.id, roles=frozenset({"owner"}),
                              permissions=frozenset({"core.patients.view", "core.patients.view_all",
                                                     "core.patients.edit", "core.patients.clinical"}))
        for i in range(POOL):
            create_patient(s, registrar, {**sample(i), "practitioner_id": practitioners[i % PRACTITIONERS]})
    step(f"measured clinic: set-up and {POOL} patients through the services")
    sealed = sealed_columns(db.engine)
    cols = ", ".join(sealed)
    with connect(url) as conn:
        # the other patients: copies of the pool's sealed rows, blind indexes of their own
        conn.exec_driver_sql(f"""
            INSERT INTO core_patient (clinic_id, {cols}, last_name_bidx, email_bidx, phone_bidx, practitioner_id,
                                      identity_status, archived, created_at, updated_at)
            SELECT %(c)s, {', '.join('p.' + c for c in sealed)},
                   decode(md5('n:' || %(c)s || ':' || g), 'hex'), decode(md5('e:' || %(c)s || ':' || g), 'hex'),
                   decode(md5('p:' || %(c)s || ':' || g), 'hex'), (%(pr)s::int[])[g %% {PRACTITIONERS} + 1],
                   p.identity_status, false, now(), now()
            FROM generate_series({POOL}, {PATIENTS - 1}) g
            JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS rn, * FROM core_patient WHERE clinic_id = %(c)s) p
              ON p.rn = g %% {POOL}""", {"c": clinic.id, "pr": practitioners})
        copy_subject_keys(conn, [clinic.id])
        step(f"measured clinic: {PATIENTS - POOL} more patients and their key rows")
        conn.exec_driver_sql("CREATE TEMP TABLE bench_prac AS SELECT %(c)s AS clinic_id, u AS uid, "
                             "(array_position(%(pr)s::int[], u) - 1) AS idx, %(place)s AS place_id, "
                             "(%(rooms)s::int[])[array_position(%(pr)s::int[], u)] AS room_id, %(t1)s AS type1, "
                             "%(t2)s AS type2, %(t3)s AS type3, 96 AS keep, u = %(p0)s AS measured "
                             "FROM unnest(%(pr)s::int[]) u",
                             {"c": clinic.id, "pr": practitioners, "place": place.id, "rooms": rooms,
                              "t1": types[0], "t2": types[1], "t3": types[2], "p0": practitioners[0]})
        with indexes_after(conn, "scheduling_appointment"):
            load_appointments(conn, [clinic.id])
        step("measured clinic: appointments")
    db.dispose()
    with connect(url, autocommit=True) as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    return {"clinic_id": clinic.id, "practitioners": practitioners, "types": types,
            "secretary": {"email": secretary.email, "password": secretary.password, "totp": secretary.totp_secret,
                          "id": secretary.id}}


def sealed_columns(bind: Any) -> list[str]:
    """The patient table's sealed columns (bytea, blind indexes aside)."""
    return [c["name"] for c in sa.inspect(bind).get_columns("core_patient")
            if str(c["type"]).upper() == "BYTEA" and not c["name"].endswith("_bidx")]


def copy_subject_keys(conn: Any, clinic_ids: list[int], new_clinics: bool = False) -> None:
    """A key row for every patient without one (a copy of one of the pool's wrapped keys);
    `new_clinics`: none of their patients has one yet."""
    conn.exec_driver_sql(("""
        INSERT INTO core_subject_key (clinic_id, subject, data_key_version, wrapped, created_at)
        SELECT p.clinic_id, 'patient:' || p.id, k.data_key_version, k.wrapped, now()
        FROM core_patient p
        CROSS JOIN LATERAL (SELECT data_key_version, wrapped FROM core_subject_key
                            WHERE subject = 'patient:' || (SELECT min(id) FROM core_patient) LIMIT 1) k
        WHERE p.clinic_id = ANY(%(c)s)""" + ("" if new_clinics else """
          AND NOT EXISTS (SELECT 1 FROM core_subject_key s WHERE s.clinic_id = p.clinic_id
                          AND s.subject = 'patient:' || p.id)""")), {"c": clinic_ids})


def droppable_indexes(conn: Any, table: str) -> list[tuple[str, str, bool]]:
    """(name, definition, is a constraint) of `table`'s indexes that no foreign key relies on."""
    rows = conn.exec_driver_sql("""
        SELECT i.relname, coalesce(pg_get_constraintdef(c.oid), pg_get_indexdef(x.indexrelid)), c.oid IS NOT NULL
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid AND c.contype IN ('x', 'u', 'p')
        WHERE x.indrelid = %(t)s::regclass AND NOT x.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = x.indexrelid)""",
                                 {"t": table}).all()
    return [tuple(r) for r in rows]


@contextmanager
def indexes_after(conn: Any, table: str, keep_out: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """Drop `table`'s secondary indexes and exclusion constraints (those no foreign key relies
    on), let the caller load rows, then build them again from their own catalog definitions:
    one sort per index instead of maintaining each row by row. Those whose definition starts
    with one of `keep_out` stay out; their names are yielded."""
    dropped = droppable_indexes(conn, table)
    left_out: list[str] = []
    for name, definition, constraint in dropped:
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"' if constraint else f'DROP INDEX "{name}"')
        if definition.startswith(keep_out or ("\0",)):
            left_out.append(name)
    yield left_out
    for name, definition, constraint in dropped:
        if name not in left_out:
            conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
                                 if constraint else definition)


def seed_many(url: str, info: dict[str, Any], others: int, exclusion: bool) -> list[str]:
    """`others` clinics of OTHER_PATIENTS patients each, beside the measured one, all in SQL.
    Returns the exclusion constraints left out (unless `exclusion`)."""
    measured = info["clinic_id"]
    sealed_from_pool = ("SELECT row_number() OVER (ORDER BY id) - 1 AS rn, * FROM core_patient "
                        f"WHERE clinic_id = {measured} ORDER BY id LIMIT {POOL}")
    with connect(url) as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # no FK triggers: rows built valid
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        conn.exec_driver_sql("""INSERT INTO core_clinic (slug, name, timezone, created_at)
            SELECT 'bench-many-' || lpad(g::text, 4, '0'), 'Cabinet ' || g, 'Europe/Paris', now()
            FROM generate_series(1, %(n)s) g""", {"n": others})
        conn.exec_driver_sql("CREATE TEMP TABLE bench_fill AS SELECT id AS clinic_id FROM core_clinic "
                             "WHERE slug LIKE 'bench-many-%%' AND id <> %(m)s", {"m": measured})
        conn.exec_driver_sql("""INSERT INTO core_clinic_plugin (clinic_id, plugin, enabled, changed_at)
            SELECT f.clinic_id, p.plugin, p.enabled, now() FROM bench_fill f, core_clinic_plugin p
            WHERE p.clinic_id = %(m)s""", {"m": measured})
        conn.exec_driver_sql("""INSERT INTO core_data_key (clinic_id, purpose, version, wrapped, master_key_id, state,
                created_at)
            SELECT f.clinic_id, k.purpose, k.version, k.wrapped, k.master_key_id, k.state, now()
            FROM bench_fill f, core_data_key k WHERE k.clinic_id = %(m)s""", {"m": measured})
        conn.exec_driver_sql("""INSERT INTO core_user (email, display_name, disabled, created_at, updated_at)
            SELECT 'p' || j || '.c' || f.clinic_id || '@many.bench', 'Praticien ' || j, false, now(), now()
            FROM bench_fill f, generate_series(0, %(n)s - 1) j""", {"n": OTHER_PRACTITIONERS})
        conn.exec_driver_sql("""INSERT INTO scheduling_place (clinic_id, name, kind, address, active)
            SELECT f.clinic_id, p.name, p.kind, p.address, p.active FROM bench_fill f, scheduling_place p
            WHERE p.clinic_id = %(m)s""", {"m": measured})
        conn.exec_driver_sql("""INSERT INTO scheduling_appointment_type (clinic_id, name, duration_minutes, modality,
                colour, bookable_online, reminders, new_patients_allowed, billable, active, profession)
            SELECT f.clinic_id, t.name, t.duration_minutes, t.modality, t.colour, t.bookable_online, t.reminders,
                   t.new_patients_allowed, t.billable, t.active, t.profession
            FROM bench_fill f, scheduling_appointment_type t WHERE t.clinic_id = %(m)s ORDER BY f.clinic_id, t.id""",
                             {"m": measured})
        conn.exec_driver_sql("""CREATE TEMP TABLE bench_prac AS
            SELECT f.clinic_id, u.id AS uid, j AS idx, pl.id AS place_id, NULL::int AS room_id,
                   t.ids[1] AS type1, t.ids[2] AS type2, t.ids[3] AS type3, 32 AS keep, false AS measured
            FROM bench_fill f CROSS JOIN generate_series(0, %(n)s - 1) j
            JOIN core_user u ON u.email = 'p' || j || '.c' || f.clinic_id || '@many.bench'
            JOIN scheduling_place pl ON pl.clinic_id = f.clinic_id
            JOIN (SELECT clinic_id, array_agg(id ORDER BY id) AS ids FROM scheduling_appointment_type
                  GROUP BY clinic_id) t ON t.clinic_id = f.clinic_id""", {"n": OTHER_PRACTITIONERS})
        conn.exec_driver_sql("""INSERT INTO core_membership (clinic_id, user_id, roles, active, created_at)
            SELECT pr.clinic_id, pr.uid, m.roles, true, now() FROM bench_prac pr,
                   (SELECT roles FROM core_membership WHERE clinic_id = %(m)s AND user_id = %(p)s) m""",
                             {"m": measured, "p": info["practitioners"][0]})
        conn.exec_driver_sql("""INSERT INTO scheduling_room (clinic_id, place_id, name, active)
            SELECT clinic_id, place_id, 'Salle ' || (idx + 1), true FROM bench_prac ORDER BY clinic_id, idx""")
        conn.exec_driver_sql("""UPDATE bench_prac pr SET room_id = r.id FROM scheduling_room r
            WHERE r.clinic_id = pr.clinic_id AND r.name = 'Salle ' || (pr.idx + 1)""")
        conn.exec_driver_sql("""INSERT INTO scheduling_working_hours (clinic_id, practitioner_id, place_id, room_id,
                weekday, start_time, end_time)
            SELECT pr.clinic_id, pr.uid, pr.place_id, pr.room_id, h.weekday, h.start_time, h.end_time
            FROM bench_prac pr, scheduling_working_hours h WHERE h.practitioner_id = %(p)s""",
                             {"p": info["practitioners"][0]})
        conn.exec_driver_sql("""INSERT INTO scheduling_reminder_rule (clinic_id, channel, minutes_before, active,
                created_at)
            SELECT f.clinic_id, r.channel, r.minutes_before, r.active, now()
            FROM bench_fill f, scheduling_reminder_rule r WHERE r.clinic_id = %(m)s""", {"m": measured})
        sealed = sealed_columns(conn)
        fill = [r[0] for r in conn.exec_driver_sql("SELECT clinic_id FROM bench_fill")]
        with indexes_after(conn, "core_patient"), indexes_after(conn, "core_subject_key"):
            conn.exec_driver_sql(f"""
                INSERT INTO core_patient (clinic_id, {', '.join(sealed)}, last_name_bidx, email_bidx, phone_bidx,
                                          practitioner_id, identity_status, archived, created_at, updated_at)
                SELECT f.clinic_id, {', '.join('p.' + c for c in sealed)},
                       decode(md5('n:' || f.clinic_id || ':' || g), 'hex'),
                       decode(md5('e:' || f.clinic_id || ':' || g), 'hex'),
                       decode(md5('p:' || f.clinic_id || ':' || g), 'hex'), pr.uid, p.identity_status, false,
                       now(), now()
                FROM bench_fill f CROSS JOIN generate_series(0, {OTHER_PATIENTS - 1}) g
                JOIN ({sealed_from_pool}) p ON p.rn = g %% {POOL}
                JOIN bench_prac pr ON pr.clinic_id = f.clinic_id AND pr.idx = g %% {OTHER_PRACTITIONERS}""")
            copy_subject_keys(conn, fill, new_clinics=True)
        step(f"{others} other clinics: set-up, patients and key rows")
        with indexes_after(conn, "scheduling_appointment", () if exclusion else ("EXCLUDE",)) as left_out:
            load_appointments(conn, fill)
            step(f"{others} other clinics: appointments")
        step("appointment indexes built again" + (f" but {', '.join(left_out)}" if left_out else ""))
    with connect(url, autocommit=True) as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    step("VACUUM ANALYZE")
    return left_out


def counts(url: str) -> dict[str, int]:
    with connect(url) as conn:
        return {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
               for t in ("core_clinic", "core_patient", "scheduling_appointment")}


# --- the measured paths ---------------------------------------------------------------------------


class Plans:
    """EXPLAIN of every statement a path sends, on its own connection and transaction (the
    application role, the clinic bound): what the planner does with the policies in place."""

    HEADS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")

    def __init__(self) -> None:
        self.path: str | None = None
        self.seen: dict[str, dict[str, tuple[int, str]]] = {}

    def attach(self, engine: sa.Engine) -> None:
        event.listen(engine, "after_cursor_execute", self._after)

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if self.path is None or executemany:
            return
        if statement.lstrip().split(None, 1)[0].upper() not in self.HEADS:
            return
        plans = self.seen.setdefault(self.path, {})
        if statement in plans:
            plans[statement] = (plans[statement][0] + 1, plans[statement][1])
            return
        with cursor.connection.cursor() as cur:
            cur.execute("EXPLAIN " + statement, parameters)
            plans[statement] = (1, "\n".join(r[0] for r in cur.fetchall()))


def clinic_tables(url: str, clinic_id: int) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
    """Clinic-owned tables (those with a clinic_id): their rows in all (the planner's estimate)
    and the measured clinic's own rows; and the table of each index."""
    with connect(url) as conn:
        owned = {r[0]: int(r[1]) for r in conn.exec_driver_sql(
            "SELECT c.table_name, greatest(p.reltuples, 0) FROM information_schema.columns c "
            "JOIN pg_class p ON p.relname = c.table_name AND p.relkind = 'r' "
            "WHERE c.column_name = 'clinic_id' AND c.table_schema = 'public'")}
        own = {t: conn.exec_driver_sql(f'SELECT count(*) FROM "{t}" WHERE clinic_id = %(c)s', {"c": clinic_id}).scalar()
               for t in owned}
        tables = dict(conn.exec_driver_sql("SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'public'").all())
    return owned, own, tables


class Paths:
    """The four paths of the measured clinic on one database, as the application role."""

    def __init__(self, url: str, home: Path, info: dict[str, Any], plans: Plans | None = None) -> None:
        from litestar.testing import TestClient

        from carnet_core.encryption import install_keyring
        from carnet_core.plugins import build_plugin_host
        from carnet_core.web.app import create_app
        from carnet_core.web.principal import Principal

        self.info = info
        settings = settings_for(home, url)
        self.db = open_db(settings)
        install_keyring(self.db, settings)
        app_db = open_db(settings)
        if plans is not None:
            plans.attach(self.db.engine)
            plans.attach(app_db.engine)
        self.client = TestClient(app=create_app(settings, host=build_plugin_host(settings), db=app_db),
                                 base_url="http://127.0.0.1:8000")
        self.client.__enter__()
        login(self.client, info)
        p0 = info["practitioners"][0]
        self.week_url = f"/scheduling/?view=week&date={MEASURED_WEEK.isoformat()}&practitioner={p0}"
        self.principal = Principal(kind="user", user_id=info["secretary"]["id"], clinic_id=info["clinic_id"],
                                   roles=frozenset({"secretary"}),
                                   permissions=frozenset({"core.patients.view", "core.patients.view_all"}))
        self.searched = sample(123)["last_name"]
        self.start = datetime.combine(MEASURED_WEEK, datetime.min.time(), tzinfo=UTC)
        self.now = datetime.now(UTC)

    def week(self) -> None:
        page = self.client.get(self.week_url)
        assert page.status_code == 200 and page.text.count('class="appt ') == 40, page.status_code

    def availability(self) -> None:
        from carnet_scheduling.services import availability

        with self.db.session(clinic_id=self.info["clinic_id"]) as s:
            slots = availability.find_slots(s, self.info["practitioners"][0], self.info["types"][0], self.start,
                                            self.start + timedelta(weeks=4), now=self.now,
                                            horizon=timedelta(days=180))
        assert slots, "no free slot found"

    def search(self) -> None:
        from carnet_core.patients.services import search_patients

        with self.db.session(clinic_id=self.info["clinic_id"]) as s:
            s.info["principal"] = self.principal
            found = search_patients(s, self.principal, self.searched)
        assert [v.fields["last_name"] for v in found] == [self.searched], found

    def reminders(self) -> None:
        from carnet_scheduling.services import reminders

        with self.db.session(clinic_id=self.info["clinic_id"]) as s:
            s.info["principal"] = "system:bench"
            count, _last = reminders.replan(s, now=self.now, limit=REPLAN)
            s.rollback()  # the same work every time
        assert count == REPLAN, count

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.db.dispose()


PATHS = ("week", "availability", "search", "reminders")
LABELS = {"week": "week view, full page (40 appointments)", "availability": "availability, 4 weeks",
          "search": "patient search by last name", "reminders": f"reminder planning ({REPLAN} appointments)"}


SMALL = 1_000  # rows: a table this small is read whole when that is cheaper, whatever its indexes

RLS_FILTER = re.compile(r"\(clinic_id = \$\d+\) OR \(\$\d+ = 'on'::text\)")


SCAN = re.compile(r"(Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)?(?: using)? (?:on )?(\w+)"
                  r"(?: on (\w+))?.*?rows=(\d+)")


def verdict(plan: str, owned: dict[str, int], own: dict[str, int], tables: dict[str, str]) -> list[tuple[str, bool]]:
    """(remark, is a problem) for each sequential scan, a problem on a clinic-owned table that is
    not small; and a problem for an index scan expecting more rows than the clinic owns in that
    table (it reads other clinics' rows: its cost grows with them)."""
    remarks = []
    for _kind, index, _table, rows in SCAN.findall(plan):
        table = tables.get(index)
        if table in owned and int(rows) > max(2 * own[table], SMALL):
            remarks.append((f"INDEX {index} expected to read {int(rows):,} rows of {table}, the clinic has "
                            f"{own[table]:,}: other clinics' rows", True))
    for table in re.findall(r"Seq Scan on (\w+)", plan):
        if table not in owned:
            remarks.append((f"seq scan on {table} (not clinic-owned)", False))
        elif owned[table] < SMALL:
            remarks.append((f"seq scan on {table} (clinic-owned, {owned[table]:,} rows in all: small)", False))
        else:
            remarks.append((f"SEQ SCAN on {table} (clinic-owned, {owned[table]:,} rows)", True))
    return remarks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 1,000 clinics; 0.01 = 10 (development)")
    parser.add_argument("--requests", type=int, default=40, help="per path and database")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--prefix", default="carnet_bench_many")
    parser.add_argument("--role", default="carnet_bench_app", help="the application role (no BYPASSRLS)")
    parser.add_argument("--home", default="/tmp/carnet-bench-many")
    parser.add_argument("--exclusion", action="store_true",
                        help="rebuild the appointment table's two GiST exclusion constraints on `many` too (they "
                             "guard bookings, no measured path reads them; at scale 1 they take most of an hour "
                             "on a loaded 2-core machine)")
    parser.add_argument("--plans", choices=("all", "problems"), default="all",
                        help="print every plan, or only those with a sequential scan")
    args = parser.parse_args()
    home = Path(args.home)
    others = max(1, round(1000 * args.scale) - 1)
    began = time.perf_counter()
    one = recreate(args.server, f"{args.prefix}_one")
    info = seed_one(one, home)
    seeded_one = time.perf_counter() - began
    many = recreate(args.server, f"{args.prefix}_many", template=f"{args.prefix}_one")
    left_out = seed_many(many, info, others, args.exclusion)
    seeded = time.perf_counter() - began
    sizes = {name: counts(url) for name, url in (("one", one), ("many", many))}
    print(f"seeded in {seeded:.0f}s (one: {seeded_one:.0f}s, the {others} other clinics: {seeded - seeded_one:.0f}s)")
    for name, c in sizes.items():
        print(f"  {name:4s}: {c['core_clinic']:>5,} clinics  {c['core_patient']:>9,} patients  "
              f"{c['scheduling_appointment']:>10,} appointments")
    if left_out:
        print(f"  many: without {', '.join(left_out)} (--exclusion to build them; no measured path reads them)")
    for url in (one, many):
        ensure_role(url, args.role)
    DATABASE["role"] = args.role
    plans = Plans()
    paths = {"one": Paths(one, home, info), "many": Paths(many, home, info, plans)}
    try:
        print(f"\none clinic's paths (as role {args.role}, row-level security on), {args.requests} runs each "
              f"({max(4, args.requests // 4)} of reminder planning), interleaved rounds:")
        print(f"  {'path':42s} {'one (ms)':>9s} {'many (ms)':>10s} {'ratio':>6s}  median of rounds [range]")
        worst = 0.0
        for path in PATHS:
            runs = args.requests if path != "reminders" else max(4, args.requests // 4)  # 50 plans a run
            rates = interleaved({db: getattr(paths[db], path) for db in ("one", "many")}, runs, rounds=min(10, runs))
            ratio = rates["one"] / rates["many"]
            worst = max(worst, ratio)
            print(f"  {LABELS[path]:42s} {1000 / rates['one']:9.1f} {1000 / rates['many']:10.1f} {ratio:6.2f}  "
                  f"{round_ratios('one', 'many')}")
        print(f"  worst ratio {worst:.2f} (goal ≤ 1.5): {'holds' if worst <= 1.5 else 'MISSED'}")
        for path in PATHS:  # once more on `many`, every statement EXPLAINed
            plans.path = path
            getattr(paths["many"], path)()
        plans.path = None
    finally:
        for p in paths.values():
            p.close()
    owned, own, tables = clinic_tables(many, info["clinic_id"])
    bad = 0
    print("\nquery plans on `many` (EXPLAIN in the path's own transaction, as the application role):")
    for path in PATHS:
        statements = plans.seen.get(path, {})
        print(f"\n== {LABELS[path]}: {len(statements)} distinct statements, "
              f"{sum(c for c, _ in statements.values())} sent")
        for statement, (count, plan) in statements.items():
            remarks = verdict(plan, owned, own, tables)
            bad += sum(problem for _, problem in remarks)
            if args.plans == "problems" and not any(problem for _, problem in remarks):
                continue
            print(f"-- ×{count}: {' '.join(statement.split())[:400]}")
            print("   " + plan.replace("\n", "\n   "))
            for remark, problem in remarks:
                print(f"   {'!!' if problem else 'ok'} {remark}")
    policies = sum(bool(RLS_FILTER.search(plan)) for s in plans.seen.values() for _, plan in s.values())
    total = sum(len(s) for s in plans.seen.values())
    print(f"\nplans: {total} distinct statements, {policies} with the row-level-security policy in the plan, "
          f"{bad} problems (a sequential scan of a clinic-owned table of {SMALL:,} rows or more, or an index "
          f"read beyond the clinic's rows){' — none: every clinic table read through the clinic' + chr(39) + 's rows' if not bad else ''}")
    print(f"total {time.perf_counter() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
