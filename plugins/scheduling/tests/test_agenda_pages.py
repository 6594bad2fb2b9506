"""The agenda pages through real logins: week and day grids, booking in the dialog, the
appointment dialog's actions, today's list, the day sheet, set-up and series pages; a secretary
never sees clinical notes."""

from datetime import date, time, timedelta

import pytest

from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services.calendar import local_to_utc
from carnet_scheduling.services.setup import set_working_hours

DAY = date(2030, 9, 3)  # a Tuesday
T = local_to_utc(DAY, time(17))
HX = {"HX-Request": "true"}


@pytest.fixture
def people(world, staff):
    return {
        "practitioner": staff("practitioner", clinic=world.clinic, name="Paule Praticienne"),
        "secretary": staff("secretary", clinic=world.clinic, name="Sonia Secrétaire"),
        "owner": staff("owner,practitioner", clinic=world.clinic, name="Odile Owner"),
    }


def test_week_view_places_appointments_on_the_grid(world, scoped, client, login_as, people):
    with scoped() as db:
        set_working_hours(db, world.practitioner.id, [(1, time(9), time(12), world.place_id, world.room_id)])
        a = appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[0],
                       appointment_type_id=world.session_type_id, starts_at=T, room_id=world.room_id)
    login_as(client, people["secretary"])
    r = client.get(f"/scheduling/?view=week&date={DAY.isoformat()}&practitioner={world.practitioner.id}")
    assert r.status_code == 200, r.text
    assert f'href="/scheduling/appointments/{a.id}?' in r.text
    assert "17:00–17:30" in r.text
    assert "LEFÈVRE Patient10" in r.text  # the secretary sees every patient's name
    assert f"t-{world.session_type_id}" in r.text
    assert "<script>" not in r.text and " style=" not in r.text
    # htmx gets the partial only
    p = client.get(f"/scheduling/?view=week&date={DAY.isoformat()}&practitioner={world.practitioner.id}", headers=HX)
    assert p.status_code == 200 and "<html" not in p.text and 'id="agenda"' in p.text


def _booking(world, **changes):
    form = {"date": DAY.isoformat(), "time": "17:00", "practitioner": str(world.practitioner.id),
            "patient_id": str(world.patients[0]), "type": str(world.session_type_id), "room": str(world.room_id),
            "next": "/scheduling/?view=week&date=2030-09-03"}
    form.update(changes)
    return form


def test_booking_from_the_dialog_closes_it_and_refreshes_the_grid(world, scoped, client, login_as, people):
    login_as(client, people["secretary"])
    form_page = client.get(f"/scheduling/appointments/new?date={DAY}&time=17:00&practitioner={world.practitioner.id}",
                           headers=HX)
    assert form_page.status_code == 200 and "<html" not in form_page.text
    assert 'value="17:00"' in form_page.text and 'name="notes"' not in form_page.text  # no notes for a secretary
    r = client.post("/scheduling/appointments", data=_booking(world), headers=HX)
    assert r.status_code == 204 and r.headers["HX-Trigger"] == "scheduling-changed"
    with scoped() as db:
        rows = appts.in_range(db, T - timedelta(hours=1), T + timedelta(hours=1))
    assert [(a.patient_id, a.room_id) for a in rows] == [(world.patients[0], world.room_id)]


def test_booking_without_javascript_redirects_back_to_the_agenda(world, client, login_as, people):
    login_as(client, people["secretary"])
    full = client.get(f"/scheduling/appointments/new?date={DAY}&time=17:00")
    assert full.status_code == 200 and "<html" in full.text
    r = client.post("/scheduling/appointments", data=_booking(world), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/scheduling/?view=week&date=2030-09-03"
    evil = client.post("/scheduling/appointments", data=_booking(world, time="18:00", patient_id=str(world.patients[1]),
                                                              next="https://evil.example/"), follow_redirects=False)
    assert evil.headers["location"] == "/scheduling/"


def test_a_taken_slot_or_bad_input_shows_the_form_again_and_writes_nothing(world, scoped, client, login_as, people):
    login_as(client, people["secretary"])
    assert client.post("/scheduling/appointments", data=_booking(world), headers=HX).status_code == 204
    taken = client.post("/scheduling/appointments", data=_booking(world, patient_id=str(world.patients[1]),
                                                                  time="17:15"), headers=HX)
    assert taken.status_code == 422 and 'id="err-time"' in taken.text
    for bad in ({"date": "1900-01-01"}, {"time": "25:00"}, {"type": "abc"}, {"patient_id": "999999"},
                {"practitioner": str(people["secretary"].id)}, {"duration": "100000"}):
        r = client.post("/scheduling/appointments", data=_booking(world, **{"time": "10:00", **bad}), headers=HX)
        assert r.status_code == 422, (bad, r.status_code)
        assert 'class="field-error"' in r.text
    with scoped() as db:
        assert len(appts.in_range(db, local_to_utc(DAY, time(0)), local_to_utc(DAY, time(23)))) == 1


def test_a_secretary_never_sees_clinical_notes(world, scoped, client, login_as, people):
    # the patient is followed by the world's practitioner; the session is given by the owner
    with scoped() as db:
        a = appts.book(db, practitioner_id=people["owner"].id, patient_id=world.patients[0],
                       appointment_type_id=world.session_type_id, starts_at=T, notes="Dysphasie: progrès nets")
    login_as(client, people["secretary"])
    for url in (f"/scheduling/appointments/{a.id}", f"/scheduling/?view=day&date={DAY}&practitioner={world.practitioner.id}",
                f"/scheduling/today?date={DAY}&all=1", f"/scheduling/day-sheet?date={DAY}",
                f"/api/v1/scheduling/appointments/{a.id}"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert "Dysphasie" not in r.text and 'name="notes"' not in r.text, url
    assert client.get(f"/api/v1/scheduling/appointments/{a.id}/notes").status_code == 403
    denied = client.post(f"/scheduling/appointments/{a.id}/notes", data={"notes": "x"})
    assert denied.status_code == 403
    # nor does a practitioner who neither follows the patient nor gives the session (core's gate)
    client.post("/logout")
    login_as(client, people["practitioner"])
    assert "Dysphasie" not in client.get(f"/scheduling/appointments/{a.id}", headers=HX).text
    assert client.get(f"/api/v1/scheduling/appointments/{a.id}/notes").status_code == 403
    assert client.post(f"/scheduling/appointments/{a.id}/notes", data={"notes": "x"}).status_code == 403
    # the practitioner who gives the session reads and writes them
    client.post("/logout")
    login_as(client, people["owner"])
    r = client.get(f"/scheduling/appointments/{a.id}", headers=HX)
    assert "Dysphasie: progrès nets" in r.text
    assert client.post(f"/scheduling/appointments/{a.id}/notes", data={"notes": "Séance 2: bien"},
                       headers=HX).status_code == 204
    with scoped() as db:
        assert appts.read_notes(db, appts.get_appointment(db, a.id)) == "Séance 2: bien"


def test_move_cancel_and_mark_from_the_dialog(world, scoped, client, login_as, people):
    past = local_to_utc(date(2024, 5, 14), time(10))
    with scoped() as db:
        a = appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[0],
                       appointment_type_id=world.session_type_id, starts_at=T)
        b = appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[1],
                       appointment_type_id=world.session_type_id, starts_at=T + timedelta(hours=1))
        old = appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[2],
                         appointment_type_id=world.session_type_id, starts_at=past)
    login_as(client, people["secretary"])
    # moving onto b's time is refused, and nothing moves
    clash = client.post(f"/scheduling/appointments/{a.id}/move", data={"date": DAY.isoformat(), "time": "18:00"},
                        headers=HX)
    assert clash.status_code == 422
    assert client.post(f"/scheduling/appointments/{a.id}/move", data={"date": DAY.isoformat(), "time": "09:00"},
                       headers=HX).status_code == 204
    assert client.post(f"/scheduling/appointments/{b.id}/cancel", data={"reason": ""}, headers=HX).status_code == 422
    assert client.post(f"/scheduling/appointments/{b.id}/cancel", data={"reason": "Enfant malade"},
                       headers=HX).status_code == 204
    # a future appointment cannot be marked honoured; a past one can
    assert client.post(f"/scheduling/appointments/{a.id}/status", data={"status": "honoured"},
                       headers=HX).status_code == 422
    assert client.post(f"/scheduling/appointments/{old.id}/status", data={"status": "absent"},
                       headers=HX).status_code == 204
    with scoped() as db:
        assert appts.get_appointment(db, a.id).starts_at == local_to_utc(DAY, time(9))
        got_b = appts.get_appointment(db, b.id)
        assert (got_b.status, appts.cancel_reason(db, got_b)) == ("cancelled", "Enfant malade")
        assert appts.get_appointment(db, old.id).status == "absent"
    week = client.get(f"/scheduling/?view=day&date=2024-05-14&practitioner={world.practitioner.id}")
    assert "badge st-absent" in week.text


def test_clinic_day_by_room_and_a_room_week(world, scoped, client, login_as, people):
    with scoped() as db:
        appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[0],
                   appointment_type_id=world.session_type_id, starts_at=T, room_id=world.room_id)
        appts.book(db, practitioner_id=world.colleague.id, patient_id=world.patients[1],
                   appointment_type_id=world.session_type_id, starts_at=T, room_id=world.room2_id)
    login_as(client, people["practitioner"])
    r = client.get(f"/scheduling/?by=room&date={DAY}")
    assert r.status_code == 200
    assert r.text.count('class="appt ') == 2 and "Salle 1" in r.text and "Salle 2" in r.text
    w = client.get(f"/scheduling/?view=week&room={world.room2_id}&date={DAY}")
    assert w.text.count('class="appt ') == 1


def test_bad_agenda_addresses_get_a_clear_400(world, client, login_as, people):
    login_as(client, people["practitioner"])
    for q in ("date=2030-13-01", "date=1900-01-01", "practitioner=abc", "room=-1"):
        assert client.get(f"/scheduling/?{q}").status_code == 400, q
    assert client.get("/scheduling/appointments/999999").status_code == 404


def test_today_list_day_sheet_and_type_colours(world, scoped, client, login_as, people):
    with scoped() as db:
        appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[0],
                   appointment_type_id=world.bilan_type_id, starts_at=T)
    login_as(client, people["secretary"])
    today = client.get(f"/scheduling/today?date={DAY}&all=1")
    assert today.status_code == 200 and "17:00–18:00" in today.text
    sheet = client.get(f"/scheduling/day-sheet?date={DAY}&practitioner={world.practitioner.id}")
    assert sheet.status_code == 200 and "17:00–18:00" in sheet.text and "data-print" in sheet.text
    css = client.get("/scheduling/types.css")
    assert css.headers["content-type"].startswith("text/css")
    assert f".t-{world.bilan_type_id}{{--type:#16a34a}}" in css.text


def test_set_up_pages_write_hours_types_rooms_and_time_off(world, scoped, client, login_as, people):
    login_as(client, people["owner"])
    assert client.get("/scheduling/setup").status_code == 200
    hours = {"practitioner": str(world.practitioner.id), "start_1_0": "09:00", "end_1_0": "12:00",
             "place_1_0": str(world.place_id), "room_1_0": str(world.room_id)}
    assert client.post("/scheduling/setup/hours", data=hours, follow_redirects=False).status_code == 303
    overlapping = {**hours, "start_1_1": "11:00", "end_1_1": "13:00", "place_1_1": str(world.place_id)}
    r = client.post("/scheduling/setup/hours", data=overlapping, follow_redirects=False)
    assert r.status_code == 422 and 'class="field-error"' in r.text
    assert client.post("/scheduling/setup/types", data={"name": "Bilan neuro", "duration": "90", "colour": "#aa00aa",
                                                        "modality": "cabinet", "billable": "1"},
                       follow_redirects=False).status_code == 303
    assert client.post("/scheduling/setup/types", data={"name": "", "duration": "9000"}).status_code == 422
    assert client.post("/scheduling/setup/rooms", data={"place_id": str(world.place_id), "room_name": "Salle 3"},
                       follow_redirects=False).status_code == 303
    assert client.post("/scheduling/setup/exceptions", data={"first_day": "2030-10-20", "last_day": "2030-10-25",
                                                             "kind": "holiday", "label": "Congés"},
                       follow_redirects=False).status_code == 303
    backwards = client.post("/scheduling/setup/exceptions", data={"first_day": "2030-10-20", "last_day": "2030-10-01"})
    assert backwards.status_code == 422 and backwards.headers["content-type"].startswith("text/html")
    assert 'class="field-error"' in backwards.text
    page = client.get(f"/scheduling/setup?practitioner={world.practitioner.id}")
    assert "Bilan neuro" in page.text and "Salle 3" in page.text and "Congés" in page.text
    assert 'value="09:00"' in page.text
    # secretaries do not configure
    client.post("/logout")
    login_as(client, people["secretary"])
    assert client.get("/scheduling/setup").status_code == 403


def test_a_practitioner_sees_only_the_names_of_patients_they_follow_or_see(world, scoped, client, login_as, people):
    # given an appointment of Claire's patient with Claire, seen by another practitioner of the clinic
    with scoped() as db:
        appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[0],
                   appointment_type_id=world.session_type_id, starts_at=T)
    login_as(client, people["practitioner"])
    r = client.get(f"/scheduling/?view=day&date={DAY}&practitioner={world.practitioner.id}")
    # then the time is shown as taken, without the patient's name (the clinic does not share patients)
    assert r.status_code == 200 and "17:00–17:30" in r.text
    assert "LEFÈVRE" not in r.text


def test_the_patient_search_is_answered_to_post_and_no_address_carries_a_name(app, world, client, login_as, people):
    login_as(client, people["secretary"])
    # the live search of the dialog posts (with the CSRF token, as htmx sends it in a header)
    found = client.post("/scheduling/patients/search", data={"q": "Lefèvre"}, headers=HX)
    assert found.status_code == 200 and "LEFÈVRE Patient10" in found.text
    assert f'value="{world.patients[0]}"' in found.text
    assert client.get("/scheduling/patients?q=Lef%C3%A8vre").status_code in (404, 405)
    assert client.get("/scheduling/patients/search?q=Lef%C3%A8vre").status_code == 405
    # the booking and series forms ignore a name put in their address
    for url in ("/scheduling/appointments/new?q=Lef%C3%A8vre", "/scheduling/series/new?q=Lef%C3%A8vre"):
        r = client.get(url)
        assert r.status_code == 200 and "LEFÈVRE Patient10" not in r.text and 'value="Lefèvre"' not in r.text, url
    # and their search fields post: no form or htmx request of theirs is a GET carrying `q`
    for url in ("/scheduling/appointments/new", "/scheduling/series/new"):
        html = client.get(url).text
        assert 'hx-get="/scheduling/patients' not in html and 'formmethod="get"' not in html, url
        assert 'hx-post="/scheduling/patients/search"' in html, url
    # no GET route of the plugin is a patient search
    get_paths = {route.path for route in app.routes for handler in getattr(route, "route_handlers", [])
                 if "GET" in getattr(handler, "http_methods", ()) and route.path.startswith("/scheduling")}
    assert not [p for p in get_paths if "patient" in p or "search" in p], get_paths


def test_the_search_button_without_javascript_posts_and_keeps_what_was_typed(world, client, login_as, people):
    login_as(client, people["secretary"])
    form = {"q": "Lefèvre", "date": DAY.isoformat(), "time": "17:00", "practitioner": str(world.practitioner.id),
            "type": str(world.session_type_id), "duration": "45", "next": "/scheduling/?view=week&date=2030-09-03"}
    r = client.post("/scheduling/appointments/new", data=form)
    assert r.status_code == 200 and "<html" in r.text
    assert "LEFÈVRE Patient10" in r.text and 'value="Lefèvre"' in r.text
    assert f'value="{DAY.isoformat()}"' in r.text and 'value="17:00"' in r.text and 'value="45"' in r.text
    # in the dialog (htmx) the same button answers the dialog's body only
    partial = client.post("/scheduling/appointments/new", data=form, headers=HX)
    assert partial.status_code == 200 and "<html" not in partial.text and "LEFÈVRE Patient10" in partial.text
    # the series form's Search button too
    series = client.post("/scheduling/series/new", data={"q": "Lefèvre", "time1": "17:00", "sessions": "12"})
    assert series.status_code == 200 and "LEFÈVRE Patient10" in series.text and 'value="12"' in series.text
    # a search without the CSRF token is refused
    client.headers.pop("X-CSRF-Token", None)
    bare = client.post("/scheduling/patients/search", data={"q": "Lefèvre"})
    assert bare.status_code == 403 and "LEFÈVRE" not in bare.text


def _nav(html: str) -> str:
    return html.split('aria-label="Navigation principale"', 1)[1].split("</nav>", 1)[0]


def test_the_waiting_list_and_online_bookings_are_reachable_from_the_shell(world, client, login_as, people, staff,
                                                                         make_clinic):
    # given a practitioner: the waiting list is in the main navigation, online bookings on the agenda's head
    login_as(client, people["practitioner"])
    agenda = client.get("/scheduling/")
    assert '<a href="/scheduling/waitlist">Liste d’attente</a>' in _nav(agenda.text)
    assert '<a href="/scheduling/" aria-current="page">Agenda</a>' in _nav(agenda.text)
    assert '<a href="/scheduling/online">Rendez-vous pris en ligne</a>' in agenda.text
    assert 'href="/scheduling/setup"' not in agenda.text  # set-up needs scheduling.configure (owners)
    # on the waiting list, that entry is the current one (not the agenda, whose address is a prefix)
    waitlist = _nav(client.get("/scheduling/waitlist").text)
    assert '<a href="/scheduling/waitlist" aria-current="page">' in waitlist
    assert '<a href="/scheduling/" aria-current' not in waitlist
    assert client.get("/scheduling/online").status_code == 200
    client.post("/logout")
    # the owner also gets the set-up link
    login_as(client, people["owner"])
    assert 'href="/scheduling/setup"' in client.get("/scheduling/").text
    client.post("/logout")
    # a member of a clinic that has not enabled scheduling holds no scheduling permission: no entries
    plain = make_clinic("cabinet-sans-agenda", plugins=[])
    login_as(client, staff("owner,practitioner", clinic=plain, name="Hors Agenda"))
    home = client.get("/")
    assert home.status_code == 200 and "/scheduling/" not in _nav(home.text)
    assert "/scheduling/waitlist" not in home.text and "Liste d’attente" not in home.text
    assert client.get("/scheduling/waitlist").status_code == 404


def test_navigation_entries_declare_the_agenda_permission():
    from carnet_core.plugin_api import Principal
    from carnet_scheduling import permissions as perm
    from carnet_scheduling.controllers.panels import navigation

    items = {i.href: i.permission for i in navigation(None)}
    assert items == {"/scheduling/": perm.VIEW, "/scheduling/waitlist": perm.VIEW}
    # core shows an entry only to who holds its permission: a principal without scheduling.view sees none
    without = Principal(kind="user", user_id=1, clinic_id=1, roles=frozenset({"secretary"}),
                        permissions=frozenset({"core.patients.view"}))
    assert not [href for href, p in items.items() if without.can(p)]


def test_the_dialogs_search_finds_by_first_letters_and_shows_birth_dates(world, client, login_as, people, carnet_db):
    """Issue 13: search by the first letters of the last or first name, results with the birth date
    so that two homonyms are told apart, in the booking dialog too."""
    from carnet_core.plugin_api import Principal, patient_access

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        owner = Principal(kind="user", user_id=None, clinic_id=world.clinic.id, roles=frozenset({"owner"}))
        for born in ("2014-04-23", "2016-09-02"):
            patient_access(db, owner).register({"last_name": "Martin", "first_name": "Léa", "birth_date": born})
    login_as(client, people["secretary"])
    found = client.post("/scheduling/patients/search", data={"q": "mar lé"}, headers=HX)
    assert found.status_code == 200
    assert found.text.count("MARTIN Léa") == 2 and "23/04/2014" in found.text and "02/09/2016" in found.text
    assert "LEFÈVRE" not in found.text


def test_the_agendas_practitioner_rows_are_the_clinics_practitioners(carnet_db, make_team, world, scoped, people):
    # the agenda reads ids and names only (practitioner_names), the same practitioners, in the same
    # order, as practitioners(): none of another clinic, no secretary
    from conftest import make_world

    from carnet_scheduling.services.context import practitioner_names, practitioners

    other = make_world(carnet_db, make_team, slug="cabinet-autre")
    with scoped() as db:
        rows = practitioner_names(db)
        users = practitioners(db)
    assert [(r.id, r.display_name, r.email) for r in rows] == [(u.id, u.display_name, u.email) for u in users]
    ids = {r.id for r in rows}
    assert {people["practitioner"].id, people["owner"].id, world.practitioner.id} <= ids
    assert people["secretary"].id not in ids and other.practitioner.id not in ids
