"""Private calendar feeds (RFC 5545): one revocable secret URL per practitioner; the token is
stored as a SHA-256 hash only; patient names appear only if the practitioner opts in."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlmodel import select

from carnet_core.plugin_api import CarnetSession, record, utcnow
from carnet_scheduling.models import Appointment, AppointmentType, CalendarFeed, Place, Room
from carnet_scheduling.services import appointments as appts

PAST = timedelta(days=31)
FUTURE = timedelta(days=366)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def active_feed(db: CarnetSession, practitioner_id: int) -> CalendarFeed | None:
    return db.exec(select(CalendarFeed).where(
        CalendarFeed.practitioner_id == practitioner_id, CalendarFeed.revoked_at == None  # noqa: E711
    )).first()


def issue_feed(db: CarnetSession, practitioner_id: int, show_patient_names: bool = False) -> tuple[CalendarFeed, str]:
    """Create a new feed (revoking the previous one); returns the token, shown once."""
    revoke_feed(db, practitioner_id, audit=False)
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed(practitioner_id=practitioner_id, token_hash=hash_token(token),
                        show_patient_names=show_patient_names)
    db.add(feed)
    db.flush()
    record(db, action="create", resource_type="calendar_feed", resource_id=feed.id,
           details={"patient_names": show_patient_names})
    return feed, token


def revoke_feed(db: CarnetSession, practitioner_id: int, audit: bool = True) -> bool:
    feed = active_feed(db, practitioner_id)
    if feed is None:
        return False
    feed.revoked_at = utcnow()
    db.add(feed)
    db.flush()
    if audit:
        record(db, action="delete", resource_type="calendar_feed", resource_id=feed.id)
    return True


def set_patient_names(db: CarnetSession, practitioner_id: int, show: bool) -> CalendarFeed | None:
    feed = active_feed(db, practitioner_id)
    if feed is not None and feed.show_patient_names != show:
        feed.show_patient_names = show
        db.add(feed)
        db.flush()
        record(db, action="update", resource_type="calendar_feed", resource_id=feed.id,
               details={"patient_names": show})
    return feed


def find_feed(db: CarnetSession, token: str) -> CalendarFeed | None:
    """The active feed of the session's clinic whose token this is (constant-time by hash lookup)."""
    if not token or len(token) > 100:
        return None
    return db.exec(select(CalendarFeed).where(
        CalendarFeed.token_hash == hash_token(token), CalendarFeed.revoked_at == None  # noqa: E711
    )).first()


def render_feed(
    db: CarnetSession, feed: CalendarFeed, *, clinic_name: str, base_url: str,
    patient_names: Callable[[list[int]], dict[int, str]] | None = None, now: datetime | None = None,
) -> bytes:
    """The iCalendar document: a month back and a year ahead, cancelled appointments as CANCELLED."""
    now = now or utcnow()
    rows = appts.in_range(db, now - PAST, now + FUTURE, practitioner_id=feed.practitioner_id,
                          include_cancelled=True, limit=5000)
    types = {t.id: t for t in db.exec(select(AppointmentType))}
    rooms = {r.id: r for r in db.exec(select(Room))}
    places = {p.id: p for p in db.exec(select(Place))}
    names: dict[int, str] = {}
    if feed.show_patient_names and patient_names is not None:
        names = patient_names(sorted({a.patient_id for a in rows}))
    cal = Calendar()
    cal.add("prodid", "-//Carnet//carnet-scheduling//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", clinic_name)
    host = base_url.split("://", 1)[-1].split("/", 1)[0]
    for a in rows:
        cal.add_component(_event(a, types, rooms, places, names, host, now))
    record(db, action="read", resource_type="calendar_feed", resource_id=feed.id,
           actor=f"system:calendar_feed:{feed.id}", details={"events": len(rows), "patient_names": bool(names)})
    return cal.to_ical()


def _event(a: Appointment, types: dict, rooms: dict, places: dict, names: dict[int, str], host: str,
           now: datetime) -> Event:
    kind = types.get(a.appointment_type_id)
    title = kind.name if kind else "Rendez-vous"
    if a.patient_id in names:
        title = f"{names[a.patient_id]} — {title}"
    event = Event()
    event.add("uid", f"appointment-{a.id}@{host}")
    event.add("dtstamp", now)
    event.add("dtstart", a.starts_at)
    event.add("dtend", a.ends_at)
    event.add("summary", title)
    event.add("last-modified", a.updated_at)
    where = [places[a.place_id].name] if a.place_id in places else []
    if a.room_id in rooms:
        where.append(rooms[a.room_id].name)
    if where:
        event.add("location", " — ".join(where))
    event.add("status", "CANCELLED" if a.status == "cancelled" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event
