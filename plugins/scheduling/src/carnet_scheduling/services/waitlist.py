"""The waiting list: a public intake form (one file, several practitioners' lists of the clinic),
triage by each practitioner, visible priority rules, offers of freed slots, and the periodic
"still interested?" that removes silent files.

A freed slot (a cancellation) is offered to the best matching files at once; the first to accept
books it through `appointments.book`, so the database's no-double-booking constraint decides
between two patients accepting together; the other offers of that slot lapse.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import (
    CarnetSession,
    enqueue,
    links,
    open_,
    open_or_unreadable,
    readable,
    record,
    seal,
    utcnow,
)
from carnet_scheduling.models import BOOKED, Appointment, AppointmentType
from carnet_scheduling.patient_models import Offer, WaitingEntry, WaitingListing
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services.calendar import to_local
from carnet_scheduling.services.contacts import check_guardians, check_with_registry, guardians_of, split_name
from carnet_scheduling.services.context import clinic_tz, is_practitioner
from carnet_scheduling.services.errors import NotFound, SchedulingError, free_text

MESSAGE_ACTOR = "scheduling.send_message"
OFFER = "scheduling.offer"
STILL_INTERESTED = "scheduling.waitlist"
READ_MESSAGE = "scheduling.message"
ACTIVE, BOOKED_ENTRY, REMOVED = "active", "booked", "removed"
CONTACT_REFUSED = "contact_refused"
log = logging.getLogger("carnet.scheduling.waitlist")


class ContactRefused(Exception):
    """Accepting an offer could not register the patient: the registry refused `field` of the file."""

    def __init__(self, field: str):
        super().__init__(field)
        self.field = field

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
SEALED_FIELDS = ("full_name", "email", "phone", "situation", "prescription", "age_years", "birth_date", "guardians")


@dataclass(frozen=True)
class PriorityRules:
    """Points that order a practitioner's list; shown to staff next to the list."""

    urgent: int = 50
    child: int = 20
    per_month: int = 10
    per_triage_step: int = 30

    @classmethod
    def from_settings(cls, s: Any) -> PriorityRules:
        return cls(s.priority_urgent_points, s.priority_child_points, s.priority_month_points,
                   s.priority_triage_points)


@dataclass(frozen=True)
class WaitRules:
    offer_for: timedelta = timedelta(hours=12)
    offers_per_slot: int = 3
    reconfirm_every: timedelta = timedelta(days=60)
    reply_within: timedelta = timedelta(days=14)

    @classmethod
    def from_settings(cls, s: Any) -> WaitRules:
        return cls(timedelta(hours=s.offer_hours), s.offers_per_slot, timedelta(days=s.waitlist_reconfirm_days),
                   timedelta(days=s.waitlist_reply_days))


def parse_availability(raw: Any) -> list[list[Any]]:
    """[[weekday 0-6, "HH:MM", "HH:MM"], …] from the form's checkboxes ("0:morning", "3:afternoon")
    or a JSON list; empty means "any time"."""
    blocks: list[list[Any]] = []
    values = raw if isinstance(raw, list) else [raw] if raw else []
    parts = {"morning": ("08:00", "12:00"), "afternoon": ("12:00", "18:00"), "evening": ("18:00", "20:00")}
    for value in values:
        day, _, part = str(value).partition(":")
        if not day.isdigit() or not 0 <= int(day) <= 6 or part not in parts:
            raise SchedulingError("availability", "choose half-days from the list")
        blocks.append([int(day), *parts[part]])
    return blocks


def join(db: CarnetSession, data: dict[str, Any], practitioner_ids: list[int]) -> WaitingEntry:
    """Register a file from the public intake form on the chosen practitioners' lists."""
    name = free_text("full_name", str(data.get("full_name") or ""))
    email = str(data.get("email") or "").strip().lower()
    phone = str(data.get("phone") or "").strip()
    situation = free_text("situation", str(data.get("situation") or ""))
    prescription = free_text("prescription", str(data.get("prescription") or ""))
    age = str(data.get("age_years") or "").strip()
    if not name or len(name) > 200:
        raise SchedulingError("full_name", "give the patient's name")
    if not re.match(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$", email):
        raise SchedulingError("email", "give a valid e-mail address: offers are sent there")
    if phone and (len(phone) > 30 or sum(c.isdigit() for c in phone) < 9):
        raise SchedulingError("phone", "give a phone number such as 06 12 34 56 78, or leave it empty")
    if not situation or len(situation) > 4000:
        raise SchedulingError("situation", "describe the situation in a few words (4000 characters at most)")
    if len(prescription) > 1000:
        raise SchedulingError("prescription", "1000 characters at most")
    if age and (not age.isdigit() or not 0 <= int(age) <= 120):
        raise SchedulingError("age_years", "give the age in years")
    chosen = sorted({int(p) for p in practitioner_ids})
    if not chosen or any(not is_practitioner(db, p) for p in chosen):
        raise SchedulingError("practitioners", "choose at least one practitioner of this practice")
    availability = parse_availability(data.get("availability"))
    first, last = split_name(name)
    birth_date = str(data.get("birth_date") or "").strip()
    rows = guardians_of(data.get("guardians"))
    guardians = [g for _, g in rows]
    # what the registry will refuse when an offer is accepted, refused now while the family can fix it
    check_with_registry({"first_name": first, "last_name": last, "email": email, "phone": phone,
                         "birth_date": birth_date}, {"first_name": "full_name", "last_name": "full_name"})
    check_guardians(rows)
    if not links.contact_allowed(db, email):
        raise SchedulingError("email", "too many requests for this address; please try again in a few minutes")
    entry = WaitingEntry(availability=json.dumps(availability), urgent=str(data.get("urgent")) in ("1", "on", "true"))
    db.add(entry)
    db.flush()
    for field_name, value in (("full_name", name), ("email", email), ("phone", phone), ("situation", situation),
                              ("prescription", prescription), ("age_years", age), ("birth_date", birth_date),
                              ("guardians", json.dumps(guardians) if guardians else "")):
        seal(db, entry, field_name, value or None)
    db.add(entry)
    for practitioner_id in chosen:
        db.add(WaitingListing(entry_id=entry.id, practitioner_id=practitioner_id))
    db.flush()
    enqueue(db, MESSAGE_ACTOR, "waitlist_received", entry.id)
    return entry


def add_patient(db: CarnetSession, patient_id: int, practitioner_ids: list[int], actor_id: int | None, *,
                availability: Any = None, urgent: bool = False, situation: str = "",
                prescription: str = "") -> WaitingEntry:
    """Staff put a patient of the practice on practitioners' waiting lists (the patient chosen from
    the registry's search, never typed). The file holds no copy of the contact: offers go to the
    patient's registered address. A list of the practitioner who adds it is accepted at once; the
    others wait for their practitioner's triage, as a family's request does."""
    chosen = sorted({int(p) for p in practitioner_ids})
    if not chosen or any(not is_practitioner(db, p) for p in chosen):
        raise SchedulingError("practitioners", "choose at least one practitioner of this practice")
    blocks = parse_availability(availability)
    situation = free_text("situation", situation)
    prescription = free_text("prescription", prescription)
    if len(situation) > 4000:
        raise SchedulingError("situation", "describe the situation in a few words (4000 characters at most)")
    if len(prescription) > 1000:
        raise SchedulingError("prescription", "1000 characters at most")
    waiting = set(db.exec(select(WaitingListing.practitioner_id).join(
        WaitingEntry, WaitingEntry.id == WaitingListing.entry_id).where(
        WaitingEntry.patient_id == patient_id, WaitingEntry.status == ACTIVE,
        WaitingListing.state.in_(("new", "accepted")))).all())  # type: ignore[attr-defined]
    if waiting & set(chosen):
        raise SchedulingError("practitioners", "this patient is already on this practitioner's waiting list")
    entry = WaitingEntry(patient_id=patient_id, availability=json.dumps(blocks), urgent=urgent)
    db.add(entry)
    db.flush()
    for field_name, value in (("situation", situation), ("prescription", prescription)):
        seal(db, entry, field_name, value or None)
    db.add(entry)
    now = utcnow()
    for practitioner_id in chosen:
        own = practitioner_id == actor_id
        db.add(WaitingListing(entry_id=entry.id, practitioner_id=practitioner_id, state="accepted" if own else "new",
                              triaged_at=now if own else None))
    db.flush()
    record(db, action="create", resource_type="scheduling_waiting_entry", resource_id=entry.id,
           patient_id=patient_id, details={"practitioners": len(chosen), "by": "staff"})
    return entry


def ask_for_earlier(db: CarnetSession, appt: Appointment) -> WaitingEntry:
    """An existing patient asks to be offered an earlier slot with the same practitioner."""
    existing = db.exec(select(WaitingEntry).where(
        WaitingEntry.earlier_than_appointment_id == appt.id, WaitingEntry.status == ACTIVE)).first()
    if existing is not None:
        return existing
    entry = WaitingEntry(patient_id=appt.patient_id, earlier_than_appointment_id=appt.id)
    db.add(entry)
    db.flush()
    db.add(WaitingListing(entry_id=entry.id, practitioner_id=appt.practitioner_id, state="accepted",
                          triaged_at=utcnow()))
    db.flush()
    return entry


def triage(db: CarnetSession, listing_id: int, practitioner_id: int, action: str, priority: int | None = None,
           message: str | None = None) -> WaitingListing:
    listing = db.exec(select(WaitingListing).where(WaitingListing.id == listing_id)).first()
    if listing is None or listing.practitioner_id != practitioner_id:
        raise NotFound("waiting listing")
    if action not in ("accept", "refuse", "priority"):
        raise SchedulingError("action", "use accept, refuse or priority")
    if action == "accept":
        listing.state = "accepted"
    elif action == "refuse":
        text = free_text("message", message)
        if not text or len(text) > 2000:
            raise SchedulingError("message", "write a short message for the patient (2000 characters at most)")
        listing.state = "refused"
        seal(db, listing, "refusal_message", text)
        enqueue(db, MESSAGE_ACTOR, "waitlist_refused", listing.id)
    if priority is not None:
        if not -5 <= priority <= 5:
            raise SchedulingError("priority", "between -5 and 5")
        listing.priority = priority
    listing.triaged_at = utcnow()
    db.add(listing)
    db.flush()
    return listing


def _age(db: CarnetSession, entry: WaitingEntry) -> int | None:
    raw = readable(open_or_unreadable(db, entry, "age_years")) if entry.age_years is not None else None
    return int(raw) if raw and raw.isdigit() else None  # damaged: no age points (reported by core)


def score(db: CarnetSession, entry: WaitingEntry, listing: WaitingListing, rules: PriorityRules,
          now: datetime | None = None) -> tuple[int, dict[str, int]]:
    """The file's points on this list, and their parts (shown to the practitioner)."""
    now = now or utcnow()
    months = max(0, (now - entry.created_at).days // 30)
    age = _age(db, entry)
    parts = {
        "waiting": months * rules.per_month,
        "urgent": rules.urgent if entry.urgent else 0,
        "child": rules.child if age is not None and age < 18 else 0,
        "triage": listing.priority * rules.per_triage_step,
    }
    return sum(parts.values()), parts


def ranked(db: CarnetSession, practitioner_id: int, rules: PriorityRules, states: tuple[str, ...] = ("new", "accepted"),
           now: datetime | None = None) -> list[tuple[WaitingListing, WaitingEntry, int, dict[str, int]]]:
    rows = db.exec(select(WaitingListing, WaitingEntry).join(WaitingEntry, WaitingEntry.id == WaitingListing.entry_id)
                   .where(WaitingListing.practitioner_id == practitioner_id, WaitingEntry.status == ACTIVE)).all()
    result = []
    for listing, entry in rows:
        if listing.state not in states:
            continue
        points, parts = score(db, entry, listing, rules, now)
        result.append((listing, entry, points, parts))
    result.sort(key=lambda r: (-r[2], r[1].created_at, r[1].id))
    return result


def _fits(entry: WaitingEntry, starts_at: datetime, ends_at: datetime, tz: str) -> bool:
    blocks = json.loads(entry.availability or "[]")
    if not blocks:
        return True
    start, end = to_local(starts_at, tz), to_local(ends_at, tz)
    for weekday, first, last in blocks:
        inside = time.fromisoformat(first) <= start.time() and end.time() <= time.fromisoformat(last)
        if start.weekday() == weekday and inside:
            return True
    return False


def offer_freed_slot(db: CarnetSession, freed: Appointment, rules: WaitRules, priorities: PriorityRules,
                     now: datetime | None = None, exclude_entries: set[int] | None = None) -> list[Offer]:
    """Offer the time of a cancelled appointment to the best matching files (accepted on the
    practitioner's list, available then, not already holding an open offer)."""
    now = now or utcnow()
    if freed.starts_at <= now + timedelta(hours=2) or _time_off(db, freed):
        return []
    tz = clinic_tz(db)
    # A file holds one open offer at a time: the files that may be offered this time are held
    # (in id order) before their open offers are read, so that two freed times offered at once
    # (a cancelled day's jobs on several workers) cannot both see a file free and offer it both.
    db.exec(select(WaitingEntry.id).join(WaitingListing, WaitingListing.entry_id == WaitingEntry.id).where(
        WaitingListing.practitioner_id == freed.practitioner_id, WaitingEntry.status == ACTIVE,
    ).order_by(WaitingEntry.id).with_for_update(of=WaitingEntry)).all()
    open_offers = {o.entry_id for o in db.exec(select(Offer).where(Offer.status == "offered"))}
    already = {o.entry_id for o in db.exec(select(Offer).where(
        Offer.practitioner_id == freed.practitioner_id, Offer.starts_at == freed.starts_at))}
    skip = open_offers | already | (exclude_entries or set())
    candidates = []
    ordered = ranked(db, freed.practitioner_id, priorities, states=("accepted",), now=now)
    for _listing, entry, _points, _parts in ordered:
        if entry.id in skip or not _fits(entry, freed.starts_at, freed.ends_at, tz):
            continue
        if entry.earlier_than_appointment_id is not None:
            later = db.exec(select(Appointment).where(Appointment.id == entry.earlier_than_appointment_id)).first()
            if later is None or later.status != BOOKED or later.starts_at <= freed.starts_at:
                continue
        candidates.append(entry)
        if len(candidates) >= rules.offers_per_slot:
            break
    expires = min(now + rules.offer_for, freed.starts_at - timedelta(hours=1))
    offers = []
    for entry in candidates:
        offer = Offer(entry_id=entry.id, freed_appointment_id=freed.id, practitioner_id=freed.practitioner_id,
                      appointment_type_id=freed.appointment_type_id, room_id=freed.room_id,
                      starts_at=freed.starts_at, ends_at=freed.ends_at, expires_at=expires)
        db.add(offer)
        db.flush()
        enqueue(db, MESSAGE_ACTOR, "offer", offer.id)
        offers.append(offer)
    return offers


def _time_off(db: CarnetSession, freed: Appointment) -> bool:
    """The practitioner is away (a cancelled day, a holiday) or the clinic closed at that time."""
    from sqlalchemy import or_

    from carnet_scheduling.models import AvailabilityException

    return db.exec(select(AvailabilityException.id).where(
        or_(AvailabilityException.practitioner_id == freed.practitioner_id,
            AvailabilityException.practitioner_id.is_(None)),  # type: ignore[union-attr]
        AvailabilityException.starts_at < freed.ends_at, AvailabilityException.ends_at > freed.starts_at,
    )).first() is not None


OPEN_SLOTS_ACTOR = "scheduling.offer_open_slots"


def offer_open_slots(db: CarnetSession, practitioner_id: int, rules: WaitRules, priorities: PriorityRules,
                     now: datetime | None = None) -> list[Offer]:
    """Offer again the practitioner's freed times that nobody holds an offer for: still free, to
    come, neither offered now nor accepted. A file holds one open offer at a time, so when a day
    is cancelled its first time may take every waiting file and the others find nobody; once
    those offers close (taken by another file, declined, lapsed) the files are free again and
    the day's other times go to them."""
    from sqlalchemy import exists

    from carnet_scheduling.models import CANCELLED

    now = now or utcnow()
    held = exists().where(Offer.practitioner_id == Appointment.practitioner_id,
                          Offer.starts_at == Appointment.starts_at,
                          Offer.status.in_(("offered", "accepted")))  # type: ignore[attr-defined]
    freed = db.exec(select(Appointment).where(
        Appointment.practitioner_id == practitioner_id, Appointment.status == CANCELLED,
        Appointment.starts_at > now + timedelta(hours=2), ~held,
    ).order_by(Appointment.starts_at, Appointment.id)).all()
    offers: list[Offer] = []
    seen: set[datetime] = set()
    for appt in freed:
        if appt.starts_at in seen or appts.overlapping(db, appt.starts_at, appt.ends_at,
                                                       practitioner_id=appt.practitioner_id, room_id=appt.room_id):
            continue
        seen.add(appt.starts_at)
        offers += offer_freed_slot(db, appt, rules, priorities, now=now)
    return offers


def _patient_for(db: CarnetSession, entry: WaitingEntry, practitioner_id: int) -> int:
    if entry.patient_id is not None:
        return entry.patient_id
    from carnet_scheduling.services.booking import find_or_create_patient

    first, last = split_name(open_(db, entry, "full_name") or "")
    contact: dict[str, Any] = {
        "first_name": first, "last_name": last, "email": open_(db, entry, "email") or "",
        "phone": open_(db, entry, "phone") or "", "birth_date": open_(db, entry, "birth_date") or "",
    }
    guardians = open_(db, entry, "guardians")
    if guardians:
        contact["guardians"] = json.loads(guardians)
    patient_id = find_or_create_patient(db, contact, practitioner_id, allow_new=True)
    entry.patient_id = patient_id
    return patient_id


def accept_offer(db: CarnetSession, link: Any, hooks: Any, now: datetime | None = None) -> Appointment:
    """Book the offered slot for the file; SlotTaken when someone else accepted first."""
    now = now or utcnow()
    offer = db.exec(select(Offer).where(Offer.id == link.subject_id)).first()
    if offer is None:
        raise NotFound("offer")
    if offer.status != "offered" or offer.expires_at <= now:
        raise SchedulingError("offer", "this offer is closed")
    entry = db.exec(select(WaitingEntry).where(WaitingEntry.id == offer.entry_id)).first()
    assert entry is not None
    try:
        patient_id = _patient_for(db, entry, offer.practitioner_id)
    except SchedulingError as exc:
        # a file taken before intake checked like the registry: never "closed" for the family and
        # "offered" for staff; the offer says why, and the log says which field (no patient data)
        offer.status, offer.answered_at = CONTACT_REFUSED, now
        db.add(offer)
        db.flush()
        log.warning("waiting-list offer %s: the registry refused the file's %s; the family is asked to call, "
                    "the waiting list shows it to staff", offer.id, exc.field)
        raise ContactRefused(exc.field) from exc
    kind = db.exec(select(AppointmentType).where(AppointmentType.id == offer.appointment_type_id)).first()
    assert kind is not None
    appt = appts.book(db, practitioner_id=offer.practitioner_id, patient_id=patient_id,
                      appointment_type_id=offer.appointment_type_id, starts_at=offer.starts_at, ends_at=offer.ends_at,
                      room_id=offer.room_id, source="waitlist", hooks=hooks)
    links.use(db, link, action="accept", resource_type="scheduling_offer")
    offer.status, offer.answered_at, offer.booked_appointment_id = "accepted", now, appt.id
    db.add(offer)
    for other in db.exec(select(Offer).where(Offer.practitioner_id == offer.practitioner_id,
                                             Offer.starts_at == offer.starts_at, Offer.status == "offered")):
        other.status, other.answered_at = "taken", now
        db.add(other)
        links.revoke(db, ("scheduling_offer", other.id))
    enqueue(db, OPEN_SLOTS_ACTOR, offer.practitioner_id)  # the files whose offer was taken: the other times
    later_id = entry.earlier_than_appointment_id
    entry.status = BOOKED_ENTRY
    db.add(entry)
    db.flush()
    if later_id is not None:
        later = db.exec(select(Appointment).where(Appointment.id == later_id)).first()
        if later is not None and later.status == BOOKED:
            appts.cancel(db, later, "moved to an earlier slot from the waiting list", hooks=hooks)
    enqueue(db, MESSAGE_ACTOR, "booking_confirmed", appt.id)
    enqueue(db, MESSAGE_ACTOR, "practitioner_booked", appt.id)
    return appt


def decline_offer(db: CarnetSession, link: Any) -> Offer:
    offer = db.exec(select(Offer).where(Offer.id == link.subject_id)).first()
    if offer is None:
        raise NotFound("offer")
    links.use(db, link, action="decline", resource_type="scheduling_offer")
    if offer.status == "offered":
        offer.status, offer.answered_at = "declined", utcnow()
        db.add(offer)
        enqueue(db, OPEN_SLOTS_ACTOR, offer.practitioner_id)  # the time to the next files, the file to other times
    return offer


def expire_offers(db: CarnetSession, rules: WaitRules, priorities: PriorityRules, now: datetime | None = None) -> int:
    """Close lapsed offers; a slot still free is offered to the next files."""
    now = now or utcnow()
    lapsed = list(db.exec(select(Offer).where(Offer.status == "offered", Offer.expires_at <= now)))
    slots: dict[tuple[int, datetime], Offer] = {}
    for offer in lapsed:
        offer.status = "expired"
        db.add(offer)
        slots[(offer.practitioner_id, offer.starts_at)] = offer
    db.flush()
    for (_practitioner_id, _start), offer in slots.items():
        if offer.freed_appointment_id is None:
            continue
        freed = db.exec(select(Appointment).where(Appointment.id == offer.freed_appointment_id)).first()
        if freed is None or appts.overlapping(db, freed.starts_at, freed.ends_at,
                                              practitioner_id=freed.practitioner_id, room_id=freed.room_id):
            continue
        offer_freed_slot(db, freed, rules, priorities, now=now)
    for practitioner_id in sorted({practitioner_id for practitioner_id, _start in slots}):
        offer_open_slots(db, practitioner_id, rules, priorities, now=now)  # the lapsed files, to other times
    return len(lapsed)


def still_interested_round(db: CarnetSession, rules: WaitRules, now: datetime | None = None) -> tuple[int, int]:
    """Ask files unconfirmed for too long whether they still wait; remove those that stayed silent.
    Returns (asked, removed)."""
    now = now or utcnow()
    asked = removed = 0
    for entry in db.exec(select(WaitingEntry).where(WaitingEntry.status == ACTIVE)).all():
        if entry.reconfirm_sent_at is not None and entry.reconfirm_sent_at > entry.last_confirmed_at:
            if entry.reconfirm_sent_at + rules.reply_within <= now:
                entry.status, entry.removed_reason = REMOVED, "silent"
                db.add(entry)
                removed += 1
        elif entry.last_confirmed_at + rules.reconfirm_every <= now and entry.email is not None:
            entry.reconfirm_sent_at = now
            db.add(entry)
            enqueue(db, MESSAGE_ACTOR, "waitlist_reconfirm", entry.id)
            asked += 1
    db.flush()
    return asked, removed


def answer_still_interested(db: CarnetSession, link: Any, interested: bool) -> WaitingEntry:
    entry = db.exec(select(WaitingEntry).where(WaitingEntry.id == link.subject_id)).first()
    if entry is None or entry.status != ACTIVE:
        raise NotFound("waiting entry")
    links.use(db, link, action="confirm" if interested else "withdraw", resource_type="scheduling_waiting_entry")
    if interested:
        entry.last_confirmed_at, entry.reconfirm_sent_at = utcnow(), None
    else:
        entry.status, entry.removed_reason = REMOVED, "withdrawn"
    db.add(entry)
    db.flush()
    return entry


def read_refusal(db: CarnetSession, link: Any) -> str:
    """The practitioner's message to a refused file, read through its link (audited)."""
    listing = db.exec(select(WaitingListing).where(WaitingListing.id == link.subject_id)).first()
    if listing is None or listing.refusal_message is None:
        raise NotFound("message")
    links.use(db, link, action="read", resource_type="scheduling_waiting_listing")
    return open_(db, listing, "refusal_message") or ""


def offers_made(db: CarnetSession, practitioner_id: int | None = None,
                limit: int = 200) -> list[tuple[Offer, WaitingEntry]]:
    query = select(Offer, WaitingEntry).join(WaitingEntry, WaitingEntry.id == Offer.entry_id)
    if practitioner_id is not None:
        query = query.where(Offer.practitioner_id == practitioner_id)
    return list(db.exec(query.order_by(Offer.created_at.desc()).limit(limit)).all())  # type: ignore[attr-defined]


# --- messages (called by jobs.send_message through outgoing.prepare) ----------------------------


def prepare_message(db: CarnetSession, kind: str, subject_id: int, settings: Any, lang: Any) -> Any:
    """The waiting-list e-mails: request received, refusal, "still interested?", offers."""
    from carnet_core.plugin_api import Clinic

    if kind == "offer":
        return prepare_offer(db, subject_id, settings, lang)
    listing_id = None
    if kind == "waitlist_refused":
        listing = db.exec(select(WaitingListing).where(WaitingListing.id == subject_id)).first()
        if listing is None:
            return None
        listing_id, subject_id = listing.id, listing.entry_id
    entry = db.exec(select(WaitingEntry).where(WaitingEntry.id == subject_id)).first()
    if entry is None:
        return None
    email = _entry_email(db, entry)
    if not email:
        return None
    clinic = db.get(Clinic, entry.clinic_id)
    context = {"clinic_name": clinic.name if clinic else "", "listing_id": listing_id}
    return _waitlist_message(db, kind, entry, email, context, clinic, settings, lang)


def _entry_email(db: CarnetSession, entry: WaitingEntry) -> str | None:
    from carnet_scheduling.services.contacts import patient_contact

    if entry.email is not None:
        return open_(db, entry, "email")
    contact = patient_contact(db, entry.patient_id) if entry.patient_id else None
    return contact.email if contact else None


def _waitlist_message(db: CarnetSession, kind: str, entry: WaitingEntry, email: str, context: dict[str, Any],
                      clinic: Any, settings: Any, lang: Any) -> Any:
    from carnet_scheduling import messages
    from carnet_scheduling.outgoing import Prepared

    if kind == "waitlist_received":
        subject = messages.translate(lang, "Your request for the waiting list is registered")
    elif kind == "waitlist_refused":
        # The practitioner's words may be about health: they are read on a page, not in the e-mail.
        issued = links.issue(db, purpose=READ_MESSAGE, subject_type="scheduling_waiting_listing",
                             subject_id=context["listing_id"], patient_id=entry.patient_id,
                             expires_in=timedelta(days=30), max_uses=5)
        context["message_url"] = messages.public_url(settings, clinic, f"m/{issued.token}")
        subject = messages.translate(lang, "About your waiting-list request")
    elif kind == "waitlist_reconfirm":
        issued = links.issue(db, purpose=STILL_INTERESTED, subject_type="scheduling_waiting_entry",
                             subject_id=entry.id, patient_id=entry.patient_id, expires_in=timedelta(days=30))
        context["answer_url"] = messages.public_url(settings, clinic, f"w/{issued.token}")
        subject = messages.translate(lang, "Are you still waiting for an appointment?")
    else:
        raise ValueError(kind)
    return Prepared(to=email, subject=subject, text=messages.render(lang, f"scheduling/messages/{kind}.txt", context),
                    resource_type="scheduling_waiting_entry", patient_id=entry.patient_id)


def prepare_offer(db: CarnetSession, offer_id: int, settings: Any, lang: Any) -> Any:
    from carnet_core.plugin_api import Clinic, User
    from carnet_scheduling import messages
    from carnet_scheduling.outgoing import Prepared

    offer = db.exec(select(Offer).where(Offer.id == offer_id)).first()
    if offer is None or offer.status != "offered" or offer.expires_at <= utcnow():
        return None
    entry = db.exec(select(WaitingEntry).where(WaitingEntry.id == offer.entry_id)).first()
    if entry is None or entry.status != ACTIVE:
        return None
    email = _entry_email(db, entry)
    if not email:
        return None
    clinic = db.get(Clinic, offer.clinic_id)
    user = db.get(User, offer.practitioner_id)
    issued = links.issue(db, purpose=OFFER, subject_type="scheduling_offer", subject_id=offer.id,
                         patient_id=entry.patient_id, expires_at=offer.expires_at)
    context = {
        "clinic_name": clinic.name, "when": messages.when_text(offer.starts_at, clinic.timezone, lang.locale),
        "practitioner": user.display_name if user else "",
        "offer_url": messages.public_url(settings, clinic, f"o/{issued.token}"),
        "until": messages.when_text(offer.expires_at, clinic.timezone, lang.locale),
    }
    subject = messages.translate(lang, "An appointment has freed up: %(when)s", when=context["when"])
    return Prepared(to=email, subject=subject,
                    text=messages.render(lang, "scheduling/messages/offer.txt", context),
                    resource_type="scheduling_offer", patient_id=entry.patient_id)
