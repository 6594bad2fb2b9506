"""Clinic scoping is applied centrally to every query on clinic-owned tables."""

import pytest
import sqlalchemy as sa
from sqlmodel import select

from carnet_core.clinics.models import ClinicPlugin
from carnet_core.db.session import ScopeError


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
