"""`scheduling_honoured_sessions`: what scheduling tells other plugins (billing) about the sessions
that took place — honoured and billable ones only, in the window, of one practitioner or all, as
plain values with a stable reference; reached through the clinic's hooks, absent for a clinic
without scheduling."""

from datetime import date, time, timedelta

from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import setup
from carnet_scheduling.services.calendar import local_to_utc

MONDAY = date(2026, 3, 2)


def _at(day, hour):
    return local_to_utc(day, time(hour))


def test_hook_scheduling_honoured_sessions(world, scoped, plugin_host):
    with scoped() as db:
        free = setup.create_appointment_type(db, "Réunion", 30)
        free.billable = False
        db.add(free)
        db.flush()
        booked = []
        for n, (who, day, hour) in enumerate([
            (world.practitioner.id, MONDAY, 9),                        # honoured: in
            (world.practitioner.id, MONDAY + timedelta(days=1), 9),    # honoured: in
            (world.colleague.id, MONDAY + timedelta(days=2), 10),      # honoured, another practitioner
            (world.practitioner.id, MONDAY + timedelta(days=3), 9),    # absent: out
            (world.practitioner.id, MONDAY + timedelta(days=7), 9),    # honoured, next week: out
        ]):
            appt = appts.book(db, practitioner_id=who, patient_id=world.patients[n], starts_at=_at(day, hour),
                              appointment_type_id=world.session_type_id, room_id=world.room_id)
            appts.mark(db, appt, "absent" if n == 3 else "honoured")
            booked.append(appt.id)
        meeting = appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[0],
                             starts_at=_at(MONDAY, 14), appointment_type_id=free.id)
        appts.mark(db, meeting, "honoured")  # not billable: out
        hooks = plugin_host.for_clinic({"scheduling"})
        week = [s for found in hooks.scheduling_honoured_sessions(
            db=db, start=MONDAY, end=MONDAY + timedelta(days=7), practitioner_id=None) for s in found]
        mine = [s for found in hooks.scheduling_honoured_sessions(
            db=db, start=MONDAY, end=MONDAY + timedelta(days=7), practitioner_id=world.practitioner.id)
            for s in found]
    assert [s["ref"] for s in week] == [f"scheduling.appointment:{i}" for i in booked[:3]]
    assert [s["appointment_id"] for s in mine] == booked[:2]
    first = week[0]
    assert (first["patient_id"], first["practitioner_id"], first["day"], first["type_name"]) == (
        world.patients[0], world.practitioner.id, MONDAY, "Séance")
    assert first["place"] == "Cabinet, 1 rue des Tilleuls" and first["series_id"] is None
    assert first["ends_at"] - first["starts_at"] == timedelta(minutes=30)
    assert "notes" not in first  # administrative values only
    # a clinic that has not enabled scheduling gets no answer from it
    assert plugin_host.for_clinic(set()).scheduling_honoured_sessions(
        db=None, start=MONDAY, end=MONDAY, practitioner_id=None) == []
