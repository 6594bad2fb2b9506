"""The JSON API through a real login: booking (201, or 409 with the holder), listing, cancelling,
availability, and bad input answered 4xx with field errors while nothing is written."""

from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa

from carnet_scheduling.services.calendar import local_to_utc

API = "/api/v1/scheduling"
DAY = date(2030, 9, 3)  # a Tuesday
T = local_to_utc(DAY, time(17))


@pytest.fixture
def api(world, staff, login_as, client):
    secretary = staff("secretary", clinic=world.clinic)
    login_as(client, secretary)
    return client


def body(world, **changes):
    data = {"practitioner_id": world.practitioner.id, "patient_id": world.patients[0],
            "appointment_type_id": world.session_type_id, "starts_at": T.isoformat(), "room_id": world.room_id}
    data.update(changes)
    return data


def counts(carnet_db) -> dict[str, int]:
    with carnet_db.engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in
                ("scheduling_appointment", "scheduling_working_hours", "scheduling_series", "scheduling_prescription")}


def test_booking_answers_201_then_409_with_the_appointment_holding_the_time(world, api):
    first = api.post(f"{API}/appointments", json=body(world))
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["starts_at"].startswith("2030-09-03T15:00:00") and created["status"] == "booked"
    assert "notes" not in created and created["has_notes"] is False
    clash = api.post(f"{API}/appointments", json=body(world, patient_id=world.patients[1],
                                                      starts_at=(T + timedelta(minutes=10)).isoformat()))
    assert clash.status_code == 409
    payload = clash.json()
    assert payload["reason"] == "practitioner_busy" and payload["conflict"]["id"] == created["id"]


def test_listing_by_range_and_practitioner(world, api):
    for n, (who, start) in enumerate([(world.practitioner.id, T), (world.colleague.id, T),
                                      (world.practitioner.id, T + timedelta(days=7))]):
        assert api.post(f"{API}/appointments", json=body(world, practitioner_id=who, patient_id=world.patients[n],
                                                         room_id=None, starts_at=start.isoformat())).status_code == 201
    window = {"from": local_to_utc(DAY, time(0)).isoformat(), "to": local_to_utc(DAY, time(23)).isoformat()}
    both = api.get(f"{API}/appointments", params=window).json()["items"]
    assert len(both) == 2
    mine = api.get(f"{API}/appointments", params={**window, "practitioner_id": world.practitioner.id}).json()["items"]
    assert [a["practitioner_id"] for a in mine] == [world.practitioner.id]
    assert api.get(f"{API}/appointments", params={"from": window["to"], "to": window["from"]}).status_code == 422
    assert api.get(f"{API}/appointments", params={"from": "yesterday", "to": window["to"]}).status_code == 400


def test_cancel_frees_the_slot(world, api):
    created = api.post(f"{API}/appointments", json=body(world)).json()
    assert api.post(f"{API}/appointments/{created['id']}/cancel", json={"reason": ""}).status_code == 400
    cancelled = api.post(f"{API}/appointments/{created['id']}/cancel", json={"reason": "Enfant malade"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.post(f"{API}/appointments", json=body(world, patient_id=world.patients[1])).status_code == 201
    again = api.post(f"{API}/appointments/{created['id']}/cancel", json={"reason": "encore"})
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "status"


def test_availability_respects_hours_and_bookings(world, api, staff, login_as, client):
    from datetime import datetime

    from carnet_scheduling.services.calendar import to_local

    soon = date.today() + timedelta(days=21)
    soon += timedelta(days=(1 - soon.weekday()) % 7)  # a Tuesday within the booking horizon
    owner = staff("owner", clinic=world.clinic)
    client.post("/logout")
    login_as(client, owner)
    hours = {"blocks": [{"weekday": 1, "start": "09:00", "end": "11:00", "place_id": world.place_id,
                         "room_id": world.room_id}]}
    assert client.put(f"{API}/working-hours/{world.practitioner.id}", json=hours).status_code == 200
    assert client.post(f"{API}/appointments", json=body(world, starts_at=local_to_utc(soon, time(9, 30)).isoformat())
                       ).status_code == 201
    params = {"practitioner_id": world.practitioner.id, "appointment_type_id": world.session_type_id,
              "from": local_to_utc(soon, time(0)).isoformat(), "to": local_to_utc(soon, time(23)).isoformat()}
    slots = client.get(f"{API}/availability", params=params)
    assert slots.status_code == 200
    starts = [to_local(datetime.fromisoformat(s["start"])).strftime("%H:%M") for s in slots.json()["slots"]]
    assert starts == ["09:00", "10:00", "10:30"]  # 09:30 is taken
    # a colleague in the practitioner's room takes 10:30; one in another room changes nothing
    for room, at, patient in ((world.room_id, time(10, 30), world.patients[1]),
                              (world.room2_id, time(10), world.patients[2])):
        taken = client.post(f"{API}/appointments", json=body(
            world, practitioner_id=world.colleague.id, patient_id=patient, room_id=room,
            starts_at=local_to_utc(soon, at).isoformat()))
        assert taken.status_code == 201, taken.text
    slots = client.get(f"{API}/availability", params=params)
    starts = [to_local(datetime.fromisoformat(s["start"])).strftime("%H:%M") for s in slots.json()["slots"]]
    assert starts == ["09:00", "10:00"]
    far = local_to_utc(soon + timedelta(days=200), time(0)).isoformat()
    too_long = client.get(f"{API}/availability", params={**params, "to": far})
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "to"


def test_bad_input_gets_field_errors_and_writes_nothing(world, api, carnet_db, make_clinic, staff, login_as, client):
    from conftest import add_patients

    other = make_clinic("autre-cabinet")
    stranger = add_patients(carnet_db, other.id, 1)[0]
    before = counts(carnet_db)
    cases = {
        "ends_at": body(world, ends_at=(T - timedelta(minutes=30)).isoformat()),
        "patient_id": body(world, patient_id=stranger),
        "starts_at": body(world, starts_at="1900-09-03T17:00:00+00:00"),
    }
    for field, data in cases.items():
        r = api.post(f"{API}/appointments", json=data)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["errors"] == [{"field": field, "code": "invalid", "message": r.json()["errors"][0]["message"]}]
    unknown = api.post(f"{API}/appointments", json=body(world, colour="red"))
    assert unknown.status_code == 400 and "colour" in unknown.text
    naive = api.post(f"{API}/appointments", json=body(world, starts_at="2030-09-03T17:00:00"))
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "starts_at"
    owner = staff("owner", clinic=world.clinic)
    client.post("/logout")
    login_as(client, owner)
    overlapping = {"blocks": [
        {"weekday": 1, "start": "09:00", "end": "12:00", "place_id": world.place_id},
        {"weekday": 1, "start": "11:00", "end": "13:00", "place_id": world.place_id},
    ]}
    r = client.put(f"{API}/working-hours/{world.practitioner.id}", json=overlapping)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "hours"
    series = {"patient_id": world.patients[0], "practitioner_id": world.practitioner.id,
              "appointment_type_id": world.session_type_id, "slots": [{"weekday": 1, "time": "17:00"}],
              "first_day": "1900-01-02", "sessions": 10}
    r = client.post(f"{API}/series", json=series)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "first_day"
    assert counts(carnet_db) == before
