"""Clinic scoping is applied centrally to every query on clinic-owned tables."""

import types

import pytest
import sqlalchemy as sa
from litestar import Request, get
from litestar.di import NamedDependency
from sqlmodel import select

from carnet_core import hookimpl
from carnet_core.clinics.models import ClinicPlugin
from carnet_core.contrib import PUBLIC, Permission
from carnet_core.db.session import CarnetSession, ScopeError


def test_scoped_session_sees_only_its_clinic_rows(carnet_db, make_clinic):
    # given two clinics with one module each
    a = make_clinic("alpha", plugins=[])
    b = make_clinic("beta", plugins=[])
    with carnet_db.session(unscoped=True) as db:
        db.add(ClinicPlugin(clinic_id=a.id, plugin="x"))
        db.add(ClinicPlugin(clinic_id=b.id, plugin="y"))
    # when clinic A queries without any filter
    with carnet_db.session(clinic_id=a.id) as db:
        rows = db.exec(select(ClinicPlugin)).all()
    # then only A's row comes back
    assert [r.plugin for r in rows] == ["x"]


def test_unbound_session_cannot_query_clinic_rows(carnet_db):
    with pytest.raises(ScopeError), carnet_db.session() as db:
        db.exec(select(ClinicPlugin)).all()


def test_writing_another_clinics_row_is_refused(carnet_db, make_clinic):
    a = make_clinic("alpha", plugins=[])
    b = make_clinic("beta", plugins=[])
    with pytest.raises(ScopeError), carnet_db.session(clinic_id=a.id) as db:
        db.add(ClinicPlugin(clinic_id=b.id, plugin="x"))
    with carnet_db.session(unscoped=True) as db:
        assert db.exec(select(ClinicPlugin)).all() == []


def test_new_rows_are_stamped_with_the_session_clinic(carnet_db, make_clinic):
    a = make_clinic("alpha", plugins=[])
    with carnet_db.session(clinic_id=a.id) as db:
        row = ClinicPlugin(plugin="x")
        db.add(row)
        db.flush()
        assert row.clinic_id == a.id


def test_bulk_update_is_scoped(carnet_db, make_clinic):
    import sqlalchemy as sa

    a = make_clinic("alpha", plugins=["p"])
    b = make_clinic("beta", plugins=["p"])
    with carnet_db.session(clinic_id=a.id) as db:
        db.exec(sa.update(ClinicPlugin).values(enabled=False))
    with carnet_db.session(unscoped=True) as db:
        states = {r.clinic_id: r.enabled for r in db.exec(select(ClinicPlugin))}
    assert states == {a.id: False, b.id: True}


def test_savepoints_roll_back_on_sqlite_too(carnet_db, make_clinic):
    # a nested transaction that fails leaves the outer one intact and its own write undone
    a = make_clinic("alpha", plugins=[])
    with carnet_db.session(clinic_id=a.id) as db:
        db.add(ClinicPlugin(plugin="kept"))
        db.flush()
        nested = db.begin_nested()
        db.add(ClinicPlugin(plugin="undone"))
        db.flush()
        nested.rollback()
    with carnet_db.session(clinic_id=a.id) as db:
        assert sorted(r.plugin for r in db.exec(select(ClinicPlugin))) == ["kept"]


def test_joins_and_subqueries_on_clinic_rows_are_scoped_too(carnet_db, make_clinic):
    from carnet_core.clinics.models import Clinic

    a = make_clinic("alpha", plugins=["x"])
    make_clinic("beta", plugins=["y"])
    with carnet_db.session(clinic_id=a.id) as db:
        joined = db.exec(select(Clinic.slug, ClinicPlugin.plugin).join(ClinicPlugin, ClinicPlugin.clinic_id == Clinic.id)).all()
        sub = db.exec(select(Clinic.slug).where(Clinic.id.in_(select(ClinicPlugin.clinic_id)))).all()
        aliased = sa.orm.aliased(ClinicPlugin)
        via_alias = db.exec(select(aliased.plugin)).all()
    assert joined == [("alpha", "x")]
    assert sub == ["alpha"]
    assert via_alias == ["x"]


def _scoped_statements(db: CarnetSession) -> list:
    """The statements `db` runs, as scoping left them (a listener registered after it's)."""
    seen: list = []

    def spy(state) -> None:
        if state.session is db:
            seen.append(state.statement)

    sa.event.listen(CarnetSession, "do_orm_execute", spy)
    db.info["_spy"] = spy
    return seen


def _loader_criteria(statement) -> list:
    return [o for o in getattr(statement, "_with_options", ()) if isinstance(o, sa.orm.util.LoaderCriteriaOption)]


def test_a_statement_on_one_table_gets_a_plain_where_not_loader_criteria(carnet_db, make_clinic):
    # select(Model) lists its table twice to find_tables: it must still take the plain WHERE
    a = make_clinic("alpha", plugins=["x"])
    make_clinic("beta", plugins=["y"])
    with carnet_db.session(clinic_id=a.id) as db:
        seen = _scoped_statements(db)
        try:
            rows = db.exec(select(ClinicPlugin).where(ClinicPlugin.enabled == True)  # noqa: E712
                           .order_by(ClinicPlugin.plugin)).all()
            names = db.exec(select(ClinicPlugin.plugin)).all()
            db.exec(sa.update(ClinicPlugin).values(enabled=True))
        finally:
            sa.event.remove(CarnetSession, "do_orm_execute", db.info["_spy"])
    assert [r.plugin for r in rows] == ["x"] and names == ["x"]
    assert len(seen) >= 3  # (the UPDATE may read the rows it matches first: scoped alike)
    for statement in seen:
        assert _loader_criteria(statement) == []
        assert "clinic_id = :clinic_id_1" in str(statement.whereclause)


def test_a_table_met_again_in_a_subquery_or_alias_is_scoped_there_too(carnet_db, make_clinic):
    # the same table twice (outer query and subquery, or an alias of it) is not "one table": the
    # plain WHERE would scope the outer query only, so every occurrence gets the loader criteria
    a = make_clinic("alpha", plugins=["x"])
    make_clinic("beta", plugins=["y"])
    inner = sa.orm.aliased(ClinicPlugin)
    with carnet_db.session(clinic_id=a.id) as db:
        seen = _scoped_statements(db)
        try:
            # without scoping, "y" is not among clinic A's plugins but is in the subquery
            not_in = db.exec(select(ClinicPlugin.plugin).where(
                ClinicPlugin.plugin.not_in(select(inner.plugin).where(inner.plugin != ClinicPlugin.plugin)))).all()
            in_sub = db.exec(select(ClinicPlugin.plugin).where(
                ClinicPlugin.plugin.in_(select(ClinicPlugin.plugin).where(ClinicPlugin.plugin == "y")))).all()
            exists = db.exec(select(sa.func.count()).select_from(ClinicPlugin).where(
                sa.exists(select(inner.id).where(inner.plugin == "y")))).all()
        finally:
            sa.event.remove(CarnetSession, "do_orm_execute", db.info["_spy"])
    assert not_in == ["x"] and in_sub == [] and exists == [0]
    assert all(_loader_criteria(statement) for statement in seen)


def test_a_statement_built_once_is_scoped_to_each_session_that_runs_it(carnet_db, make_clinic):
    # given a statement built once with a bound parameter, joined (loader criteria) and not (WHERE)
    a, b = make_clinic("alpha", plugins=[]), make_clinic("beta", plugins=[])
    with carnet_db.session(unscoped=True) as db:
        for clinic, names in ((a, ("x", "shared")), (b, ("y", "shared"))):
            db.add_all([ClinicPlugin(clinic_id=clinic.id, plugin=name) for name in names])
    other = sa.orm.aliased(ClinicPlugin)
    joined = (select(ClinicPlugin.plugin, other.plugin).join(other, other.plugin == ClinicPlugin.plugin)
              .where(ClinicPlugin.plugin == sa.bindparam("name")))
    alone = select(ClinicPlugin.plugin).where(ClinicPlugin.plugin != sa.bindparam("name"))
    # when clinics A, B, then A again run them
    seen = []
    for clinic in (a, b, a):
        with carnet_db.session(clinic_id=clinic.id) as db:
            seen.append((clinic.id, db.exec(joined, params={"name": "shared"}).all(),
                         db.exec(alone, params={"name": "shared"}).all()))
    # then each run saw its own clinic's rows only, and an unbound session is still refused
    assert [(cid, list(j), list(o)) for cid, j, o in seen] == [
        (a.id, [("shared", "shared")], ["x"]), (b.id, [("shared", "shared")], ["y"]),
        (a.id, [("shared", "shared")], ["x"])]
    with pytest.raises(ScopeError), carnet_db.session() as db:
        db.exec(alone, params={"name": "shared"}).all()


def test_an_unbound_session_may_not_join_clinic_rows_either(carnet_db):
    from carnet_core.clinics.models import Clinic

    with pytest.raises(ScopeError), carnet_db.session() as db:
        db.exec(select(Clinic.slug).join(ClinicPlugin, ClinicPlugin.clinic_id == Clinic.id)).all()
    with carnet_db.session() as db:  # tables that belong to no clinic stay readable
        assert db.exec(select(Clinic)).all() == []


# --- the per-request session, through the app (issue 16, class 6) --------------------------------



def _probe_rows(db: CarnetSession) -> dict:
    """What a handler's `db` is bound to, and which clinic rows a plain query returns."""
    found = {"clinic_id": db.clinic_id, "unscoped": bool(db.info.get("unscoped"))}
    try:
        found["plugins"] = sorted(f"{r.clinic_id}:{r.plugin}" for r in db.exec(select(ClinicPlugin)))
    except ScopeError:
        found["plugins"] = "ScopeError"
    return found


@get("/probe", name="scopeprobe.public", opt={"permission": PUBLIC}, sync_to_thread=True)
def public_probe(request: Request, db: NamedDependency[CarnetSession]) -> dict:
    return _probe_rows(db)


@get("/members", name="scopeprobe.members", opt={"permission": "scopeprobe.view"}, sync_to_thread=True)
def member_probe(request: Request, db: NamedDependency[CarnetSession]) -> dict:
    return _probe_rows(db)


_probe_plugin = types.ModuleType("carnet_scopeprobe")
_probe_plugin.CARNET_CORE_REQUIRES = ">=0.1"
_probe_plugin.register_permissions = hookimpl(
    lambda: [Permission("scopeprobe.view", "Probe", roles=("owner", "practitioner", "secretary"))]
)
_probe_plugin.register_routes = hookimpl(lambda: [public_probe, member_probe])


@pytest.fixture
def probe(inline_plugins):
    inline_plugins.add("scopeprobe", _probe_plugin)


def test_a_request_without_a_clinic_gets_a_session_bound_to_none_never_unscoped(
    probe, app, client, make_clinic, staff, login_as
):
    from litestar.testing import TestClient

    a = make_clinic("alpha")
    b = make_clinic("beta")
    # anonymous: no clinic, and no way around it (a clinic-owned query fails instead of seeing all)
    anonymous = client.get("/scopeprobe/probe")
    assert anonymous.status_code == 200, anonymous.text
    assert anonymous.json() == {"clinic_id": None, "unscoped": False, "plugins": "ScopeError"}
    # a member of each clinic: bound to their clinic, seeing its rows only
    for clinic, other in ((a, b), (b, a)):
        with TestClient(app=app, base_url="http://127.0.0.1:8000") as member:
            login_as(member, staff("secretary", clinic=clinic))
            seen = member.get("/scopeprobe/members").json()
            assert seen["clinic_id"] == clinic.id and seen["unscoped"] is False
            assert seen["plugins"] and all(p.startswith(f"{clinic.id}:") for p in seen["plugins"])
            assert not [p for p in seen["plugins"] if p.startswith(f"{other.id}:")]


def test_scoping_holds_after_more_models_are_mapped(carnet_db, make_clinic):
    """A plugin's models may be mapped after the first queries: the map of clinic-owned tables is
    rebuilt, and scoping holds as before (owned tables filtered or refused, others readable)."""
    from carnet_core.clinics.models import Clinic

    a = make_clinic("alpha", plugins=["x"])
    make_clinic("beta", plugins=["y"])
    with carnet_db.session(clinic_id=a.id) as db:  # the map is built by the first scoped query
        assert [r.plugin for r in db.exec(select(ClinicPlugin))] == ["x"]
    # a model mapped now (in a registry of its own: the application's metadata stays as it is)
    late = sa.orm.registry()
    late.map_imperatively(type("LateProbe", (), {}), sa.Table("late_probe", late.metadata,
                                                              sa.Column("id", sa.Integer, primary_key=True)))
    with carnet_db.session(clinic_id=a.id) as db:
        assert [r.plugin for r in db.exec(select(ClinicPlugin))] == ["x"]
        assert db.exec(sa.select(sa.func.count()).select_from(ClinicPlugin)).one() == (1,)
    with pytest.raises(ScopeError), carnet_db.session() as db:
        db.exec(select(ClinicPlugin)).all()
    with carnet_db.session() as db:
        assert sorted(c.slug for c in db.exec(select(Clinic))) == ["alpha", "beta"]


def test_an_unbound_sessions_refusal_says_how_to_bind_it(carnet_db):
    with pytest.raises(ScopeError) as refused, carnet_db.session() as db:
        db.exec(select(ClinicPlugin)).all()
    assert str(refused.value) == (
        "query on a clinic-owned table from a session bound to no clinic; "
        "use db.session(clinic_id=...) or db.session(unscoped=True) for system work"
    )


def test_bulk_delete_is_scoped(carnet_db, make_clinic):
    a = make_clinic("alpha", plugins=["p", "q"])
    b = make_clinic("beta", plugins=["p", "q"])
    with carnet_db.session(clinic_id=a.id) as db:
        db.exec(sa.delete(ClinicPlugin).where(ClinicPlugin.plugin == "p"))
    with carnet_db.session(unscoped=True) as db:
        left = sorted((r.clinic_id, r.plugin) for r in db.exec(select(ClinicPlugin)))
    assert left == [(a.id, "q"), (b.id, "p"), (b.id, "q")]


def test_every_written_clinic_row_is_checked_new_or_changed(carnet_db, make_clinic):
    """Flushes check every clinic-owned row they write, whatever else they write alongside: a
    changed row moved to another clinic, a row written unbound, or unscoped without its clinic."""
    from carnet_core.clinics.models import Clinic

    a = make_clinic("alpha", plugins=["x"])
    b = make_clinic("beta", plugins=[])
    with pytest.raises(ScopeError, match=f"ClinicPlugin of clinic {b.id} written from clinic {a.id}"), \
            carnet_db.session(clinic_id=a.id) as db:
        row = db.exec(select(ClinicPlugin)).one()
        row.clinic_id = b.id  # moved to another clinic: an update, not a new row
        db.add(Clinic(slug="gamma", name="Gamma"))  # a row of no clinic in the same flush
    with pytest.raises(ScopeError, match="ClinicPlugin written from a session bound to no clinic"), \
            carnet_db.session() as db:
        db.add(ClinicPlugin(clinic_id=a.id, plugin="y"))
    with pytest.raises(ScopeError, match="ClinicPlugin written without a clinic_id"), \
            carnet_db.session(unscoped=True) as db:
        db.add(ClinicPlugin(plugin="y"))
    with carnet_db.session(unscoped=True) as db:  # unscoped with its clinic: written as given
        db.add(ClinicPlugin(clinic_id=b.id, plugin="z"))
    with carnet_db.session(unscoped=True) as db:
        rows = sorted((r.clinic_id, r.plugin) for r in db.exec(select(ClinicPlugin)))
        assert rows == [(a.id, "x"), (b.id, "z")]
        assert "gamma" not in {c.slug for c in db.exec(select(Clinic))}


def test_database_errors_never_carry_the_values_written(carnet_db, make_clinic):
    """Statement parameters (a patient's name, an e-mail) stay out of error messages, hence logs."""
    a = make_clinic("alpha", plugins=["secret-plugin-value"])
    with pytest.raises(sa.exc.IntegrityError) as failed, carnet_db.session(clinic_id=a.id) as db:
        db.add(ClinicPlugin(plugin="secret-plugin-value"))  # the same (clinic, plugin) twice
    assert "secret-plugin-value" not in str(failed.value)
    assert "hidden due to hide_parameters" in str(failed.value)


@pytest.mark.parametrize("url", ["postgres://carnet@db.example:5432/carnet", "postgresql://carnet@db.example:5432/carnet"])
def test_postgresql_engines_use_psycopg_a_lock_timeout_and_hide_parameters(url):
    """Without a server: the connection arguments are read where SQLAlchemy hands them to the driver."""
    from carnet_core.db.session import POOL_RECYCLE_S, make_engine

    engine = make_engine(url, lock_timeout=2.5)
    assert engine.url.drivername == "postgresql+psycopg"
    assert (engine.url.host, engine.url.database, engine.url.username) == ("db.example", "carnet", "carnet")
    # no ping on every checkout (one round trip a transaction): an idle connection is pinged when taken
    # (core/tests/test_db_pool.py), and connections are recycled after POOL_RECYCLE_S
    assert engine.hide_parameters and not engine.pool._pre_ping and engine.pool._recycle == POOL_RECYCLE_S
    assert (engine.pool.size(), engine.pool._max_overflow) == (10, 30)
    seen = {}

    class Stop(Exception):
        pass

    def capture(dialect, record, cargs, cparams):
        seen.update(cparams)
        raise Stop

    sa.event.listen(engine, "do_connect", capture)
    with pytest.raises(Stop):
        engine.connect()
    assert seen["options"] == "-c lock_timeout=2500"


def test_sqlite_engines_wait_for_locks_share_connections_across_threads_and_hide_parameters(tmp_path):
    import threading

    from carnet_core.db.session import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", lock_timeout=1.5)
    assert engine.hide_parameters
    assert (engine.pool.size(), engine.pool._max_overflow) == (10, 30)
    with engine.connect() as conn:
        pragmas = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                   for name in ("busy_timeout", "foreign_keys", "journal_mode", "synchronous")}
        assert pragmas == {"busy_timeout": 1500, "foreign_keys": 1, "journal_mode": "wal", "synchronous": 1}
        assert conn.connection.dbapi_connection.isolation_level == "IMMEDIATE"
        answers = []  # a pooled connection may serve another thread (Litestar's worker threads)
        thread = threading.Thread(target=lambda: answers.append(conn.exec_driver_sql("SELECT 1").scalar()))
        thread.start()
        thread.join()
        assert answers == [1]
    engine.dispose()


def test_every_session_carries_its_databases_keyring_audit_notifier_and_patient_guard(carnet_db, make_clinic):
    from carnet_core import audit
    from carnet_core.encryption.services import keyring_of
    from carnet_core.patients.guard import DirectPatientAccess
    from carnet_core.patients.models import Patient

    a = make_clinic("alpha", plugins=[])
    announced = []
    carnet_db.audit_notifier = lambda events, info: announced.extend(e.seq for e in events)
    with carnet_db.session(clinic_id=a.id) as db:
        assert keyring_of(db) is carnet_db.keyring
        audit.record(db, action="read", resource_type="patient", actor="system")
    assert announced == [1]  # the committed record was announced through the Database's notifier
    # a package the guard watches (this test module, standing for a plugin) may not load patients
    carnet_db.patient_guard = frozenset({__name__.partition(".")[0]})
    with pytest.raises(DirectPatientAccess), carnet_db.session(clinic_id=a.id) as db:
        db.exec(select(Patient)).all()
    carnet_db.patient_guard = frozenset()
    with carnet_db.session(clinic_id=a.id) as db:
        assert db.exec(select(Patient)).all() == []


@pytest.mark.postgres
def test_a_database_given_a_role_acts_as_that_role_on_every_connection(carnet_db):
    """CARNET_DATABASE_ROLE: the Database hands the role to its engine, whose connections `SET ROLE`
    (row-level security applies to that role, not to the superuser the URL may name). PostgreSQL only:
    SQLite has no roles (CI runs this on PostgreSQL, where a skip is a failure)."""
    from carnet_core.db.session import Database

    with carnet_db.engine.begin() as conn:
        role = f"carnet_scope_{conn.exec_driver_sql('SELECT current_database()').scalar()}"[:63]
        if not conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).scalar():
            conn.exec_driver_sql(f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS')
        conn.exec_driver_sql(f'GRANT "{role}" TO current_user')
        login = conn.exec_driver_sql("SELECT current_user").scalar()
    database = Database(carnet_db.url, role=role)
    plain = Database(carnet_db.url)
    try:
        for _ in range(2):  # a second session (pooled or not) too
            with database.session(unscoped=True) as db:
                assert (db.execute(sa.text("SELECT current_user")).scalar(),
                        db.execute(sa.text("SELECT session_user")).scalar()) == (role, login)
        with plain.session(unscoped=True) as db:
            assert db.execute(sa.text("SELECT current_user")).scalar() == login
        # a new Database has not checked row-level security yet: the suite's superuser is named, once
        from carnet_core.process import warn_rls_bypass

        assert "superuser" in (warn_rls_bypass(plain) or "")
        assert warn_rls_bypass(plain) is None
    finally:
        database.dispose()
        plain.dispose()


def test_a_database_hands_its_lock_timeout_to_every_connection(carnet_db):
    from carnet_core.db.session import Database

    database = Database(carnet_db.url, lock_timeout=1.25)
    try:
        with database.session(unscoped=True) as db:
            if database.dialect == "postgresql":
                assert db.execute(sa.text("SHOW lock_timeout")).scalar() == "1250ms"
            else:
                assert db.execute(sa.text("PRAGMA busy_timeout")).scalar() == 1250
        assert database.url == carnet_db.url
    finally:
        database.dispose()


def test_sessions_of_a_bare_database_carry_nothing_it_was_not_given(carnet_db, make_clinic):
    """A Database built without a keyring, audit notifier, patient guard or declared actors hands its
    sessions none of them (sealing then says the keyring is missing, enqueue does not check names)."""
    from carnet_core.db.session import ACTORS, PATIENT_GUARD, Database
    from carnet_core.encryption.services import KeyringMissing, keyring_of

    a = make_clinic("alpha", plugins=[])
    bare = Database(carnet_db.url)
    try:
        with bare.session(clinic_id=a.id) as db:
            assert not {"carnet.keyring", "audit_notifier", PATIENT_GUARD, ACTORS} & set(db.info)
            with pytest.raises(KeyringMissing):
                keyring_of(db)
    finally:
        bare.dispose()


@pytest.mark.parametrize("url", ["sqlite:///{tmp}/x.db", "postgresql://carnet@db.example:5432/carnet"])
def test_make_engine_hands_other_engine_arguments_to_sqlalchemy(url, tmp_path):
    """Callers pass their own engine settings (backup's restore: an AUTOCOMMIT admin engine)."""
    from carnet_core.db.session import make_engine

    engine = make_engine(url.format(tmp=tmp_path), pool_recycle=77, isolation_level="AUTOCOMMIT")
    assert engine.pool._recycle == 77
    assert engine.dialect._on_connect_isolation_level == "AUTOCOMMIT"
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_errors_keep_every_line_but_the_detail(carnet_db):
    """The DETAIL line (values) leaves a PostgreSQL error; its other lines (the hint) stay as they were."""
    with pytest.raises(sa.exc.DBAPIError) as failed, carnet_db.session(unscoped=True) as db:
        db.execute(sa.text("DO $$ BEGIN RAISE EXCEPTION 'refus' USING DETAIL = 'valeur secrète', "
                           "HINT = 'un conseil'; END $$"))
    message = str(failed.value.orig)
    assert "DETAIL" not in message and "DETAIL" not in str(failed.value).partition("[SQL:")[0]
    assert message.startswith("refus\nHINT:  un conseil")


def test_drop_values_removes_only_the_detail_lines_and_keeps_the_other_arguments():
    """`drop_values` (also used on errors of statements run on the driver's connection) rewrites the
    message in place: every DETAIL line out, indented or not, every other line and argument kept."""
    from carnet_core.db.session import drop_values

    error = RuntimeError("refus\nDETAIL:  Key (email)=(x@y.fr) already exists.\nHINT:  un conseil\n"
                         "   DETAIL: indented\nCONTEXT: the DETAIL: word inside a line stays", 23505)
    drop_values(error)
    assert error.args == ("refus\nHINT:  un conseil\nCONTEXT: the DETAIL: word inside a line stays", 23505)
    untouched = RuntimeError("refus\nHINT:  pas de valeurs\n")
    drop_values(untouched)
    assert untouched.args == ("refus\nHINT:  pas de valeurs\n",)


@pytest.mark.parametrize("error", [None, RuntimeError(), RuntimeError(42, "DETAIL: not the message"),
                                   RuntimeError(b"DETAIL: bytes")])
def test_drop_values_leaves_errors_without_a_text_message_as_they_are(error):
    """An error with no arguments, or whose first argument is not text, is left untouched (and None
    is accepted: a handler may have no driver error to clean)."""
    from carnet_core.db.session import drop_values

    before = None if error is None else error.args
    drop_values(error)
    assert (None if error is None else error.args) == before

