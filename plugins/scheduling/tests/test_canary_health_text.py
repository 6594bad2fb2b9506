"""Canary (issue #14, item 3): a cancellation reason typed by staff or by a patient through their
link, and a prescription's prescriber and acts, never appear in clear in the SQLite file (and its
WAL) or in a PostgreSQL dump; the staff still read them back through the API and the pages."""

from __future__ import annotations

import os
import subprocess
from datetime import date, time

import pytest
from test_online_booking import _confirmed_booking, online  # noqa: F401 - the `online` fixture

from carnet_core.testing.identity import csrf_token
from carnet_scheduling.services.calendar import local_to_utc

API = "/api/v1/scheduling"
STAFF_REASON = "QZXREASON hospitalisation pour bronchiolite"
PATIENT_REASON = "QZXPATIENT crise d'asthme"
PRESCRIBER = "Dr QZXPRESCRIBER"
ACTS = "QZXACTS AMO 10.1"
NEEDLES = [b"QZXREASON", b"QZXPATIENT", b"QZXPRESCRIBER", b"QZXACTS"]


def _exercise(client, world, staff, login_as, carnet_settings, jobs_worker):
    # a patient cancels through the link of their confirmation e-mail, with their own words
    manage = _confirmed_booking(client, world, carnet_settings, jobs_worker)
    done = client.post(f"{manage}/cancel", data={"_csrf_token": csrf_token(client, manage), "reason": PATIENT_REASON})
    assert done.status_code == 200, done.text
    # the staff record a prescription and cancel an appointment through the API
    login_as(client, staff("owner,practitioner", clinic=world.clinic))
    created = client.post(f"{API}/prescriptions", json={
        "patient_id": world.patients[0], "practitioner_id": world.practitioner.id,
        "prescribed_on": "2026-01-05", "sessions_prescribed": 10, "prescriber": PRESCRIBER, "acts": ACTS})
    assert created.status_code == 201, created.text
    start = local_to_utc(date(2030, 9, 3), time(10))
    booked = client.post(f"{API}/appointments", json={
        "practitioner_id": world.practitioner.id, "patient_id": world.patients[0],
        "appointment_type_id": world.session_type_id, "starts_at": start.isoformat()})
    assert booked.status_code == 201, booked.text
    cancelled = client.post(f"{API}/appointments/{booked.json()['id']}/cancel", json={"reason": STAFF_REASON})
    assert cancelled.status_code == 200 and cancelled.json()["cancel_reason"] == STAFF_REASON
    # staff read both reasons back (API and the appointment's page)
    listed = client.get(f"{API}/appointments", params={
        "from": "2030-09-01T00:00:00+02:00", "to": "2030-09-30T00:00:00+02:00", "include_cancelled": "true"})
    assert STAFF_REASON in {a["cancel_reason"] for a in listed.json()["items"]}
    page = client.get(f"/scheduling/appointments/{booked.json()['id']}")
    assert page.status_code == 200 and STAFF_REASON.replace("'", "&#39;") in page.text
    # and the patient's RGPD export holds the prescription in clear (the export is the patient's)
    export = client.post(f"/patients/{world.patients[0]}/export")
    assert export.status_code == 200 and PRESCRIBER in export.text and ACTS in export.text


def test_health_texts_never_appear_in_clear_in_the_sqlite_file_or_its_wal(
        client, online, staff, login_as, carnet_db, carnet_settings, jobs_worker):  # noqa: F811
    if not carnet_settings.is_sqlite:
        pytest.skip("SQLite file check (the PostgreSQL dump has its own test)")
    _exercise(client, online, staff, login_as, carnet_settings, jobs_worker)
    path = carnet_settings.database_url.removeprefix("sqlite:///")
    files = [p for p in (path, path + "-wal") if os.path.exists(p)]
    assert path + "-wal" in files
    for p in files:
        with open(p, "rb") as fh:
            data = fh.read()
        for needle in NEEDLES:
            assert needle not in data, (p, needle)


@pytest.mark.postgres
def test_health_texts_never_appear_in_clear_in_a_postgresql_dump(
        client, online, staff, login_as, carnet_db, carnet_settings, jobs_worker):  # noqa: F811
    _exercise(client, online, staff, login_as, carnet_settings, jobs_worker)
    dump = subprocess.run(["pg_dump", "--data-only", carnet_settings.database_url], capture_output=True, timeout=120)
    assert dump.returncode == 0, dump.stderr
    assert b"scheduling_appointment" in dump.stdout
    for needle in NEEDLES:
        assert needle not in dump.stdout, needle
