"""One damaged sealed value never takes an agenda page down (issue #14, item 4).

A bit flipped in one patient's stored name, or in one waiting-list file, used to make the week
view and the day sheet answer 500. Each page now works and shows "Données illisibles (n° id)" for
that record only; the damage is audited with table and id."""

from __future__ import annotations

import json
from datetime import date, time, timedelta

import pytest
from icalendar import Calendar
from sqlmodel import select

from carnet_core.plugin_api import utcnow
from carnet_core.testing import AuditRecord
from carnet_core.testing.tamper import flip_sealed_byte
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services.calendar import local_to_utc
from carnet_scheduling.services.setup import set_working_hours

DAY = date(2030, 9, 3)  # a Tuesday
HX = {"HX-Request": "true"}


@pytest.fixture
def damaged(world, scoped, staff, carnet_db):
    """Three appointments on DAY; the second patient's stored last name has a flipped bit."""
    with scoped() as db:
        set_working_hours(db, world.practitioner.id, [(1, time(9), time(18), world.place_id, world.room_id)])
        booked = [
            appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[i],
                       appointment_type_id=world.session_type_id, starts_at=local_to_utc(DAY, time(9 + i)))
            for i in range(3)
        ]
    flip_sealed_byte(carnet_db, "core_patient", "last_name", world.patients[1])
    return booked


def _integrity(carnet_db, world):
    with carnet_db.session(unscoped=True) as db:
        return {(r.resource_type, r.resource_id) for r in db.exec(
            select(AuditRecord).where(AuditRecord.clinic_id == world.clinic.id, AuditRecord.action == "integrity"))}


def test_week_day_today_and_day_sheet_show_the_damaged_patient_as_unreadable(
    world, damaged, client, login_as, staff, carnet_db
):
    login_as(client, staff("secretary", clinic=world.clinic, name="Sonia Secrétaire"))
    marker = f"Données illisibles (n° {world.patients[1]})"
    pages = {
        "week": f"/scheduling/?view=week&date={DAY}&practitioner={world.practitioner.id}",
        "day": f"/scheduling/?view=day&date={DAY}",
        "today": f"/scheduling/today?date={DAY}&all=1",
        "day sheet": f"/scheduling/day-sheet?date={DAY}&practitioner={world.practitioner.id}",
    }
    for name, url in pages.items():
        for headers in ({}, HX):
            answer = client.get(url, headers=headers)
            assert answer.status_code == 200, (name, answer.status_code)
            assert marker in answer.text, name
            assert "LEFÈVRE Patient10" in answer.text and "GARNIER Patient12" in answer.text, name
    # the appointment's own dialog works too
    dialog = client.get(f"/scheduling/appointments/{damaged[1].id}", headers=HX)
    assert dialog.status_code == 200 and marker in dialog.text
    assert _integrity(carnet_db, world) == {("core_patient", str(world.patients[1]))}


def test_the_booking_search_and_the_api_keep_working(world, damaged, client, login_as, staff):
    login_as(client, staff("secretary", clinic=world.clinic, name="Sonia Secrétaire"))
    found = client.post("/scheduling/patients/search", data={"q": "Lefèvre"}, headers=HX)
    assert found.status_code == 200 and "LEFÈVRE Patient10" in found.text
    listed = client.get("/api/v1/scheduling/appointments",
                        params={"from": f"{DAY}T00:00:00+02:00", "to": f"{DAY}T23:00:00+02:00"})
    assert listed.status_code == 200 and len(listed.json()["items"]) == 3


def test_the_feed_and_the_patient_export_fail_closed(world, scoped, client, login_as, staff, carnet_db):
    me = staff("owner,practitioner", clinic=world.clinic, name="Paule Praticienne")
    start = (utcnow() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    with scoped() as db:
        first = appts.book(db, practitioner_id=me.id, patient_id=world.patients[0],
                           appointment_type_id=world.session_type_id, starts_at=start, notes="Séance calme")
        appts.book(db, practitioner_id=me.id, patient_id=world.patients[1],
                   appointment_type_id=world.session_type_id, starts_at=start + timedelta(hours=2))
    flip_sealed_byte(carnet_db, "core_patient", "first_name", world.patients[1])
    flip_sealed_byte(carnet_db, "scheduling_appointment", "notes", first.id)
    login_as(client, me)
    url = client.post("/api/v1/scheduling/feed", json={"show_patient_names": True}).json()["url"]
    feed = client.get("/" + url.split("://", 1)[-1].split("/", 1)[1])
    assert feed.status_code == 200
    summaries = {str(e["SUMMARY"]) for e in Calendar.from_ical(feed.content).walk("VEVENT")}
    assert "LEFÈVRE Patient10 — Séance" in summaries
    assert f"Unreadable data (record {world.patients[1]}) — Séance" in summaries
    # the RGPD export of the patient whose appointment notes are damaged: the rest is exported
    exported = client.post(f"/patients/{world.patients[0]}/export")
    assert exported.status_code == 200, exported.text
    document = json.loads(exported.content)
    (appointment,) = document["plugins"]["scheduling"]["appointments"]
    assert appointment["notes"] is None and appointment["id"] == first.id
    assert ("scheduling_appointment", str(first.id)) in _integrity(carnet_db, world)


def test_the_waiting_list_shows_a_damaged_file_as_unreadable(client, world, carnet_db, login_as, staff):
    from test_waitlist import _accept_all, _join

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        set_working_hours(db, world.practitioner.id, [(d, time(9), time(18), world.place_id, None) for d in range(5)])
    for name, mail, age in (("Adulte Patient", "a@example.org", "40"), ("Enfant Patient", "b@example.org", "7")):
        assert _join(client, world, name, mail, [world.practitioner.id], age=age).status_code == 200
    _accept_all(carnet_db, world)
    from carnet_scheduling.patient_models import WaitingEntry

    with carnet_db.session(unscoped=True) as db:
        entries = db.exec(select(WaitingEntry).order_by(WaitingEntry.id)).all()
    flip_sealed_byte(carnet_db, "scheduling_waiting_entry", "full_name", entries[0].id)
    flip_sealed_byte(carnet_db, "scheduling_waiting_entry", "age_years", entries[0].id)
    login_as(client, staff("owner,practitioner", clinic=world.clinic, name="Odile Owner"))
    page = client.get(f"/scheduling/waitlist?practitioner_id={world.practitioner.id}")
    assert page.status_code == 200, page.text
    assert f"Données illisibles (n° {entries[0].id})" in page.text and "Enfant Patient" in page.text
    assert ("scheduling_waiting_entry", str(entries[0].id)) in _integrity(carnet_db, world)
