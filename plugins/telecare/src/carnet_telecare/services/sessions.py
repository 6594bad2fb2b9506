"""Télésoin sessions. The practitioner plans one for a patient; the rules are checked then and
again when the patient joins and when the practitioner admits them, each with its French message:
consent to télésoin (core's question, the consent module's answer), care in the last months (an
in-person act, from the modules that record care), not an initial assessment (declared by the
practitioner), a parent or authorised adult present for a minor (confirmed by whoever joins). The
patient joins through a link e-mailed by a job (no patient data in it), usable only from a
quarter of an hour before the session to a quarter of an hour after it; the practitioner admits
them from the waiting room, then both browsers connect their video (services/signalling.py). Every
step is an event of the session (connections, reconnections and failures of the video too), sealed
with its report, which is pre-filled from them."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, select

from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    Clinic,
    FieldError,
    InvalidInput,
    NotFound,
    PatientErased,
    PatientForbidden,
    PatientNotFound,
    enqueue,
    links,
    local_datetime,
    open_or_unreadable,
    patient_access,
    purpose_allowed,
    readable,
    record,
    seal,
    utcnow,
)

from carnet_telecare.models import Profile, Session
from carnet_telecare.services import acts, rules, signalling
from carnet_telecare.services.rules import announce

JOIN = "telecare.join"  # link purpose: join one session's waiting room
MARGIN = timedelta(minutes=15)
INVITE_ACTOR = "telecare.invite"
REPORT_LIMIT = 5000

INITIAL = N_("télésoin is not allowed for an initial assessment: confirm this session is not one")
NOT_YET = N_("this link opens 15 minutes before the session")
OVER = N_("this session is over: ask the practice for a new appointment")
ADULT = N_("a parent or an authorised adult must be present during the session of a minor: confirm it")
NOT_WAITING = N_("the patient is not in the waiting room yet")
PAST = N_("choose a time to come")
IN_USE = N_("this session is already open in another browser")
NO_RECORDING = N_("the patient has not consented to the recording of sessions: recording stays off "
                  "(send them the recording consent form first)")
NOT_STARTED = N_("recording is possible only during the session, once the patient is admitted")
RECORDING_PURPOSE = "recording"  # core's consent question (purposes.py): off unless signed


def _refuse(name: str, code: str, message: str, **params: Any) -> InvalidInput:
    return InvalidInput({name: FieldError(code, message, **params)})


def _events(db: CarnetSession, session: Session) -> list[dict[str, Any]]:
    return json.loads(readable(open_or_unreadable(db, session, "events")) or "[]")


def _hold(db: CarnetSession, session: Session) -> None:
    """Take the session's row for writing, then read its events afresh: an event is appended to
    the list as it is now, never to a copy read before another request or socket wrote (which the
    write would erase). A no-op UPDATE locks the row on PostgreSQL and, on SQLite (whose transaction
    begins at the first write), takes the database's write lock."""
    db.exec(sa.update(Session).where(col(Session.id) == session.id).values(id=Session.id))  # type: ignore[call-overload]
    db.refresh(session, attribute_names=["events"])


def add_event(db: CarnetSession, session: Session, event: str, by: str) -> None:
    _hold(db, session)
    events = _events(db, session) if session.events else []
    events.append({"at": utcnow().isoformat(timespec="seconds"), "event": event, "by": by})
    seal(db, session, "events", json.dumps(events))
    db.add(session)
    db.flush()


def plan(db: CarnetSession, principal: Any, host: Any, settings: Any, patient_id: int, *, day: date, at: time,
         minutes: int, not_initial: bool, act: str = "") -> Session:
    """Plan a session; the patient is e-mailed their join link."""
    try:
        patient_access(db, principal).require_clinical(patient_id)
    except (PatientNotFound, PatientErased, PatientForbidden):
        raise NotFound("patient") from None
    clinic = db.get(Clinic, db.info["clinic_id"])
    starts = datetime.combine(day, at, tzinfo=ZoneInfo(getattr(clinic, "timezone", None) or "Europe/Paris"))
    starts = starts.astimezone(ZoneInfo("UTC"))
    if starts < utcnow() - MARGIN:
        raise _refuse("day", "past", PAST)
    if minutes < 10 or minutes > 120:
        raise _refuse("minutes", "range", N_("between 10 and 120 minutes"))
    if not not_initial:
        raise _refuse("not_initial", "initial", INITIAL)
    acts.require_remote(profession_of(db, principal.user_id), act)
    rules.require_in_care(host, db, patient_id, settings.care_months)
    rules.require_consent(host, db, patient_id)
    session = Session(patient_id=patient_id, practitioner_id=principal.user_id, starts_at=starts,
                      ends_at=starts + timedelta(minutes=minutes))
    db.add(session)
    db.flush()
    seal(db, session, "act", act)
    add_event(db, session, "planned", f"user:{principal.user_id}")
    enqueue(db, INVITE_ACTOR, session.id)
    record(db, action="create", resource_type="telecare_session", resource_id=session.id, patient_id=patient_id,
           details={"minutes": minutes})
    return session


def get(db: CarnetSession, principal: Any, session_id: int) -> Session:
    found = db.exec(select(Session).where(Session.id == session_id)).first()
    if found is None:
        raise NotFound("telecare session")
    try:
        patient_access(db, principal).require_clinical(found.patient_id)
    except (PatientNotFound, PatientErased, PatientForbidden):
        raise NotFound("telecare session") from None
    return found


def sessions_of(db: CarnetSession, patient_id: int) -> list[Session]:
    return list(db.exec(select(Session).where(Session.patient_id == patient_id).order_by(col(Session.id).desc())))


def view(db: CarnetSession, principal: Any, session_id: int) -> tuple[Session, list[dict[str, Any]], str, str]:
    """The session for its page: events, report (pre-filled from the events when empty), patient name."""
    session = get(db, principal, session_id)
    events = _events(db, session)
    report = readable(open_or_unreadable(db, session, "report")) if session.report else None
    name = patient_access(db, principal).names({session.patient_id}).get(session.patient_id, "")
    record(db, action="read", resource_type="telecare_session", resource_id=session.id,
           patient_id=session.patient_id)
    act = readable(open_or_unreadable(db, session, "act")) if session.act else None
    tz = getattr(principal.clinic, "timezone", None)
    return session, events, report or prefill(session, events, act, tz), name


EVENT_WORDS = {
    "planned": "planifiée", "joined": "patient en salle d'attente", "admitted": "patient admis",
    "ended": "séance terminée", "left": "patient parti",
    "patient_connected": "vidéo : patient connecté", "practitioner_connected": "vidéo : praticien connecté",
    "patient_reconnected": "vidéo : reconnexion du patient",
    "practitioner_reconnected": "vidéo : reconnexion du praticien",
    "patient_left": "vidéo : patient déconnecté", "practitioner_left": "vidéo : praticien déconnecté",
    "video_connected": "vidéo établie entre les deux navigateurs", "video_interrupted": "vidéo interrompue",
    "video_failed": "échec de la connexion vidéo", "moved": "déplacée dans l'agenda",
    "cancelled": "annulée dans l'agenda",
    "recording_started": "enregistrement démarré par le praticien (consentement du patient vérifié), "
                         "sur son poste",
    "recording_stopped": "enregistrement arrêté",
}
INCIDENTS = ("patient_reconnected", "practitioner_reconnected", "video_interrupted", "video_failed")


def prefill(session: Session, events: list[dict[str, Any]], act: str | None = None, tz: str | None = None) -> str:
    """The report's first draft from the events, times in the clinic's zone `tz` (core's local_datetime)."""
    def at(moment: Any) -> str:
        return local_datetime(moment, tz, "%H:%M")

    lines = [f"Séance de télésoin du {local_datetime(session.starts_at, tz, '%d/%m/%Y')}, prévue de "
             f"{at(session.starts_at)} à {at(session.ends_at)}."]
    if act:
        lines.append(f"Acte : {acts.label(act)}.")
    lines += [f"- {at(e['at'])} : {EVENT_WORDS.get(e['event'], e['event'])}" for e in events]
    incidents = [f"{EVENT_WORDS[e['event']]} à {at(e['at'])}" for e in events if e["event"] in INCIDENTS]
    lines.append("Incidents techniques : " + ("; ".join(incidents) + "." if incidents else "aucun signalé."))
    return "\n".join(lines)


def admit(db: CarnetSession, principal: Any, host: Any, session_id: int, *, settings: Any = None,
          not_initial: bool = False, act: str = "", hooks: Any = None) -> Session:
    """Start the session. One booked in scheduling (no act declared yet) is checked here for every
    rule: not an initial assessment, an act that can be done remotely, care in the last months;
    consent is asked again for every session (a withdrawal takes effect at once)."""
    session = get(db, principal, session_id)
    if session.status != "waiting":
        raise _refuse("session", "not_waiting", NOT_WAITING)
    if session.act is None:
        if not not_initial:
            raise _refuse("not_initial", "initial", INITIAL)
        acts.require_remote(profession_of(db, session.practitioner_id), act)
        rules.require_in_care(host, db, session.patient_id, getattr(settings, "care_months", 12))
        seal(db, session, "act", act)
    rules.require_consent(host, db, session.patient_id)
    session.status = "started"
    session.admitted_at = utcnow()
    add_event(db, session, "admitted", f"user:{principal.user_id}")
    record(db, action="start", resource_type="telecare_session", resource_id=session.id,
           patient_id=session.patient_id)
    announce(hooks, "telecare_session_started", session=session, db=db)
    return session


def act_proposals(hooks: Any, db: CarnetSession, session: Session) -> list[dict[str, Any]]:
    """Once the report is saved: what the clinic's enabled modules propose to bill for the session
    (billing: the remote-care act with its key letter; hookspecs.py); nothing when none answers."""
    if session.report is None or session.status != "ended":
        return []
    ask = getattr(hooks, "telecare_session_act_proposal", None)
    if ask is None:
        return []
    found = ask(session=session, profession=profession_of(db, session.practitioner_id), db=db)
    return [p for p in found if isinstance(p, dict) and p.get("letter")]


def end(db: CarnetSession, principal: Any, session_id: int, hooks: Any = None) -> Session:
    session = get(db, principal, session_id)
    if session.status in ("ended", "cancelled"):
        return session
    if is_recording(db, session):  # the practitioner's browser stops it on leaving the page
        _recording_event(db, principal, session, False)
    session.status = "ended"
    session.ended_at = utcnow()
    add_event(db, session, "ended", f"user:{principal.user_id}")
    links.revoke(db, ("telecare_session", session.id), purpose=JOIN)  # type: ignore[arg-type]
    record(db, action="end", resource_type="telecare_session", resource_id=session.id,
           patient_id=session.patient_id)
    announce(hooks, "telecare_session_ended", session=session, db=db)
    return session


# --- recording: in the practitioner's browser only, with the patient's consent -------------------


def recording_on(events: list[dict[str, Any]]) -> bool:
    """Whether the practitioner's browser records now: the last recording event is a start."""
    last = next((e["event"] for e in reversed(events) if e["event"].startswith("recording_")), None)
    return last == "recording_started"


def is_recording(db: CarnetSession, session: Session) -> bool:
    return recording_on(_events(db, session) if session.events else [])


def recording_consented(host: Any, db: CarnetSession, session: Session) -> bool:
    """Core's consent question for this patient now (no unless a signed agreement exists)."""
    return purpose_allowed(host, db, session.patient_id, RECORDING_PURPOSE)


def set_recording(db: CarnetSession, principal: Any, host: Any, session_id: int, on: bool) -> tuple[Session, bool]:
    """Start or stop the recording the practitioner's browser makes of the session (saved on their
    device; the server never receives media). Starting needs the session in progress and the
    patient's consent to recording asked now (a withdrawal during the session takes effect at the
    next start); each refusal writes nothing. Each change is an event of the session and audited;
    asking for the state it already is in writes nothing. Returns the session and whether it records."""
    session = get(db, principal, session_id)
    events = _events(db, session) if session.events else []
    if on == recording_on(events):
        return session, on
    if on:
        if session.status != "started":
            raise _refuse("recording", "not_started", NOT_STARTED)
        if not recording_consented(host, db, session):
            raise _refuse("recording", "no_consent", NO_RECORDING)
    _recording_event(db, principal, session, on)
    return session, on


def _recording_event(db: CarnetSession, principal: Any, session: Session, on: bool) -> None:
    add_event(db, session, "recording_started" if on else "recording_stopped", f"user:{principal.user_id}")
    record(db, action="record_start" if on else "record_stop", resource_type="telecare_session",
           resource_id=session.id, patient_id=session.patient_id)


def write_report(db: CarnetSession, principal: Any, session_id: int, text: str) -> Session:
    session = get(db, principal, session_id)
    report = (text or "").strip()
    if not report or len(report) > REPORT_LIMIT:
        raise _refuse("report", "length", N_("write the report (%(limit)s characters at most)"), limit=REPORT_LIMIT)
    seal(db, session, "report", report)
    db.add(session)
    db.flush()
    record(db, action="report", resource_type="telecare_session", resource_id=session.id,
           patient_id=session.patient_id)
    return session


# --- the patient's side ---------------------------------------------------------------------------


def for_link(db: CarnetSession, link: Any) -> Session:
    found = db.exec(select(Session).where(Session.id == link.subject_id)).first()
    if found is None or link.subject_type != "telecare_session":
        raise NotFound("telecare session")
    return found


def check_window(session: Session, now: datetime | None = None) -> None:
    now = now or utcnow()
    if session.status in ("ended", "cancelled") or now > session.ends_at + MARGIN:
        raise _refuse("session", "over", OVER)
    if now < session.starts_at - MARGIN:
        raise _refuse("session", "not_yet", NOT_YET)


def needs_adult(db: CarnetSession, session: Session) -> bool:
    return bool(patient_access(db, "system:telecare").guardians(session.patient_id))


def open_for_patient(db: CarnetSession, link: Any, host: Any) -> Session:
    """What the join page shows: refused outside the window or without consent (clear message)."""
    session = for_link(db, link)
    check_window(session)
    rules.require_consent(host, db, session.patient_id)
    return session


def join(db: CarnetSession, link: Any, host: Any, adult_present: bool,
         seat: str | None = None) -> tuple[Session, str | None]:
    """The patient enters the waiting room; the browser gets a seat (a cookie, its hash kept) that
    its video socket shows. Once the session started, only that browser comes back in (a reload);
    a second browser on the same link is refused. Returns the session and a new seat to set, if
    any."""
    session = open_for_patient(db, link, host)
    if session.status == "started":
        if not signalling.seat_matches(session.seat, seat):
            raise _refuse("session", "in_use", IN_USE)
        links.audit_access(db, link, action="join", resource_type="telecare_session")
        return session, None
    if needs_adult(db, session) and not adult_present:
        raise _refuse("adult_present", "adult", ADULT)
    if session.status == "scheduled":
        session.status = "waiting"
        session.joined_at = utcnow()
        add_event(db, session, "joined", f"patient_link:{link.id}")
    value, session.seat = signalling.new_seat()
    db.add(session)
    db.flush()
    links.audit_access(db, link, action="join", resource_type="telecare_session")
    return session, value


# --- the video room -------------------------------------------------------------------------------

ROOM_OPEN = ("scheduled", "waiting", "started")


def for_staff_signal(db: CarnetSession, principal: Any, session_id: int) -> Session:
    """The practitioner's video socket: the session they may open, not over."""
    session = get(db, principal, session_id)
    if session.status not in ROOM_OPEN:
        raise _refuse("session", "over", OVER)
    return session


def for_patient_signal(db: CarnetSession, link: Any, seat: str | None) -> Session:
    """The patient's video socket: their link, within the window, from the browser that entered the
    waiting room (its seat cookie); a second browser on the same link gets nothing."""
    session = for_link(db, link)
    check_window(session)
    if session.status not in ("waiting", "started"):
        raise _refuse("session", "not_joined", N_("enter the waiting room first"))
    if not signalling.seat_matches(session.seat, seat):
        raise _refuse("session", "in_use", IN_USE)
    return session


def video_event(db: CarnetSession, session_id: int, event: str, by: str) -> None:
    """A connection event of the room: a side's first connection, else its reconnection; a
    browser's state only when it changes. The row is held (`_hold`) so that two sockets, or a
    socket and a request, never lose each other's event; within a process the room serialises its
    sockets' writes too."""
    session = db.exec(select(Session).where(Session.id == session_id)).first()
    if session is None:
        return
    _hold(db, session)
    events = _events(db, session) if session.events else []
    if event.endswith("_connected") and not event.startswith("video_"):
        if any(e["event"] == event for e in events):
            event = event.replace("_connected", "_reconnected")
    elif event.startswith("video_"):
        last = next((e["event"] for e in reversed(events) if e["event"].startswith("video_")), None)
        if last == event:
            return
    add_event(db, session, event, by)


def profession_of(db: CarnetSession, user_id: int | None) -> str:
    """The practitioner's profession (their telecare profile), whose acts apply; "" when unsaid."""
    found = db.exec(select(Profile).where(Profile.user_id == user_id)).first()
    return found.profession if found is not None else ""


# --- sessions booked in scheduling (its hooks; its tables are never read here) ------------------


def from_appointment(db: CarnetSession, appointment: Any) -> Session | None:
    """A télésoin appointment booked in scheduling gets its session (the rules are checked when the
    practitioner admits the patient: a booking is not refused by an observer). Idempotent."""
    existing = _of_appointment(db, appointment.id)
    if existing is not None:
        return existing
    session = Session(patient_id=appointment.patient_id, practitioner_id=appointment.practitioner_id,
                      starts_at=appointment.starts_at, ends_at=appointment.ends_at, appointment_id=appointment.id)
    db.add(session)
    db.flush()
    add_event(db, session, "planned", f"scheduling.appointment:{appointment.id}")
    enqueue(db, INVITE_ACTOR, session.id)
    record(db, action="create", resource_type="telecare_session", resource_id=session.id,
           patient_id=session.patient_id, details={"appointment": appointment.id})
    return session


def follow_move(db: CarnetSession, appointment: Any) -> None:
    """The appointment moved: its session (not started) moves too, and a new link is sent."""
    session = _of_appointment(db, appointment.id)
    if session is None or session.status != "scheduled":
        return
    session.starts_at, session.ends_at = appointment.starts_at, appointment.ends_at
    add_event(db, session, "moved", f"scheduling.appointment:{appointment.id}")
    links.revoke(db, ("telecare_session", session.id), purpose=JOIN)  # type: ignore[arg-type]
    enqueue(db, INVITE_ACTOR, session.id)
    record(db, action="update", resource_type="telecare_session", resource_id=session.id,
           patient_id=session.patient_id, details={"appointment": appointment.id})


def follow_cancel(db: CarnetSession, appointment: Any) -> None:
    """The appointment was cancelled: its session is cancelled and its link stops."""
    session = _of_appointment(db, appointment.id)
    if session is None or session.status in ("ended", "cancelled"):
        return
    session.status = "cancelled"
    add_event(db, session, "cancelled", f"scheduling.appointment:{appointment.id}")
    links.revoke(db, ("telecare_session", session.id), purpose=JOIN)  # type: ignore[arg-type]
    record(db, action="cancel", resource_type="telecare_session", resource_id=session.id,
           patient_id=session.patient_id, details={"appointment": appointment.id})


def _of_appointment(db: CarnetSession, appointment_id: int) -> Session | None:
    return db.exec(select(Session).where(Session.appointment_id == appointment_id)).first()


def today_count(db: CarnetSession, principal: Any, tz: str | None, now: datetime | None = None) -> int:
    """Remote sessions of the clinic's day still held (not cancelled): a practitioner's own, the
    practice's for the others. One query, a number."""
    local = (now or utcnow()).astimezone(ZoneInfo(tz or "Europe/Paris"))
    midnight = datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)
    first = midnight.astimezone(ZoneInfo("UTC"))
    last = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=local.tzinfo).astimezone(ZoneInfo("UTC"))
    stmt = select(sa.func.count()).select_from(Session).where(
        Session.starts_at >= first, Session.starts_at < last, Session.status != "cancelled")
    if "practitioner" in principal.roles:
        stmt = stmt.where(Session.practitioner_id == principal.user_id)
    return int(db.exec(stmt).one())
