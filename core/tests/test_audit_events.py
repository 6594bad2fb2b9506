"""The audit_event hook: observers hear committed records of clinics that enabled them."""

import types

import pytest
from sqlmodel import select

from carnet_core import audit, hookimpl
from carnet_core.audit.models import AuditRecord

observer = types.ModuleType("carnet_observer")
observer.CARNET_CORE_REQUIRES = ">=0.1"
observer.seen = []


@hookimpl
def _audit_event(event):
    observer.seen.append(event)


observer.audit_event = _audit_event


def _broken(event):
    raise RuntimeError("observer bug")


broken = types.ModuleType("carnet_broken_observer")
broken.CARNET_CORE_REQUIRES = ">=0.1"
broken.audit_event = hookimpl(_broken)


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("broken", broken)
    inline_plugins.add("observer", observer)
    observer.seen.clear()
    return inline_plugins


def test_hook_audit_event_reaches_enabled_plugins_after_commit(inline_plugins, carnet_db, make_clinic):
    with_plugin = make_clinic("avec", plugins=["observer"])
    without = make_clinic("sans", plugins=[])
    # when each clinic audits an action
    with carnet_db.session(clinic_id=with_plugin.id) as db:
        audit.record(db, action="read", resource_type="patient", patient_id=5, actor="system")
        assert observer.seen == []  # not before the commit
    with carnet_db.session(clinic_id=without.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    # then only the clinic that enabled the plugin is heard, once committed
    assert [(e.clinic_id, e.seq, e.patient_id, e.action) for e in observer.seen] == [(with_plugin.id, 1, 5, "read")]
    assert isinstance(observer.seen[0], audit.AuditEvent) and observer.seen[0].hash


def test_rolled_back_records_are_never_announced(inline_plugins, carnet_db, make_clinic):
    clinic = make_clinic("avec", plugins=["observer"])
    try:
        with carnet_db.session(clinic_id=clinic.id) as db:
            audit.record(db, action="update", resource_type="patient", actor="system")
            raise ValueError("the action failed")
    except ValueError:
        pass
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    assert [(e.seq, e.action) for e in observer.seen] == [(1, "read")]


def test_a_failing_observer_does_not_undo_the_action(inline_plugins, carnet_db, make_clinic):
    # `broken` is registered by the fixture, before the host is built
    clinic = make_clinic("avec", plugins=["broken", "observer"])
    with carnet_db.session(clinic_id=clinic.id) as db:
        audit.record(db, action="read", resource_type="patient", actor="system")
    assert len(observer.seen) == 1
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert len(db.exec(select(AuditRecord)).all()) == 1


def test_the_notifier_reads_a_clinics_modules_only_when_a_plugin_observes(
    inline_plugins, carnet_settings, plugin_host, carnet_db, make_clinic
):
    import sqlalchemy as sa

    from carnet_core.audit.events import ENABLED_KEY, AuditNotifier
    from carnet_core.plugins import build_plugin_host

    clinic = make_clinic("avec", plugins=["observer"])
    quiet = build_plugin_host(carnet_settings)  # the installed plugins: none observes audit records
    for host, reads, enabled in ((quiet, 0, frozenset()), (plugin_host, 1, frozenset({"observer"}))):
        statements = []

        def seen(conn, cursor, statement, *args, _into=statements):
            _into.append(statement)

        with carnet_db.session(clinic_id=clinic.id) as db:
            event = audit.record(db, action="read", resource_type="patient", actor="system")
            sa.event.listen(carnet_db.engine, "before_cursor_execute", seen)
            try:
                AuditNotifier(carnet_db, host).prepare(db, [event])
            finally:
                sa.event.remove(carnet_db.engine, "before_cursor_execute", seen)
            assert db.info[ENABLED_KEY] == {clinic.id: enabled}
        # a job's or a command's transaction asks which modules the clinic enabled only when the
        # answer could matter
        assert sum("core_clinic_plugin" in s for s in statements) == reads


def test_records_written_at_commit_reach_observers_with_their_ids(inline_plugins, carnet_db, make_clinic):
    # Core's batch at commit (records of record_at_commit, the trace) builds its events only when
    # some plugin observes: here one does, and hears each record as stored.
    from carnet_core.patients import access
    from carnet_core.patients.services import names_of

    clinic = make_clinic("avec", plugins=["observer"])
    with carnet_db.session(clinic_id=clinic.id) as db:
        pid = access(db, "system:test").register({"last_name": "Lefèvre", "first_name": "Élodie"})
    observer.seen.clear()
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:test"
        names_of(db, [pid])
        audit.record_at_commit(db, action="list", resource_type="appointment")
    with carnet_db.session(clinic_id=clinic.id) as db:
        stored = {r.seq: r for r in db.exec(select(AuditRecord))}
    assert [(e.action, e.resource_type, e.patient_id) for e in observer.seen] == [
        ("list", "appointment", None), ("read", "core_patient", pid)]
    for event in observer.seen:
        row = stored[event.seq]
        assert (event.id, event.hash, event.details) == (row.id, row.hash, __import__("json").loads(row.details))
