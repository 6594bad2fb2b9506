"""No double booking under concurrency: many threads book the same slot at once; the database
lets exactly one through (SQLite triggers under its single writer, PostgreSQL exclusion constraints)."""

import threading
from datetime import date, time, timedelta

from conftest import add_patients

from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services.calendar import local_to_utc
from carnet_scheduling.services.errors import SlotTaken

T = local_to_utc(date(2031, 3, 4), time(10))


def test_concurrent_bookings_of_one_slot_let_exactly_one_through(world, carnet_db):
    patients = add_patients(carnet_db, world.clinic.id, 20)
    barrier = threading.Barrier(len(patients))
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(patient_id: int, offset: int) -> None:
        barrier.wait()
        try:
            with carnet_db.session(clinic_id=world.clinic.id) as db:
                db.info["principal"] = f"user:{world.practitioner.id}"
                # staggered starts: every attempt overlaps the others, none is identical
                appts.book(db, practitioner_id=world.practitioner.id, patient_id=patient_id,
                           appointment_type_id=world.session_type_id,
                           starts_at=T + timedelta(minutes=offset % 5))
            result = "booked"
        except SlotTaken as exc:
            result = exc.reason
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(p, i)) for i, p in enumerate(patients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes.count("booked") == 1
    assert outcomes.count("practitioner_busy") == len(patients) - 1
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert len(appts.in_range(db, T - timedelta(hours=1), T + timedelta(hours=1))) == 1
