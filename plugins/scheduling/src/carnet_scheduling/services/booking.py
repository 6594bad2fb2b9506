"""Online booking without a patient account, and what patients do through their links: confirm,
cancel (reason required, before the clinic's cut-off) or move.

Slots come from `availability.find_slots` (online-bookable types only, with the online notice and
horizon); bookings go through `appointments.book`, so the database's no-double-booking
constraint decides between two patients clicking the same slot. A booking holds its slot until
the patient confirms it (one-time code or e-mailed link); unconfirmed bookings are released.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import CarnetSession, enqueue, links, utcnow
from carnet_scheduling.models import BOOKED, Appointment, AppointmentType, WorkingHours
from carnet_scheduling.patient_models import OnlineBooking
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services.availability import find_slots
from carnet_scheduling.services.contacts import check_guardians, check_with_registry, guardians_of
from carnet_scheduling.services.context import practitioners
from carnet_scheduling.services.errors import SchedulingError, free_text
from carnet_scheduling.services.slots import Slot

CONFIRM = "scheduling.confirm"  # the page where the patient types the e-mailed code
CONFIRM_MAIL = "scheduling.confirm_mail"  # the link in the e-mail that confirms by itself
MANAGE = "scheduling.manage"
MESSAGE_ACTOR = "scheduling.send_message"
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")


@dataclass(frozen=True)
class OnlineRules:
    min_notice: timedelta
    horizon: timedelta
    confirm_within: timedelta
    cancel_cutoff: timedelta
    holiday_region: str = "metropole"

    @classmethod
    def from_settings(cls, s: Any) -> OnlineRules:
        return cls(timedelta(hours=s.online_min_notice_hours), timedelta(days=s.online_horizon_days),
                   timedelta(minutes=s.confirm_minutes), timedelta(hours=s.cancel_cutoff_hours), s.holiday_region)


def online_types(db: CarnetSession) -> list[AppointmentType]:
    return list(db.exec(select(AppointmentType).where(
        AppointmentType.bookable_online == True, AppointmentType.active == True  # noqa: E712
    ).order_by(AppointmentType.name)))


def online_practitioners(db: CarnetSession) -> list[Any]:
    """Practitioners who have working hours (and so can have free slots)."""
    with_hours = set(db.exec(select(WorkingHours.practitioner_id)).all())
    return [p for p in practitioners(db) if p.id in with_hours]


def offered_types(db: CarnetSession, people: list[Any]) -> dict[int, list[AppointmentType]]:
    """Practitioner id -> the online types they offer: their profession's and every profession's."""
    from carnet_scheduling.services.setup import offers_type, professions

    of = professions(db)
    kinds = online_types(db)
    return {p.id: [k for k in kinds if offers_type(of.get(p.id), k)] for p in people}


def public_slots(db: CarnetSession, practitioner_id: int, type_id: int, rules: OnlineRules,
                 start: datetime | None = None, days: int = 14, now: datetime | None = None) -> list[Slot]:
    from carnet_scheduling.services.setup import offers_type, professions

    kind = db.exec(select(AppointmentType).where(AppointmentType.id == type_id)).first()
    if kind is None or not offers_type(professions(db).get(practitioner_id), kind):
        raise SchedulingError("appointment_type_id", "this practitioner does not offer this kind of appointment")
    now = now or utcnow()
    start = max(start or now, now)
    end = start + timedelta(days=days)
    return find_slots(db, practitioner_id, type_id, start, end, now=now, min_notice=rules.min_notice,
                      horizon=rules.horizon, online_only=True, holiday_region=rules.holiday_region)


@dataclass(frozen=True)
class PublicWeek:
    """A week of the public booking page: its Monday, the free times per local day (days without
    one left out), and the Mondays of the weeks around it that may be shown (None at the ends)."""

    monday: date
    days: list[tuple[date, list[Slot]]]
    previous: date | None
    next: date | None


def week_asked(raw: str | None) -> date | None:
    """The week a visitor asked for (`?week=2026-12-07`, any day of it), None when absent or not a date."""
    try:
        return date.fromisoformat(raw.strip()[:10]) if raw else None
    except ValueError:
        return None


def public_week(db: CarnetSession, practitioner_id: int, type_id: int, rules: OnlineRules, tz: str,
                asked: date | None = None, now: datetime | None = None) -> PublicWeek:
    """The free times of one week (local Monday to Sunday) within the booking horizon. Without
    `asked`, the first week from this one that has a free time (this week when none has)."""
    from carnet_scheduling.services.calendar import local_date, local_to_utc, to_local

    now = now or utcnow()
    today = local_date(now, tz)
    first = today - timedelta(days=today.weekday())
    last = local_date(now + rules.horizon, tz)
    last = last - timedelta(days=last.weekday())
    wanted = first if asked is None else min(max(asked - timedelta(days=asked.weekday()), first), last)

    def slots_of(monday: date) -> list[Slot]:
        found = public_slots(db, practitioner_id, type_id, rules, start=local_to_utc(monday, time(0), tz), days=8,
                             now=now)  # 8: a week that changes clocks is an hour longer or shorter
        return [s for s in found if monday <= to_local(s.start, tz).date() < monday + timedelta(days=7)]

    monday, found = wanted, slots_of(wanted)
    while asked is None and not found and monday < last:
        monday += timedelta(days=7)
        found = slots_of(monday)
    if asked is None and not found:
        monday = first
    by_day: dict[date, list[Slot]] = {}
    for slot in found:
        by_day.setdefault(to_local(slot.start, tz).date(), []).append(slot)
    return PublicWeek(monday, sorted(by_day.items()), monday - timedelta(days=7) if monday > first else None,
                      monday + timedelta(days=7) if monday < last else None)


def _slot_is_free(db: CarnetSession, practitioner_id: int, type_id: int, starts_at: datetime,
                  rules: OnlineRules) -> Slot:
    for slot in public_slots(db, practitioner_id, type_id, rules, start=starts_at - timedelta(minutes=1), days=1):
        if slot.start == starts_at:
            return slot
    raise SchedulingError("starts_at", "this time is not free any more; please choose another one")


def clean_contact(data: dict[str, Any]) -> dict[str, Any]:
    """Validate the booking form's identity fields; SchedulingError names the first bad one.

    For a child (`for` = "child") the form gives the child's names and birth date and each holder
    of parental authority (`guardians`: rows of relation, names, e-mail, phone, whether they may
    receive messages) with the row of the main contact (`main`): the confirmation and the
    patient's messages go to that holder's e-mail and phone. Everything is checked as core's
    registry will check it before anything is written."""
    if str(data.get("for") or "") == "child":
        return _clean_child(data)
    first = free_text("first_name", str(data.get("first_name") or ""))
    last = free_text("last_name", str(data.get("last_name") or ""))
    email = str(data.get("email") or "").strip().lower()
    phone = str(data.get("phone") or "").strip()
    if not first or len(first) > 100:
        raise SchedulingError("first_name", "give your first name")
    if not last or len(last) > 100:
        raise SchedulingError("last_name", "give your last name")
    if not _EMAIL_RE.match(email):
        raise SchedulingError("email", "give a valid e-mail address: the confirmation is sent there")
    if phone and (len(phone) > 30 or sum(c.isdigit() for c in phone) < 9):
        raise SchedulingError("phone", "give a phone number such as 06 12 34 56 78, or leave it empty")
    contact = {"first_name": first, "last_name": last, "email": email, "phone": phone}
    check_with_registry(contact)  # what the registry refuses when the booking is confirmed
    return contact


def _clean_child(data: dict[str, Any]) -> dict[str, Any]:
    first = free_text("first_name", str(data.get("first_name") or ""))
    last = free_text("last_name", str(data.get("last_name") or ""))
    birth_date = str(data.get("birth_date") or "").strip()
    if not first or len(first) > 100:
        raise SchedulingError("first_name", "give the child's first name")
    if not last or len(last) > 100:
        raise SchedulingError("last_name", "give the child's last name")
    if not birth_date:
        raise SchedulingError("birth_date", "give the birth date (day/month/year, not in the future)")
    check_with_registry({"first_name": first, "last_name": last, "birth_date": birth_date})
    rows = guardians_of(data.get("guardians"))
    if not rows:
        raise SchedulingError("g0_last_name", "give at least one holder of parental authority")
    main = str(data.get("main") or "0")
    chosen = [g for index, g in rows if str(index) == main]
    if not chosen:
        raise SchedulingError("main", "choose as main contact a holder whose details you gave")
    contact = chosen[0]
    contact["main_contact"] = contact["may_receive_messages"] = True  # the confirmation goes to them
    email = str(contact.get("email") or "").strip().lower()
    if not _EMAIL_RE.match(email):
        raise SchedulingError(f"g{main}_email",
                              "give the main contact's e-mail address: the confirmation is sent there")
    check_guardians(rows)
    phone = str(contact.get("phone") or "")
    check_with_registry({"first_name": first, "last_name": last, "email": email, "phone": phone},
                        {"email": f"g{main}_email", "phone": f"g{main}_phone"})
    return {"first_name": first, "last_name": last, "birth_date": birth_date, "email": email, "phone": phone,
            "guardians": [g for _, g in rows]}


def find_or_create_patient(db: CarnetSession, contact: dict[str, Any], practitioner_id: int,
                           allow_new: bool) -> int:
    """The clinic's patient with this e-mail and last name (core's exact match; for a child also
    the first name and birth date: siblings share a parent's e-mail), else a new one registered
    through core's registry, acting as "the online booking"."""
    from carnet_core.plugin_api import PatientInvalid, Principal, patient_access

    principal = Principal(kind="patient_link", clinic_id=db.clinic_id, extra={"actor_id": "online-booking"})
    patients = patient_access(db, principal)
    if contact.get("guardians"):
        found = patients.find(email=contact["email"], last_name=contact["last_name"],
                              first_name=contact["first_name"], birth_date=contact.get("birth_date") or None)
    else:
        found = patients.find(email=contact["email"], last_name=contact["last_name"])
    if found is not None:
        return found
    if not allow_new:
        raise SchedulingError("appointment_type_id", "this kind of appointment is for patients already followed here")
    data: dict[str, Any] = {k: v for k, v in contact.items() if v}
    data["practitioner_id"] = practitioner_id
    try:
        return patients.register(data)
    except (PatientInvalid, ValueError) as exc:
        raise SchedulingError("phone" if "phone" in str(exc) else "email", "check your contact details") from exc


@dataclass(frozen=True)
class Requested:
    booking: OnlineBooking
    appointment: Appointment
    confirm_token: str


def request_booking(db: CarnetSession, *, practitioner_id: int, type_id: int, starts_at: datetime,
                    contact: dict[str, Any], rules: OnlineRules, hooks: Any) -> Requested:
    """Hold the slot for the patient and send them a code to confirm it."""
    clean = clean_contact(contact)
    kind = appts.get_type(db, type_id)
    if not (kind.bookable_online and kind.active):
        raise SchedulingError("appointment_type_id", "this kind of appointment cannot be booked online")
    slot = _slot_is_free(db, practitioner_id, type_id, starts_at, rules)
    if not links.contact_allowed(db, clean["email"]):
        raise SchedulingError("email", "too many requests for this address; please try again in a few minutes")
    patient_id = find_or_create_patient(db, clean, practitioner_id, kind.new_patients_allowed)
    appt = appts.book(db, practitioner_id=practitioner_id, patient_id=patient_id, appointment_type_id=type_id,
                      starts_at=slot.start, ends_at=slot.end, room_id=slot.room_id, place_id=slot.place_id,
                      source="online", hooks=hooks)
    confirm_by = utcnow() + rules.confirm_within
    issued = links.issue(db, purpose=CONFIRM, subject_type="scheduling_appointment", subject_id=appt.id,
                         patient_id=patient_id, expires_at=confirm_by, code_required=True, max_uses=1)
    booking = OnlineBooking(appointment_id=appt.id, link_id=issued.link.id, confirm_by=confirm_by)
    db.add(booking)
    db.flush()
    enqueue(db, MESSAGE_ACTOR, "booking_code", booking.id)
    return Requested(booking, appt, issued.token)


def recent_online(db: CarnetSession, limit: int = 200) -> list[tuple[OnlineBooking, Appointment]]:
    """The latest appointments booked from the public page, newest first (for staff's list)."""
    query = select(OnlineBooking, Appointment).join(Appointment, Appointment.id == OnlineBooking.appointment_id)
    return list(db.exec(query.order_by(OnlineBooking.created_at.desc()).limit(limit)).all())  # type: ignore[attr-defined]


PUBLIC_PAGES = {"book": "book", "waitlist": "waitlist"}  # the public addresses owners hand out (path under the clinic)


def public_address(base_url: str, clinic_slug: str, which: str) -> str:
    """The public booking or waiting-list address of the clinic (`which`: book, waitlist)."""
    return f"{base_url.rstrip('/')}/p/{clinic_slug}/scheduling/{PUBLIC_PAGES[which]}"


def qr_svg(address: str, title: str, scale: int = 6) -> str:
    """The address as a QR code, inline SVG made here (segno; nothing asked of another host)."""
    import segno

    return str(segno.make(address, error="m").svg_inline(scale=scale, border=4, dark="#000", light="#fff", title=title,
                                                         svgclass="qr", omitsize=True))


def booking_of(db: CarnetSession, appointment_id: int) -> OnlineBooking | None:
    return db.exec(select(OnlineBooking).where(OnlineBooking.appointment_id == appointment_id)).first()


def confirm(db: CarnetSession, link: Any) -> Appointment:
    """Confirm the booking the link is about (its code checked by the caller, or an e-mailed link)."""
    appt = appts.get_appointment(db, link.subject_id)
    booking = booking_of(db, appt.id)
    if booking is None or booking.released_at is not None or appt.status != BOOKED:
        raise SchedulingError("appointment", "this booking was released; please book again")
    links.use(db, link, action="confirm", resource_type="appointment")
    if booking.confirmed_at is None:
        booking.confirmed_at = utcnow()
        db.add(booking)
        links.revoke(db, ("scheduling_appointment", appt.id), purpose=CONFIRM)
        links.revoke(db, ("scheduling_appointment", appt.id), purpose=CONFIRM_MAIL)
        enqueue(db, MESSAGE_ACTOR, "booking_confirmed", appt.id)
        enqueue(db, MESSAGE_ACTOR, "practitioner_booked", appt.id)
    return appt


def release_unconfirmed(db: CarnetSession, hooks: Any, now: datetime | None = None) -> int:
    """Cancel online bookings whose confirmation did not come in time (the slot frees)."""
    now = now or utcnow()
    count = 0
    for booking in db.exec(select(OnlineBooking).where(
        OnlineBooking.confirmed_at.is_(None), OnlineBooking.released_at.is_(None),  # type: ignore[union-attr]
        OnlineBooking.confirm_by < now,
    )).all():
        appt = appts.get_appointment(db, booking.appointment_id)
        booking.released_at = now
        db.add(booking)
        if appt.status == BOOKED:
            appts.cancel(db, appt, "not confirmed online in time", hooks=hooks)
        count += 1
    return count


def check_cutoff(appt: Appointment, rules: OnlineRules, now: datetime | None = None) -> None:
    if appt.starts_at - (now or utcnow()) < rules.cancel_cutoff:
        raise SchedulingError("cutoff", "changes through the link are closed this close to the appointment; "
                                        "please call the practice")


def cancel_by_patient(db: CarnetSession, link: Any, reason: str, rules: OnlineRules, hooks: Any) -> Appointment:
    appt = appts.get_appointment(db, link.subject_id)
    if appt.status != BOOKED:
        raise SchedulingError("status", "this appointment is not booked any more")
    check_cutoff(appt, rules)
    appts.cancel(db, appt, (reason or "").strip(), hooks=hooks, audit=False)
    links.use(db, link, action="cancel", resource_type="appointment", details={"by": "patient"})
    links.revoke(db, ("scheduling_appointment", appt.id))
    enqueue(db, MESSAGE_ACTOR, "cancelled", appt.id)
    enqueue(db, MESSAGE_ACTOR, "practitioner_cancelled", appt.id)
    return appt


def move_by_patient(db: CarnetSession, link: Any, starts_at: datetime, rules: OnlineRules, hooks: Any) -> Appointment:
    appt = appts.get_appointment(db, link.subject_id)
    if appt.status != BOOKED:
        raise SchedulingError("status", "this appointment is not booked any more")
    check_cutoff(appt, rules)
    kind = appts.get_type(db, appt.appointment_type_id)
    if not kind.bookable_online:
        raise SchedulingError("starts_at", "this appointment can only be moved by the practice; please call")
    slot = _slot_is_free(db, appt.practitioner_id, appt.appointment_type_id, starts_at, rules)
    appts.move(db, appt, slot.start, slot.end, hooks=hooks, audit=False)
    links.use(db, link, action="move", resource_type="appointment", details={"by": "patient"})
    links.revoke(db, ("scheduling_appointment", appt.id))
    enqueue(db, MESSAGE_ACTOR, "booking_confirmed", appt.id)
    enqueue(db, MESSAGE_ACTOR, "practitioner_moved", appt.id)
    return appt
