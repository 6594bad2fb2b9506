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
