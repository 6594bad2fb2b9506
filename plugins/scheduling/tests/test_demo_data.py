"""`carnet demo` fills a believable agenda: two practitioners with hours, rooms, types, weekly
series over the coming weeks, last week's sessions marked honoured, absent or excused."""

from datetime import timedelta

from click.testing import CliRunner
from sqlmodel import select

from carnet_core.plugin_api import utcnow
from carnet_core.testing import DEMO_SLUG, get_clinic_by_slug
from carnet_core.testing import carnet_cli as main
from carnet_scheduling.models import Appointment, Room, Series, WorkingHours


def test_demo_agenda_has_series_hours_rooms_and_last_weeks_attendance(carnet_db, carnet_settings):
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    result = CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with carnet_db.session(unscoped=True) as db:
        clinic = get_clinic_by_slug(db, DEMO_SLUG)
    with carnet_db.session(clinic_id=clinic.id) as db:
        rows = list(db.exec(select(Appointment)))
        hours = list(db.exec(select(WorkingHours)))
        assert len({h.practitioner_id for h in hours}) == 2
        assert len(list(db.exec(select(Room)))) == 2
        assert len(list(db.exec(select(Series)))) >= 10
        now = utcnow()
        future = [a for a in rows if a.starts_at > now + timedelta(days=7)]
        past = [a for a in rows if a.starts_at < now - timedelta(days=1)]
        assert len(future) >= 50
        assert {a.status for a in past} >= {"honoured", "absent"}
        assert not [a for a in past if a.status == "booked" and a.ends_at < now - timedelta(days=7)]
        assert len({a.practitioner_id for a in rows}) == 2
        # the usual reminder rules, with reminders planned for the appointments to come
        from carnet_scheduling.patient_models import Reminder, ReminderRule

        assert sorted((r.channel, r.minutes_before) for r in db.exec(select(ReminderRule))) == sorted(
            [("email", 7 * 24 * 60), ("email", 24 * 60), ("sms", 2 * 24 * 60)])
        planned = {r.appointment_id for r in db.exec(select(Reminder).where(Reminder.status == "scheduled"))}
        assert {a.id for a in future if a.status == "booked"} <= planned
