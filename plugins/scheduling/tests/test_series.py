"""Acceptance 3: a 30-session weekly series over holidays is created with skipped and conflicting
dates reported; moving "this and the following" works; counters done / planned / remaining and the
end-of-prescription warning are right."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from carnet_scheduling.models import ABSENT, HONOURED
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import series as svc
from carnet_scheduling.services import setup
from carnet_scheduling.services.calendar import local_date, local_to_utc, to_local
from carnet_scheduling.services.recurrence import WeeklySlot

FIRST = date(2030, 9, 3)  # a Tuesday
LATER = datetime(2032, 1, 1, tzinfo=UTC)  # "now" when marking attendance


def tuesday(n: int) -> date:
    return FIRST + timedelta(weeks=n)


@pytest.fixture
def busy_autumn(world, scoped):
    """Toussaint school holidays, a Christmas closure, and three clashes on Tuesdays 17:00."""
    with scoped() as db:
        setup.add_school_holiday(db, date(2030, 10, 19), date(2030, 11, 3), "Toussaint")
        setup.add_exception(db, local_to_utc(date(2030, 12, 21), time(0)), local_to_utc(date(2031, 1, 5), time(0)),
                            kind="closure", label="Fermeture de Noël")
        clash = appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[1],
                           appointment_type_id=world.session_type_id, starts_at=local_to_utc(tuesday(2), time(17)))
        room = appts.book(db, practitioner_id=world.colleague.id, patient_id=world.patients[2],
                          appointment_type_id=world.session_type_id, starts_at=local_to_utc(tuesday(4), time(17)),
                          room_id=world.room_id)
        same_day = appts.book(db, practitioner_id=world.colleague.id, patient_id=world.patients[0],
                              appointment_type_id=world.session_type_id, starts_at=local_to_utc(tuesday(3), time(9)))
    return {"clash": clash.id, "room": room.id, "same_day": same_day.id}


def create(db, world, sessions=30, prescribed=30, **kw):
    prescription = svc.create_prescription(db, patient_id=world.patients[0], practitioner_id=world.practitioner.id,
                                           prescribed_on=date(2024, 8, 20), sessions_prescribed=prescribed,
                                           prescriber="Dr Roux", acts="AMO 10.1")
    kw.setdefault("skip_school_holidays", True)
    return svc.create_series(db, patient_id=world.patients[0], practitioner_id=world.practitioner.id,
                             appointment_type_id=world.session_type_id, slots=(WeeklySlot(1, time(17)),),
                             first_day=FIRST, sessions=sessions, room_id=world.room_id,
                             prescription_id=prescription.id, **kw)


def test_thirty_weekly_sessions_over_holidays_report_skipped_and_conflicting_dates(world, scoped, busy_autumn):
    with scoped() as db:
        result = create(db, world)
        booked = [(local_date(a.starts_at), to_local(a.starts_at).time()) for a in result.appointments]
    plan = result.plan
    # every one of the 30 sessions is placed, on Tuesdays at 17:00
    assert len(booked) == 30 and plan.missing == 0
    assert all(d.weekday() == 1 and t == time(17) for d, t in booked)
    # holidays and the closure are skipped and said so
    skipped = {s.day: (s.reason, s.label) for s in plan.skipped}
    assert skipped[date(2030, 10, 22)] == ("school_holiday", "Toussaint")
    assert skipped[date(2030, 10, 29)] == ("school_holiday", "Toussaint")
    assert skipped[date(2030, 12, 24)] == ("closure", "Fermeture de Noël")
    assert skipped[date(2030, 12, 31)] == ("closure", "Fermeture de Noël")
    # clashes are reported with what holds the time, never silently dropped
    conflicts = {local_date(c.start): (c.reason, c.ref) for c in plan.conflicts}
    assert conflicts[tuesday(2)] == ("practitioner_busy", busy_autumn["clash"])
    assert conflicts[tuesday(4)] == ("room_busy", busy_autumn["room"])
    assert conflicts[tuesday(3)][0] == "patient_already_booked_that_day"
    assert not {d for d, _ in booked} & (set(skipped) | set(conflicts))
    # the series continues past them: the last session is 30 + 7 weeks after the first
    assert booked[-1][0] == tuesday(36)


def test_a_dry_run_previews_the_same_plan_and_writes_nothing(world, scoped, busy_autumn):
    with scoped() as db:
        preview = create(db, world, dry_run=True)
        assert preview.appointments == [] and preview.series.id is None
        assert len(preview.plan.occurrences) == 30 and len(preview.plan.conflicts) == 3
    with scoped() as db:
        assert svc.patient_series(db, world.patients[0]) == []


def test_moving_this_and_the_following_sessions_keeps_the_earlier_ones(world, scoped):
    with scoped() as db:
        result = create(db, world, sessions=12, prescribed=12)
        series_id = result.series.id
        tenth = result.appointments[9]
        # a Thursday at 18:00 is taken among the following weeks: it is reported, the session goes later
        taken = appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[3],
                           appointment_type_id=world.session_type_id,
                           starts_at=local_to_utc(local_date(tenth.starts_at) + timedelta(days=9), time(18)))
        moved, plan = svc.move_following(db, tenth, slots=(WeeklySlot(3, time(18)),),
                                         first_day=local_date(tenth.starts_at))
    assert [c.ref for c in plan.conflicts] == [taken.id] and plan.missing == 0
    with scoped() as db:
        sessions = svc.series_appointments(db, series_id)
        days = [(local_date(a.starts_at).weekday(), to_local(a.starts_at).time()) for a in sessions]
        assert len(sessions) == 12
        assert days[:9] == [(1, time(17))] * 9  # the earlier ones did not move
        assert days[9:] == [(3, time(18))] * 3
        assert svc.parse_rule(svc.get_series(db, series_id).rule)[0] == (WeeklySlot(3, time(18)),)
        assert svc.counters(db, svc.get_series(db, series_id)).planned == 12


def test_counters_and_the_warning_near_the_end_of_the_prescription(world, scoped):
    with scoped() as db:
        result = create(db, world, sessions=8, prescribed=8)
        for a in result.appointments[:4]:
            appts.mark(db, a, HONOURED, now=LATER)
        appts.mark(db, result.appointments[4], ABSENT, now=LATER)
        appts.cancel(db, result.appointments[5], "Déménagement de la famille")
        c = svc.counters(db, result.series, warn_at=3)
    assert (c.prescribed, c.done, c.missed, c.planned, c.remaining, c.unplanned) == (8, 4, 1, 2, 4, 2)
    assert c.warning is False
    with scoped() as db:
        appts.mark(db, result.appointments[6], HONOURED, now=LATER)
        c = svc.counters(db, svc.get_series(db, result.series.id), warn_at=3)
    assert (c.done, c.remaining, c.warning) == (5, 3, True)
