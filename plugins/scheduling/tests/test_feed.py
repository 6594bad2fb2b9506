"""Acceptance 7: the private calendar feed is valid iCalendar (RFC 5545 required properties) and
shows patient names only when the practitioner opted in; a revoked feed answers 404."""

from datetime import timedelta

import pytest
from icalendar import Calendar

from carnet_core.plugin_api import utcnow
from carnet_scheduling.services import appointments as appts


@pytest.fixture
def practitioner_client(world, staff, login_as, client, scoped):
    me = staff("practitioner", clinic=world.clinic, name="Paule Praticienne")
    with scoped() as db:
        start = (utcnow() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
        booked = appts.book(db, practitioner_id=me.id, patient_id=world.patients[0],
                            appointment_type_id=world.session_type_id, starts_at=start, room_id=world.room_id)
        gone = appts.book(db, practitioner_id=me.id, patient_id=world.patients[1],
                          appointment_type_id=world.session_type_id, starts_at=start + timedelta(hours=2))
        appts.cancel(db, gone, "Annulé par la famille")
    login_as(client, me)
    return client, booked


def fetch(client, url: str) -> Calendar:
    path = url.split("://", 1)[-1].split("/", 1)[1]
    response = client.get("/" + path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    return Calendar.from_ical(response.content)


def test_feed_is_valid_icalendar_without_patient_names_by_default(practitioner_client):
    client, booked = practitioner_client
    issued = client.post("/api/v1/scheduling/feed", json={})
    assert issued.status_code == 201
    cal = fetch(client, issued.json()["url"])
    # RFC 5545: a VCALENDAR carries PRODID and VERSION 2.0; each VEVENT a UID, DTSTAMP and DTSTART
    assert cal.name == "VCALENDAR" and str(cal["VERSION"]) == "2.0" and cal.get("PRODID")
    events = list(cal.walk("VEVENT"))
    assert len(events) == 2
    for event in events:
        for prop in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
            assert event.get(prop) is not None, prop
        assert event.decoded("DTEND") > event.decoded("DTSTART")
    assert len({str(e["UID"]) for e in events}) == 2
    statuses = sorted(str(e["STATUS"]) for e in events)
    assert statuses == ["CANCELLED", "CONFIRMED"]
    text = b"".join(e.to_ical() for e in events).decode()
    assert "LEFÈVRE" not in text and "Lefèvre" not in text
    assert all(str(e["SUMMARY"]) == "Séance" for e in events)


def test_feed_shows_names_once_the_practitioner_opts_in_and_stops_when_revoked(practitioner_client):
    client, booked = practitioner_client
    url = client.post("/api/v1/scheduling/feed", json={"show_patient_names": True}).json()["url"]
    summaries = {str(e["SUMMARY"]) for e in fetch(client, url).walk("VEVENT")}
    assert "LEFÈVRE Patient10 — Séance" in summaries
    # a new URL replaces the old one; revoking ends the current one
    newer = client.post("/api/v1/scheduling/feed", json={}).json()["url"]
    old_path = "/" + url.split("://", 1)[-1].split("/", 1)[1]
    assert client.get(old_path).status_code == 404
    assert client.post("/api/v1/scheduling/feed/revoke").json() == {"revoked": True}
    assert client.get("/" + newer.split("://", 1)[-1].split("/", 1)[1]).status_code == 404
    assert client.get("/p/" + "x" * 3 + "/scheduling/feed/nope.ics").status_code == 404
