"""School holidays: the official calendar of the clinic's zone (A, B, C from the
`vacances-scolaires-france` package; Corse and the overseas academies from the plugin's own dated
data), periods owners add (local decisions, years not shipped), shown in the agenda and skipped by
series; the agenda's counts in French plurals (issue 13)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from sqlmodel import select

from carnet_scheduling.models import ABSENT, CalendarSetting
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import school
from carnet_scheduling.services import series as series_svc
from carnet_scheduling.services.calendar import DateRange, local_date, local_to_utc
from carnet_scheduling.services.recurrence import SCHOOL_HOLIDAY, WeeklySlot


def test_the_official_calendar_differs_by_zone():
    christmas = school.official_periods("A", date(2026, 12, 1), date(2027, 1, 10))
    assert DateRange(date(2026, 12, 19), date(2027, 1, 3), "Vacances de Noël") in christmas
    winter_a = [p for p in school.official_periods("A", date(2026, 2, 1), date(2026, 3, 15)) if "hiver" in p.label]
    winter_c = [p for p in school.official_periods("C", date(2026, 2, 1), date(2026, 3, 15)) if "hiver" in p.label]
    assert winter_a and winter_c and winter_a[0].first != winter_c[0].first
    assert school.official_periods("", date(2026, 12, 1), date(2027, 1, 10)) == []


def test_the_owner_sets_the_zone_and_the_agenda_shows_the_holidays(world, client, login_as, staff, carnet_db):
    owner = staff("owner,practitioner", clinic=world.clinic, name="Odile Owner")
    login_as(client, owner)
    refused = client.post("/scheduling/setup/school-zone", data={"school_zone": "Z"})
    assert refused.status_code == 422 and "choisissez une zone de la liste" in refused.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(CalendarSetting)).all() == []
    assert client.post("/scheduling/setup/school-zone", data={"school_zone": "A"},
                       follow_redirects=False).status_code == 303
    agenda = client.get(f"/scheduling/?view=week&date=2026-12-21&practitioner={owner.id}")
    assert "Vacances de Noël (zone A)" in agenda.text and "du 19 décembre au 3 janvier" in agenda.text
    assert "Vacances de Noël" not in client.get(f"/scheduling/?view=week&date=2026-12-07&practitioner={owner.id}").text
    # a period the official calendar lacks (a local decision), added by the owner, shows too
    added = client.post("/scheduling/setup/school-holidays", data={"first_day": "2026-12-07", "last_day": "2026-12-08",
                                                                  "label": "Fête locale"}, follow_redirects=False)
    assert added.status_code == 303
    assert "Fête locale" in client.get(f"/scheduling/?view=week&date=2026-12-07&practitioner={owner.id}").text
    bad = client.post("/scheduling/setup/school-holidays", data={"first_day": "2026-12-09", "last_day": "2026-12-01",
                                                                "label": "x"})
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]


def test_series_skip_the_zone_s_official_holidays(world, scoped):
    with scoped() as db:
        school.set_zone(db, "B")
        context = series_svc.series_context(db, practitioner_id=world.practitioner.id, patient_id=world.patients[0],
                                            room_id=None, first_day=date(2026, 12, 1), skip_school_holidays=True)
    assert any(p.label == "Vacances de Noël" and p.first == date(2026, 12, 19) for p in context.school_holidays)


def test_the_agenda_counts_in_french_plurals(world, scoped, client, login_as, staff):
    day = date(2026, 9, 1)
    with scoped() as db:
        for n, patient_id in enumerate(world.patients[:3]):
            a = appts.book(db, practitioner_id=world.practitioner.id, patient_id=patient_id,
                           appointment_type_id=world.session_type_id, starts_at=local_to_utc(day, time(9 + n)))
            if n:
                appts.mark(db, a, ABSENT)
    login_as(client, staff("secretary", clinic=world.clinic))
    text = client.get(f"/scheduling/?view=day&date={day}&practitioner={world.practitioner.id}").text
    assert "3 rendez-vous" in text and "2 absents" in text
    with scoped() as db:
        appts.mark(db, appts.in_range(db, local_to_utc(day, time(10)), local_to_utc(day, time(11)))[0], "honoured")
    text = client.get(f"/scheduling/?view=day&date={day}&practitioner={world.practitioner.id}").text
    assert "1 absent" in text and "1 absents" not in text and "1 honoré" in text


# A school day of each zone shipped in data/school_holidays.csv that falls in its holidays (a
# Tuesday), the holidays' name, and a Tuesday that is a school day there.
OWN_ZONE_DAYS = [
    ("CORSE", date(2026, 2, 17), "Vacances d’hiver", date(2026, 3, 3)),
    ("GP", date(2025, 3, 4), "Vacances de Carnaval", date(2025, 3, 11)),
    ("MQ", date(2026, 2, 10), "Vacances de Carnaval", date(2026, 2, 24)),
    ("RE", date(2027, 1, 12), "Vacances de l’été austral", date(2027, 2, 2)),
]


@pytest.mark.parametrize(("zone_name", "holiday", "label", "school_day"), OWN_ZONE_DAYS,
                         ids=[row[0] for row in OWN_ZONE_DAYS])
def test_skip_school_holidays_skips_the_holidays_of_corse_and_the_overseas_academies(
        world, scoped, zone_name, holiday, label, school_day):
    # given the clinic's zone is Corse or an overseas academy
    with scoped() as db:
        school.set_zone(db, zone_name)
        # when a weekly series on Tuesdays runs across the holiday, skipping school holidays
        result = series_svc.create_series(
            db, patient_id=world.patients[0], practitioner_id=world.practitioner.id,
            appointment_type_id=world.session_type_id, slots=(WeeklySlot(1, time(17)),),
            first_day=holiday - timedelta(days=7), sessions=4, skip_school_holidays=True, dry_run=True)
    # then the holiday's Tuesday is skipped with the holidays' name, and the school day is kept
    skipped = [(s.day, s.reason, s.label) for s in result.plan.skipped]
    assert (holiday, SCHOOL_HOLIDAY, label) in skipped
    kept = {local_date(o.start, "Europe/Paris") for o in result.plan.occurrences}
    assert school_day in kept and holiday not in kept


def test_the_owner_can_choose_corse_or_an_overseas_academy_as_the_zone(world, client, login_as, staff, carnet_db):
    owner = staff("owner,practitioner", clinic=world.clinic, name="Odile Owner")
    login_as(client, owner)
    page = client.get("/scheduling/setup").text
    for code, name in (("CORSE", "Corse"), ("GP", "Guadeloupe"), ("MQ", "Martinique"), ("RE", "La Réunion")):
        first, last = school.official_years(code)
        assert f'<option value="{code}">{name} ({first} à {last})</option>' in page
    assert '<option value="A">zone A (1990 à 2028)</option>' in page
    assert client.post("/scheduling/setup/school-zone", data={"school_zone": "RE"},
                       follow_redirects=False).status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert school.zone(db) == "RE"
    assert '<option value="RE" selected>' in client.get("/scheduling/setup").text
    agenda = client.get(f"/scheduling/?view=week&date=2027-01-11&practitioner={owner.id}").text
    assert "Vacances de l’été austral (La Réunion)" in agenda


def test_the_shipped_calendar_of_each_own_zone_is_in_order_and_sourced():
    for zone_name in school.OWN_ZONES:
        periods = school.official_periods(zone_name, date(2000, 1, 1), date(2099, 12, 31))
        assert periods and all(p.first <= p.last and p.label for p in periods)
        assert all(a.last < b.first for a, b in zip(periods, periods[1:], strict=False))
        assert school.official_years(zone_name) == (periods[0].first.year, periods[-1].last.year)
    assert school.official_periods("GF", date(2025, 1, 1), date(2026, 1, 1)) == []  # not shipped: none
