"""No double booking under concurrent HTTP requests: 20 clients post overlapping bookings for one
practitioner at the same moment to a real server; exactly one gets 201, the others 409 with the
appointment that holds the time. Runs on SQLite, and on PostgreSQL when its test URL is set."""

import os
import threading
from datetime import date, time, timedelta

import httpx
from conftest import add_patients

from carnet_scheduling.services.calendar import local_to_utc

T = local_to_utc(date(2031, 3, 4), time(10))
CLIENTS = int(os.environ.get("CARNET_TEST_CLIENTS", "50"))


def test_concurrent_booking_requests_get_one_201_and_409s(world, carnet_db, carnet_settings, live_server):
    from carnet_core.plugin_api import User
    from carnet_core.testing import enroll
    from carnet_core.testing import identity_services as identity

    patients = add_patients(carnet_db, world.clinic.id, CLIENTS)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        user = db.get(User, world.practitioner.id)
        enroll(db, carnet_settings, user)  # tokens are issued to enrolled accounts only
        token, _ = identity.create_token(db, world.clinic.id, user, name="concurrency test")
    headers = {"Authorization": f"Bearer {token}"}
    barrier = threading.Barrier(len(patients))
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt(patient_id: int, offset: int) -> None:
        body = {
            "practitioner_id": world.practitioner.id, "patient_id": patient_id,
            "appointment_type_id": world.session_type_id,
            "starts_at": (T + timedelta(minutes=offset % 5)).isoformat(),
        }
        with httpx.Client(base_url=live_server, timeout=60) as client:
            barrier.wait()
            response = client.post("/api/v1/scheduling/appointments", json=body, headers=headers)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=attempt, args=(p, i)) for i, p in enumerate(patients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(201) == 1, statuses
    assert statuses == [201] + [409] * (len(patients) - 1), statuses
    winner = next(r for r in answers if r.status_code == 201).json()
    for refused in (r for r in answers if r.status_code == 409):
        assert refused.json()["conflict"]["id"] == winner["id"], refused.text
