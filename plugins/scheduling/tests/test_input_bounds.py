"""Bad input from the issue's fuzzing run answered 4xx with nothing written, never 500, through the
API and the forms: integers beyond the id bound, a start at the end of the calendar, JSON nested
thousands deep, and free text carrying NUL, other controls, bidi overrides, no visible character
or stacked combining marks (on SQLite and, with CARNET_TEST_DATABASE_URL, on PostgreSQL, where a
NUL used to fail inside the database)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa

from carnet_core.plugin_api import MAX_ID
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services.calendar import local_to_utc

API = "/api/v1/scheduling"
HX = {"HX-Request": "true"}
DAY = date(2030, 9, 3)
T = local_to_utc(DAY, time(17))
HUGE = 2**63
END_OF_TIME = "9999-12-31T23:50:00Z"
BAD_TEXTS = {
    "nul": "Cabinet\x00B",
    "control": "Cabinet\x1bB",
    "bidi override": "Cabinet \u202egpj.exe",
    "bidi isolate": "Cabinet \u2066B",
    "invisible": " \u200b\u2060 ",
    "zalgo": "Ca" + "\u0301\u0300\u0302\u0303\u0304\u0306\u0307" + "binet",
}
TABLES = ("scheduling_appointment", "scheduling_place", "scheduling_room", "scheduling_appointment_type",
          "scheduling_exception", "scheduling_school_holiday", "scheduling_prescription", "scheduling_series",
          "scheduling_working_hours")


def counts(carnet_db) -> dict[str, int]:
    with carnet_db.engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


@pytest.fixture
def owner(world, staff, login_as, client):
    login_as(client, staff("owner,practitioner", clinic=world.clinic))
    return client


def booking(world, **changes):
    data = {"practitioner_id": world.practitioner.id, "patient_id": world.patients[0],
            "appointment_type_id": world.session_type_id, "starts_at": T.isoformat()}
    data.update(changes)
    return data


def test_integers_beyond_the_id_bound_are_refused_in_paths_queries_and_bodies(world, owner, carnet_db):
    booked = owner.post(f"{API}/appointments", json=booking(world))
    assert booked.status_code == 201
    before = counts(carnet_db)
    for path in ("appointments", "series"):
        for value in (HUGE, MAX_ID + 1, 2**31 * 10**20):
            assert owner.get(f"{API}/{path}/{value}").status_code == 404
    assert owner.post(f"{API}/appointments/{HUGE}/cancel", json={"reason": "x"}).status_code == 404
    assert owner.put(f"{API}/working-hours/{HUGE}", json={"blocks": []}).status_code == 404
    window = {"from": T.isoformat(), "to": (T + timedelta(days=1)).isoformat()}
    for name in ("practitioner_id", "room_id"):
        r = owner.get(f"{API}/appointments", params={**window, name: HUGE})
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == name
    slots = owner.get(f"{API}/availability", params={**window, "practitioner_id": HUGE,
                                                     "appointment_type_id": world.session_type_id})
    assert slots.status_code == 400
    for field in ("practitioner_id", "patient_id", "appointment_type_id", "room_id", "place_id"):
        r = owner.post(f"{API}/appointments", json=booking(world, **{field: HUGE}))
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == field, (field, r.text)
    r = owner.post(f"{API}/appointments/{booked.json()['id']}/move", json={"starts_at": T.isoformat(), "room_id": HUGE})
    assert r.status_code == 400
    r = owner.post(f"{API}/rooms", json={"place_id": HUGE, "name": "Salle 9"})
    assert r.status_code == 400
    r = owner.post(f"{API}/exceptions", json={"starts_at": T.isoformat(), "ends_at": (T + timedelta(hours=1)).isoformat(),
                                              "practitioner_id": MAX_ID + 1})
    assert r.status_code == 400
    # a page's query and a form's field: the same bound
    assert owner.get("/scheduling/appointments/new", params={"practitioner": str(HUGE)}).status_code == 200
    assert owner.get(f"/scheduling/appointments/{HUGE}", headers=HX).status_code == 404
    assert owner.post("/scheduling/setup/rooms", data={"place_id": str(HUGE), "name": "Salle 9"}).status_code in (400, 422)
    assert counts(carnet_db) == before


def test_a_start_at_the_end_of_the_calendar_is_refused_before_any_date_arithmetic(world, owner, carnet_db):
    booked = owner.post(f"{API}/appointments", json=booking(world)).json()
    before = counts(carnet_db)
    for starts_at in (END_OF_TIME, "9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00+00:00"):
        r = owner.post(f"{API}/appointments", json=booking(world, starts_at=starts_at))
        assert r.status_code in (400, 422) and r.json()["errors"][0]["field"] == "starts_at", r.text
        r = owner.post(f"{API}/appointments/{booked['id']}/move", json={"starts_at": starts_at})
        assert r.status_code in (400, 422), r.text
        r = owner.post(f"{API}/exceptions", json={"starts_at": starts_at, "ends_at": starts_at})
        assert r.status_code in (400, 422), r.text
        window = {"from": starts_at, "to": "9999-12-31T23:59:59Z"}
        assert owner.get(f"{API}/appointments", params=window).status_code in (400, 422)
        r = owner.get(f"{API}/availability", params={**window, "practitioner_id": world.practitioner.id,
                                                     "appointment_type_id": world.session_type_id})
        assert r.status_code in (400, 422), r.text
    for day in ("9999-12-31", "0001-01-01"):
        series = {"patient_id": world.patients[0], "practitioner_id": world.practitioner.id,
                  "appointment_type_id": world.session_type_id, "slots": [{"weekday": 1, "time": "17:00"}],
                  "first_day": day, "sessions": 3}
        assert owner.post(f"{API}/series", json=series).status_code in (400, 422)
        holiday = {"first_day": day, "last_day": day, "label": "Vacances"}
        assert owner.post(f"{API}/school-holidays", json=holiday).status_code in (400, 422)
    # the same start through the forms: the booking form and a patient's own booking link
    form = {"patient_id": str(world.patients[0]), "practitioner_id": str(world.practitioner.id),
            "appointment_type_id": str(world.session_type_id), "date": "9999-12-31", "time": "23:50"}
    assert owner.post("/scheduling/appointments", data=form).status_code in (400, 422)
    owner.post("/logout")
    public = f"/p/{world.clinic.slug}/scheduling/book/{world.practitioner.id}/{world.bilan_type_id}"
    assert owner.get(f"{public}/form", params={"start": END_OF_TIME}).status_code == 404
    assert counts(carnet_db) == before


def test_json_nested_thousands_deep_is_refused_at_decoding(world, owner, carnet_db):
    before = counts(carnet_db)
    for body in ("[" * 2000 + "]" * 2000, '{"name": ' + "[" * 2000 + "]" * 2000 + "}",
                 '{"a":' * 2000 + "1" + "}" * 2000):
        for path in ("/places", "/appointments", "/series"):
            r = owner.post(f"{API}{path}", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400 and "nests" in r.json()["detail"], (path, r.status_code)
    # brackets inside strings are text, not nesting
    name = "[" * 50 + "{" * 50
    assert owner.post(f"{API}/places", json={"name": name}).status_code == 201
    assert counts(carnet_db)["scheduling_place"] == before["scheduling_place"] + 1


@pytest.mark.parametrize("kind", sorted(BAD_TEXTS))
def test_bad_free_text_is_refused_in_every_api_field(world, owner, carnet_db, kind):
    bad = BAD_TEXTS[kind]
    booked = owner.post(f"{API}/appointments", json=booking(world)).json()
    before = counts(carnet_db)
    cases = [
        ("/places", {"name": bad}, "name"),
        ("/places", {"name": "Annexe", "address": bad}, "address"),
        ("/rooms", {"place_id": world.place_id, "name": bad}, "name"),
        ("/appointment-types", {"name": bad, "duration_minutes": 30}, "name"),
        ("/exceptions", {"starts_at": T.isoformat(), "ends_at": (T + timedelta(hours=2)).isoformat(), "label": bad},
         "label"),
        ("/school-holidays", {"first_day": "2030-10-19", "last_day": "2030-11-03", "label": bad}, "label"),
        ("/prescriptions", {"patient_id": world.patients[0], "practitioner_id": world.practitioner.id,
                            "prescribed_on": "2025-01-02", "sessions_prescribed": 10, "prescriber": bad}, "prescriber"),
        ("/prescriptions", {"patient_id": world.patients[0], "practitioner_id": world.practitioner.id,
                            "prescribed_on": "2025-01-02", "sessions_prescribed": 10, "acts": bad}, "acts"),
        (f"/appointments/{booked['id']}/cancel", {"reason": bad}, "reason"),
        ("/appointments", booking(world, starts_at=(T + timedelta(days=1)).isoformat(), notes=bad), "notes"),
    ]
    for path, data, field in cases:
        if kind == "invisible" and field in ("address", "label", "prescriber", "acts", "notes") and path != "/school-holidays":
            continue  # optional texts may be left blank
        r = owner.post(f"{API}{path}", json=data)
        assert r.status_code in (400, 422), (path, field, r.status_code, r.text)
        assert r.json()["errors"][0]["field"] == field, r.text
    r = owner.put(f"{API}/appointments/{booked['id']}/notes", json={"notes": bad})
    assert r.status_code in (400, 422) or kind == "invisible", r.text
    assert counts(carnet_db) == before
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert appts.get_appointment(db, booked["id"]).status == "booked"


@pytest.mark.parametrize("kind", ["nul", "bidi override", "zalgo"])
def test_bad_free_text_is_refused_in_the_forms(world, owner, carnet_db, kind):
    bad = BAD_TEXTS[kind]
    booked = owner.post(f"{API}/appointments", json=booking(world)).json()
    before = counts(carnet_db)
    assert owner.post("/scheduling/setup/places", data={"name": bad}).status_code in (400, 422)
    assert owner.post("/scheduling/setup/places", data={"name": "Annexe", "address": bad}).status_code in (400, 422)
    r = owner.post(f"/scheduling/appointments/{booked['id']}/cancel", data={"reason": bad}, headers=HX)
    assert r.status_code == 422
    assert counts(carnet_db) == before
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        appt = appts.get_appointment(db, booked["id"])
        assert appt.status == "booked" and appt.notes is None
