"""`carnet demo`: a believable agenda for the demo clinic — an orthophoniste and a kiné, a cabinet
with two rooms, working hours, appointment types, weekly series over the coming weeks, and last
week's sessions marked honoured, absent or excused."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, time, timedelta
from typing import Any

from carnet_core.plugin_api import utcnow
from carnet_scheduling.models import ABSENT, EXCUSED, HONOURED
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import reminders, setup
from carnet_scheduling.services import series as series_svc
from carnet_scheduling.services.calendar import local_date, local_day_bounds, local_to_utc, week_start
from carnet_scheduling.services.context import clinic_tz
from carnet_scheduling.services.errors import SchedulingError, SlotTaken
from carnet_scheduling.services.recurrence import WeeklySlot

ORTHO_SLOTS = [(0, "09:00"), (0, "16:30"), (1, "17:00"), (1, "17:30"), (2, "10:00"), (3, "16:00"), (3, "18:00"),
               (4, "09:30"), (4, "17:00"), (0, "10:00"), (1, "09:00"), (3, "11:00")]
KINE_SLOTS = [(0, "08:30"), (0, "14:00"), (1, "10:00"), (1, "15:30"), (2, "08:30"), (2, "16:00"), (3, "09:00"),
              (4, "11:00"), (4, "14:30"), (1, "17:00")]


def _t(text: str) -> time:
    return time.fromisoformat(text)


def fill(clinic: Any, db: Any, context: dict[str, Any]) -> None:
    practitioners = list(context.get("practitioners") or [])
    if not practitioners:
        return
    previous_actor = db.info.get("principal")
    db.info["principal"] = previous_actor or "system:demo"
    try:
        _fill(db, practitioners, list(context.get("patients") or []))
    finally:
        db.info["principal"] = previous_actor


def _fill(db: Any, practitioners: list[Any], patients: list[Any]) -> None:
    ortho = practitioners[0]
    kine = practitioners[1] if len(practitioners) > 1 else practitioners[0]
    cabinet = setup.create_place(db, "Cabinet des Tilleuls", "cabinet", "12 rue des Tilleuls, 69003 Lyon")
    home = setup.create_place(db, "Visites à domicile", "domicile")
    setup.create_place(db, "Télésoin", "telesoin")
    room1 = setup.create_room(db, cabinet.id, "Salle 1 — orthophonie")
    room2 = setup.create_room(db, cabinet.id, "Salle 2 — kinésithérapie")
    setup.set_profession(db, ortho.id, "orthophoniste")
    if kine.id != ortho.id:
        setup.set_profession(db, kine.id, "kinesitherapeute")
    bilan_o = setup.create_appointment_type(db, "Bilan orthophonique", 60, colour="#16a34a", bookable_online=True,
                                            profession="orthophoniste")
    seance_o = setup.create_appointment_type(db, "Séance d'orthophonie", 30, colour="#2563eb",
                                             profession="orthophoniste")
    setup.create_appointment_type(db, "Séance en télésoin", 30, "telesoin", colour="#7c3aed")
    bilan_k = setup.create_appointment_type(db, "Bilan kiné", 45, colour="#ea580c", bookable_online=True,
                                            profession="kinesitherapeute")
    seance_k = setup.create_appointment_type(db, "Séance de kinésithérapie", 30, colour="#0891b2",
                                             profession="kinesitherapeute")
    setup.create_appointment_type(db, "Visite à domicile", 45, "domicile", colour="#db2777")
    setup.create_appointment_type(db, "Réunion d'équipe", 60, colour="#64748b", billable=False, reminders=False)
    ortho_hours = [(d, _t("09:00"), _t("12:30"), cabinet.id, room1.id) for d in (0, 1, 3, 4)]
    ortho_hours += [(d, _t("14:00"), _t("19:00"), cabinet.id, room1.id) for d in (0, 1, 3, 4)]
    ortho_hours += [(2, _t("09:00"), _t("12:30"), cabinet.id, room1.id)]
    kine_hours = [(d, _t("08:00"), _t("12:00"), cabinet.id, room2.id) for d in range(5)]
    kine_hours += [(d, _t("13:30"), _t("18:30"), cabinet.id, room2.id) for d in (0, 1, 3, 4)]
    kine_hours += [(2, _t("14:00"), _t("17:00"), home.id, None)]
    setup.set_working_hours(db, ortho.id, ortho_hours)
    if kine.id != ortho.id:
        setup.set_working_hours(db, kine.id, kine_hours)
    tz = clinic_tz(db)
    today = local_date(utcnow(), tz)
    monday = week_start(today)
    last_monday = monday - timedelta(days=7)
    # Time off: Julien's training day in three weeks; the school holidays of zone C (Paris), the
    # official calendar.
    training = monday + timedelta(days=21 + 2)
    if kine.id != ortho.id:
        setup.add_exception(db, local_day_bounds(training, tz)[0], local_day_bounds(training, tz)[1],
                            practitioner_id=kine.id, kind="training", label="Formation thérapie manuelle")
    from carnet_scheduling.services import school

    school.set_zone(db, "C")
    if not patients:
        return
    # Weekly series from last week on: ortho patients first, kiné patients after.
    half = min(len(ORTHO_SLOTS), max(1, len(patients) * 6 // 10))
    plans = [(p, ortho, seance_o, room1, ORTHO_SLOTS[i], 30) for i, p in enumerate(patients[:half])]
    kine_patients = patients[half:half + len(KINE_SLOTS)]
    plans += [(p, kine, seance_k, room2, KINE_SLOTS[i], 15) for i, p in enumerate(kine_patients)]
    for i, (patient, who, kind, room, (weekday, at), sessions) in enumerate(plans):
        prescription = series_svc.create_prescription(
            db, patient_id=patient.id, practitioner_id=who.id, prescribed_on=last_monday - timedelta(days=20 + i),
            sessions_prescribed=sessions if i % 5 else 4,  # some prescriptions near their end
            prescriber="Dr Laurent Girard" if i % 2 else "Dr Amélie Roux",
            acts="AMO 10.1" if who is ortho else "AMK 7.5",
        )
        try:
            series_svc.create_series(
                db, patient_id=patient.id, practitioner_id=who.id, appointment_type_id=kind.id,
                slots=(WeeklySlot(weekday, _t(at)),), first_day=last_monday, sessions=min(sessions, 14) if i % 5 else 4,
                room_id=room.id, prescription_id=prescription.id, skip_school_holidays=who is ortho,
            )
        except (SchedulingError, SlotTaken):
            continue
    # Assessments (bilans) for two new patients this week and next.
    extra = patients[half + len(KINE_SLOTS):] or patients[:2]
    for n, patient in enumerate(extra[:2]):
        for who, kind, room, at in ((ortho, bilan_o, room1, "11:00"), (kine, bilan_k, room2, "11:00")):
            day = monday + timedelta(days=7 * n + 2 + (1 if who is kine else 0))
            with contextlib.suppress(SchedulingError, SlotTaken):
                appts.book(db, practitioner_id=who.id, patient_id=patient.id, appointment_type_id=kind.id,
                           starts_at=local_to_utc(day, _t(at), tz), room_id=room.id, source="staff")
    # Last week happened: most came, one did not, one excused herself.
    start = local_to_utc(last_monday, time(0), tz)
    now = datetime.now(UTC)
    past = [a for a in appts.in_range(db, start, min(now, local_to_utc(monday, time(0), tz)))
            if a.status == "booked"]
    for n, a in enumerate(past):
        status = ABSENT if n % 9 == 4 else EXCUSED if n % 11 == 7 else HONOURED
        appts.mark(db, a, status)
    # And this week, what is already over was honoured.
    for a in appts.in_range(db, local_to_utc(monday, time(0), tz), now - timedelta(hours=1)):
        if a.status == "booked" and a.ends_at < now:
            appts.mark(db, a, HONOURED)
    # The usual reminder rules, planned for the booked appointments to come.
    reminders.ensure_default_rules(db, replan_booked=False)
    reminders.replan(db)
    return
