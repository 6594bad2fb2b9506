"""Booking rules (issue #14, item 9): the API no longer books a 1-minute appointment, a time in the
past or outside the practitioner's working hours without saying so. The type's duration is the
minimum; past and out-of-hours times need an explicit override (422 naming the field otherwise),
recorded in the audit record. The staff dialog applies the same rules with a visible checkbox."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from carnet_core.testing import AuditRecord
from carnet_scheduling.services import setup
from carnet_scheduling.services.calendar import local_to_utc

API = "/api/v1/scheduling/appointments"
DAY = date(2030, 9, 3)  # a Tuesday: Claire works 9:00-12:00
PAST_DAY = date(2024, 5, 14)  # a Tuesday gone by
HX = {"HX-Request": "true"}


@pytest.fixture
def hours(world, scoped):
    with scoped() as db:
        setup.set_working_hours(db, world.practitioner.id, [(1, time(9), time(12), world.place_id, world.room_id)])
        setup.add_exception(db, local_to_utc(DAY, time(11)), local_to_utc(DAY, time(12)),
                            practitioner_id=world.practitioner.id, kind="training", label="Formation")
    return world


@pytest.fixture
def api(hours, staff, login_as, client):
    login_as(client, staff("secretary", clinic=hours.clinic))
    return client


def _body(world, start: datetime, **changes):
    return {"practitioner_id": world.practitioner.id, "patient_id": world.patients[0],
            "appointment_type_id": world.session_type_id, "starts_at": start.isoformat(), **changes}


def _count(carnet_db) -> int:
    with carnet_db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM scheduling_appointment")).scalar()


def _created_details(carnet_db, appointment_id: int) -> dict:
    with carnet_db.session(unscoped=True) as db:
        row = db.exec(select(AuditRecord).where(AuditRecord.action == "create",
                                                AuditRecord.resource_type == "appointment",
                                                AuditRecord.resource_id == str(appointment_id))).one()
    return json.loads(row.details)


def _refused(answer, field: str) -> None:
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_an_appointment_lasts_at_least_its_types_duration(api, hours, carnet_db):
    start = local_to_utc(DAY, time(9))
    _refused(api.post(API, json=_body(hours, start, ends_at=(start + timedelta(minutes=1)).isoformat())), "ends_at")
    _refused(api.post(API, json=_body(hours, start, ends_at=(start + timedelta(minutes=29)).isoformat())), "ends_at")
    assert _count(carnet_db) == 0
    longer = api.post(API, json=_body(hours, start, ends_at=(start + timedelta(minutes=45)).isoformat()))
    assert longer.status_code == 201, longer.text
    # moving it shorter than its type is refused too
    moved = api.post(f"{API}/{longer.json()['id']}/move", json={
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=5)).isoformat()})
    _refused(moved, "ends_at")


def test_a_time_in_the_past_needs_allow_past_and_the_audit_records_it(api, hours, carnet_db):
    past = local_to_utc(PAST_DAY, time(10))
    _refused(api.post(API, json=_body(hours, past)), "allow_past")
    assert _count(carnet_db) == 0
    done = api.post(API, json=_body(hours, past, allow_past=True))
    assert done.status_code == 201, done.text
    assert _created_details(carnet_db, done.json()["id"])["override"] == ["past"]


def test_outside_hours_or_in_time_off_needs_allow_outside_hours(api, hours, carnet_db):
    evening, training = local_to_utc(DAY, time(17)), local_to_utc(DAY, time(11))
    overlapping_the_end = local_to_utc(DAY, time(8, 45))
    for start in (evening, training, overlapping_the_end):
        _refused(api.post(API, json=_body(hours, start)), "allow_outside_hours")
    # a Wednesday, where Claire has no hours at all
    _refused(api.post(API, json=_body(hours, local_to_utc(DAY + timedelta(days=1), time(10)))), "allow_outside_hours")
    assert _count(carnet_db) == 0
    done = api.post(API, json=_body(hours, evening, allow_outside_hours=True))
    assert done.status_code == 201, done.text
    assert _created_details(carnet_db, done.json()["id"])["override"] == ["outside_hours"]
    # both at once need both
    old_evening = local_to_utc(PAST_DAY, time(18))
    _refused(api.post(API, json=_body(hours, old_evening, allow_past=True)), "allow_outside_hours")
    both = api.post(API, json=_body(hours, old_evening, allow_past=True, allow_outside_hours=True))
    assert _created_details(carnet_db, both.json()["id"])["override"] == ["past", "outside_hours"]
    # within the hours no override is needed nor recorded; a move out of them needs one
    plain = api.post(API, json=_body(hours, local_to_utc(DAY, time(9, 30)), patient_id=hours.patients[1]))
    assert plain.status_code == 201 and "override" not in _created_details(carnet_db, plain.json()["id"])
    _refused(api.post(f"{API}/{plain.json()['id']}/move", json={"starts_at": evening.isoformat()}),
             "allow_outside_hours")


def test_the_overrides_are_documented_in_openapi(api):
    schema = api.get("/schema/openapi.json").json()
    booking = schema["paths"]["/api/v1/scheduling/appointments"]["post"]
    assert "allow_past" in booking["description"] and "allow_outside_hours" in booking["description"]
    components = json.dumps(schema["components"]["schemas"])
    assert '"allow_past"' in components and '"allow_outside_hours"' in components


def test_the_dialog_asks_to_confirm_with_a_visible_checkbox(hours, staff, login_as, client, carnet_db):
    login_as(client, staff("secretary", clinic=hours.clinic))
    form = {"date": DAY.isoformat(), "time": "17:00", "practitioner": str(hours.practitioner.id),
            "patient_id": str(hours.patients[0]), "type": str(hours.session_type_id),
            "next": "/scheduling/?view=week&date=2030-09-03"}
    first = client.post("/scheduling/appointments", data=form, headers=HX)
    assert first.status_code == 422
    assert 'type="checkbox"' in first.text and 'name="override"' in first.text
    assert "en dehors des horaires" in first.text
    assert _count(carnet_db) == 0
    confirmed = client.post("/scheduling/appointments", data={**form, "override": "1"}, headers=HX)
    assert confirmed.status_code == 204, confirmed.text
    with carnet_db.session(unscoped=True) as db:
        appointment_id = db.exec(sa.text("SELECT id FROM scheduling_appointment")).scalar()
    assert _created_details(carnet_db, appointment_id)["override"] == ["outside_hours"]
    # a duration shorter than the type is refused in the dialog too
    short = client.post("/scheduling/appointments", data={**form, "time": "09:00", "duration": "10"}, headers=HX)
    assert short.status_code == 422 and "plus court que la durée" in short.text
