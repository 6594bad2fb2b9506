"""Booking, moving, cancelling, attendance and notes against the migrated database."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from conftest import make_world

from carnet_scheduling.models import Appointment
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services.calendar import local_to_utc
from carnet_scheduling.services.errors import SchedulingError, SlotTaken

T = local_to_utc(date(2030, 9, 3), time(17))  # a Tuesday
M30 = timedelta(minutes=30)


def book(db, world, patient=0, start=T, **kw):
    kw.setdefault("practitioner_id", world.practitioner.id)
    kw.setdefault("appointment_type_id", world.session_type_id)
    return appts.book(db, patient_id=world.patients[patient], starts_at=start, **kw)


def test_booking_stores_utc_local_day_and_type_duration(world, scoped):
    with scoped() as db:
        a = book(db, world, room_id=world.room_id)
        assert a.ends_at - a.starts_at == M30
        assert a.local_day == date(2030, 9, 3) and a.place_id == world.place_id
    with scoped() as db:
        stored = appts.get_appointment(db, a.id)
        assert stored.starts_at == T and stored.starts_at.tzinfo is not None


def test_overlap_for_the_practitioner_is_refused_with_the_holder(world, scoped):
    with scoped() as db:
        first = book(db, world)
    with scoped() as db, pytest.raises(SlotTaken) as err:
        book(db, world, patient=1, start=T + timedelta(minutes=15))
    assert err.value.reason == "practitioner_busy" and err.value.conflict.id == first.id


def test_room_cannot_be_double_booked_by_two_practitioners(world, scoped):
    with scoped() as db:
        first = book(db, world, room_id=world.room_id)
    with scoped() as db, pytest.raises(SlotTaken) as err:
        book(db, world, patient=1, practitioner_id=world.colleague.id, room_id=world.room_id)
    assert err.value.reason == "room_busy" and err.value.conflict.id == first.id
    with scoped() as db:  # another room is fine
        book(db, world, patient=1, practitioner_id=world.colleague.id, room_id=world.room2_id)


def test_touching_appointments_and_cancelled_ones_do_not_clash(world, scoped):
    with scoped() as db:
        a = book(db, world)
        book(db, world, patient=1, start=T + M30)
        appts.cancel(db, a, "Patient malade")
        book(db, world, patient=2, start=T)


def test_database_refuses_overlap_even_without_the_service_check(world, carnet_db):
    # given a booked appointment
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        book(db, world)
    # when a raw row overlapping it is inserted behind the service's back
    row = Appointment(clinic_id=world.clinic.id, practitioner_id=world.practitioner.id,
                      patient_id=world.patients[1], appointment_type_id=world.session_type_id,
                      starts_at=T + timedelta(minutes=10), ends_at=T + timedelta(minutes=40),
                      local_day=date(2030, 9, 3), billable=False)
    with pytest.raises(sa.exc.IntegrityError), carnet_db.session(clinic_id=world.clinic.id) as db:
        db.add(row)
        db.flush()
    # then only the first exists
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert len(appts.in_range(db, T - timedelta(hours=1), T + timedelta(hours=1))) == 1


def test_database_refuses_an_update_that_creates_an_overlap(world, carnet_db, scoped):
    with scoped() as db:
        book(db, world)
        b = book(db, world, patient=1, start=T + timedelta(hours=1))
    with pytest.raises(sa.exc.IntegrityError), carnet_db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE scheduling_appointment SET starts_at = :s WHERE id = :id"),
                     {"s": (T + timedelta(minutes=10)) if carnet_db.dialect != "sqlite"
                      else (T + timedelta(minutes=10)).replace(tzinfo=None), "id": b.id})


def test_at_most_one_billable_session_per_patient_per_day(world, scoped):
    with scoped() as db:
        book(db, world)
    with scoped() as db, pytest.raises(SlotTaken) as err:
        book(db, world, practitioner_id=world.colleague.id, start=T + timedelta(hours=2))
    assert err.value.reason == "patient_already_booked_that_day"
    with scoped() as db:  # a non-billable type the same day is fine
        from carnet_scheduling.services import setup

        call = setup.create_appointment_type(db, "Point parents", 30, billable=False)
        book(db, world, practitioner_id=world.colleague.id, start=T + timedelta(hours=2), appointment_type_id=call.id)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": datetime(1900, 1, 2, 9, tzinfo=UTC)}, "starts_at"),
        ({"ends_at": T - M30}, "ends_at"),
        ({"start": datetime(2030, 9, 3, 17)}, "starts_at"),  # naive
        ({"appointment_type_id": 999}, "appointment_type_id"),
        ({"room_id": 999}, "room_id"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(world, scoped, kwargs, field):
    with scoped() as db, pytest.raises(SchedulingError) as err:
        book(db, world, **kwargs)
    assert err.value.field == field
    with scoped() as db:
        assert appts.in_range(db, datetime(1899, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)) == []


def test_patient_and_practitioner_of_another_clinic_do_not_exist_here(world, scoped, carnet_db, make_team):
    other = make_world(carnet_db, make_team, slug="ailleurs")
    with scoped() as db, pytest.raises(SchedulingError) as err:
        appts.book(db, practitioner_id=world.practitioner.id, patient_id=other.patients[0],
                   appointment_type_id=world.session_type_id, starts_at=T)
    assert err.value.field == "patient_id"
    with scoped() as db, pytest.raises(SchedulingError) as err:
        appts.book(db, practitioner_id=other.practitioner.id, patient_id=world.patients[0],
                   appointment_type_id=world.session_type_id, starts_at=T)
    assert err.value.field == "practitioner_id"
    with scoped() as db, pytest.raises(SchedulingError):  # the secretary is no practitioner
        book(db, world, practitioner_id=world.secretary.id)


def test_move_cancel_and_attendance(world, scoped):
    now = T + timedelta(hours=2)
    with scoped() as db:
        a = book(db, world)
        appts.move(db, a, T + timedelta(days=1))
        assert a.local_day == date(2030, 9, 4)
        with pytest.raises(SchedulingError, match="started"):
            appts.mark(db, a, "honoured", now=T)
        appts.mark(db, a, "honoured", now=now + timedelta(days=1))
        with pytest.raises(SchedulingError):
            appts.cancel(db, a, "trop tard")
        appts.mark(db, a, "absent", now=now + timedelta(days=1))  # correction
        b = book(db, world, patient=1, start=T + timedelta(days=7))
        with pytest.raises(SchedulingError, match="reason"):
            appts.cancel(db, b, "  ")
        appts.cancel(db, b, "Vacances")
        assert b.status == "cancelled" and appts.cancel_reason(db, b) == "Vacances"


def test_notes_are_sealed_and_read_back(world, scoped, carnet_db):
    canary = "CANARY-notes-7f3a"
    with scoped() as db:
        a = book(db, world, notes=canary)
    with carnet_db.engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT notes FROM scheduling_appointment WHERE id = :id"), {"id": a.id}).scalar()
    assert canary.encode() not in bytes(raw)
    with scoped() as db:
        assert appts.read_notes(db, appts.get_appointment(db, a.id)) == canary


def test_every_write_is_audited(world, scoped, carnet_db):
    with scoped() as db:
        a = book(db, world)
        appts.cancel(db, a, "Empêchement")
    with carnet_db.engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT action, resource_type, patient_id FROM core_audit WHERE resource_type = 'appointment' ORDER BY seq"
        )).all()
    assert [(r[0], r[2]) for r in rows] == [("create", world.patients[0]), ("cancel", world.patients[0])]


def test_hooks_are_called_for_enabled_plugins(world, scoped, plugin_host):
    seen = []

    class Listener:
        from carnet_core.plugin_api import hookimpl

        @hookimpl(optionalhook=True)
        def scheduling_appointment_booked(self, appointment, db):
            seen.append(("booked", appointment.id))

        @hookimpl(optionalhook=True)
        def scheduling_appointment_cancelled(self, appointment, reason, db):
            seen.append(("cancelled", reason))

    plugin_host.pm.register(Listener(), name="listener")
    plugin_host.plugins["listener"] = type("I", (), {"name": "listener"})()
    with scoped() as db:
        a = book(db, world, hooks=plugin_host.for_clinic({"scheduling", "listener"}))
        appts.cancel(db, a, "Grève", hooks=plugin_host.for_clinic({"scheduling", "listener"}))
        book(db, world, patient=1, start=T + timedelta(days=1), hooks=plugin_host.for_clinic({"scheduling"}))
    assert seen == [("booked", a.id), ("cancelled", "Grève")]

