"""A canary written into a patient's fields never reaches Redis: jobs carry ids, workers reload."""

from datetime import UTC, datetime, timedelta

import pytest

from carnet_core.jobs import enqueue
from carnet_core.jobs.testing import redis_dump, wait_for_jobs

pytestmark = pytest.mark.redis

CANARY = "QZXREDISCANARY"
PATIENT = {
    "last_name": f"{CANARY}nom", "first_name": f"{CANARY}prenom", "birth_date": "1911-11-11", "sex": "F",
    "email": f"{CANARY.lower()}@example.fr", "phone": "+33 6 98 76 54 32",
    "address": f"{CANARY} rue des Lilas", "referring_physician": f"Dr {CANARY}", "notes": f"{CANARY} notes",
}
NEEDLES = [CANARY.encode(), CANARY.lower().encode(), b"1911-11-11", b"698765432", b"98 76 54 32"]


def test_patient_canary_never_appears_in_redis(client, clinic, staff, login_as, redis_jobs, carnet_db):
    # given a patient whose every field carries the canary, and an appointment of theirs
    owner = staff("owner,practitioner")
    login_as(client, owner)
    created = client.post("/api/v1/patients", json=PATIENT)
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    from carnet_scheduling.services.appointments import book
    from carnet_scheduling.services.setup import create_appointment_type

    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = f"user:{owner.id}"
        kind = create_appointment_type(db, "Séance", 30)
        start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
        appt = book(db, practitioner_id=owner.id, patient_id=patient_id, appointment_type_id=kind.id,
                    starts_at=start, notes=f"{CANARY} séance", actor_user_id=owner.id)
        # when the messages the booking flow sends are enqueued and published through Redis
        enqueue(db, "scheduling.send_message", "booking_confirmed", appt.id)
        enqueue(db, "scheduling.send_message", "practitioner_booked", appt.id)
    redis_jobs.relay.run_once()
    published = redis_dump(redis_jobs.broker.client, redis_jobs.config.namespace)
    assert published, "nothing reached Redis: the test would prove nothing"
    # and workers process them (results, retries and acknowledgements also go through Redis)
    redis_jobs.start_worker()
    wait_for_jobs(redis_jobs, timeout=30)
    processed = redis_dump(redis_jobs.broker.client, redis_jobs.config.namespace)
    # then Redis never held the canary, the birth date or the phone number
    for needle in NEEDLES:
        assert needle not in published and needle not in processed, needle
