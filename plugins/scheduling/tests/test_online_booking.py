"""Online booking without an account, end to end over HTTP: free slots, booking, confirmation by
code (with the .ics in the e-mail), cancellation through the e-mailed link with its cut-off, and
what the practitioner is told — with no health data in any message."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from patientside import CANARY_CARE, assert_no_health_data, mail_text, mails
from sqlmodel import select

from carnet_core.testing import OutboxMessage, csrf_token, wait_for_jobs
from carnet_scheduling.models import BOOKED, CANCELLED, Appointment
from carnet_scheduling.services import setup


@pytest.fixture
def online(carnet_db, world):
    """Claire works Monday to Friday 9:00-17:00; the online type is named like a care (canary)."""
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        setup.set_working_hours(db, world.practitioner.id, [
            (d, time(9), time(17), world.place_id, world.room_id) for d in range(5)])
        kind = setup.create_appointment_type(db, CANARY_CARE, 30, bookable_online=True)
    world.other["type_id"], world.other["type_name"] = kind.id, kind.name
    return world


def _first_slot(client, world) -> tuple[str, str]:
    page = client.get(f"/p/{world.clinic.slug}/scheduling/book/{world.practitioner.id}/{world.other['type_id']}")
    assert page.status_code == 200
    hrefs = re.findall(r'href="([^"]*/form\?start=[^"]+)"', page.text)
    assert hrefs, "no free slot listed"
    href = hrefs[0].replace("&amp;", "&")
    return href, unquote(href.split("start=", 1)[1])


def _book(client, world, start: str, email: str = "lea.dupont@example.org"):
    base = f"/p/{world.clinic.slug}/scheduling"
    return client.post(f"{base}/book/{world.practitioner.id}/{world.other['type_id']}", data={
        "_csrf_token": csrf_token(client, f"{base}/book"), "start": start, "first_name": "Léa",
        "last_name": "Dupont", "email": email, "phone": "06 12 34 56 78"}, follow_redirects=False)


def _code(settings) -> str:
    for msg in mails(settings):
        found = re.search(r"^\s+(\d{6})\s*$", mail_text(msg), re.M)
        if found:
            return found.group(1)
    raise AssertionError("no code in the mail folder")


def test_the_public_page_lists_free_slots_of_online_types_only(client, online):
    page = client.get(f"/p/{online.clinic.slug}/scheduling/book")
    assert page.status_code == 200 and "Claire Martin" in page.text and CANARY_CARE in page.text
    assert "Séance" not in page.text  # not bookable online
    assert client.get(f"/p/{online.clinic.slug}/scheduling/book/{online.practitioner.id}/{online.session_type_id}").status_code == 404
    _, start = _first_slot(client, online)
    assert datetime.fromisoformat(start) - datetime.now(UTC) >= timedelta(hours=24)  # minimum notice


def test_a_refused_booking_form_comes_back_as_a_french_page(client, online, carnet_db):
    _, start = _first_slot(client, online)
    base = f"/p/{online.clinic.slug}/scheduling"
    form = {"_csrf_token": csrf_token(client, f"{base}/book"), "start": start, "first_name": "Léa",
            "last_name": "Dupont", "email": "lea.dupont@example.org", "phone": "12"}
    refused = client.post(f"{base}/book/{online.practitioner.id}/{online.other['type_id']}", data=form)
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html")
    assert "<form" in refused.text and 'value="Dupont"' in refused.text  # the form again, values kept
    assert _book(client, online, start).status_code == 303
    taken = client.post(f"{base}/book/{online.practitioner.id}/{online.other['type_id']}",
                        data={**form, "phone": "06 12 34 56 78", "email": "autre@example.org", "last_name": "Autre"})
    assert taken.status_code in (400, 409) and taken.headers["content-type"].startswith("text/html")
    assert "plus libre" in taken.text and "<form" in taken.text


def test_booking_then_confirming_with_the_emailed_code(client, online, carnet_db, carnet_settings, jobs_worker):
    _, start = _first_slot(client, online)
    response = _book(client, online, start)
    assert response.status_code == 303
    confirm_url = response.headers["location"]
    assert "/confirm/" in confirm_url and "Dupont" not in confirm_url
    with carnet_db.session(clinic_id=online.clinic.id) as db:
        appt = db.exec(select(Appointment).where(Appointment.source == "online")).one()
    assert appt.status == BOOKED and appt.starts_at == datetime.fromisoformat(start)
    wait_for_jobs(jobs_worker)
    code = _code(carnet_settings)
    token = csrf_token(client, confirm_url)
    wrong = client.post(confirm_url, data={"_csrf_token": token, "code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 400
    done = client.post(confirm_url, data={"_csrf_token": token, "code": code})
    assert done.status_code == 200 and "confirmé" in done.text
    wait_for_jobs(jobs_worker)
    confirmation = [m for m in mails(carnet_settings) if "confirmé" in str(m["Subject"])]
    assert len(confirmation) == 1
    attachments = [p for p in confirmation[0].iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(attachments) == 1 and b"BEGIN:VEVENT" in attachments[0].get_payload(decode=True)
    practitioner = [m for m in mails(carnet_settings) if m["To"] == online.practitioner.email]
    assert len(practitioner) == 1 and "Dupont" not in mail_text(practitioner[0])
    assert_no_health_data(carnet_settings)
    # the code page cannot be used twice
    assert client.post(confirm_url, data={"_csrf_token": token, "code": code}).status_code == 410


def test_the_same_slot_cannot_be_booked_twice(client, online):
    _, start = _first_slot(client, online)
    assert _book(client, online, start).status_code == 303
    second = _book(client, online, start, email="autre@example.org")
    assert second.status_code in (400, 409) and "plus libre" in second.text


def test_bad_booking_input_is_refused_and_changes_nothing(client, online, carnet_db):
    _, start = _first_slot(client, online)
    base = f"/p/{online.clinic.slug}/scheduling"
    for data in ({"start": start, "first_name": "", "last_name": "X", "email": "a@b.fr"},
                 {"start": start, "first_name": "A", "last_name": "X", "email": "not-an-email"},
                 {"start": "1900-01-01T10:00:00+00:00", "first_name": "A", "last_name": "X", "email": "a@b.fr"},
                 {"start": "garbage", "first_name": "A", "last_name": "X", "email": "a@b.fr"}):
        data["_csrf_token"] = csrf_token(client, f"{base}/book")
        response = client.post(f"{base}/book/{online.practitioner.id}/{online.other['type_id']}", data=data)
        assert 400 <= response.status_code < 500
    with carnet_db.session(clinic_id=online.clinic.id) as db:
        assert db.exec(select(Appointment)).all() == []
    # and without the CSRF token nothing is even looked at
    refused = client.post(f"{base}/book/{online.practitioner.id}/{online.other['type_id']}",
                          data={"start": start, "first_name": "A", "last_name": "X", "email": "a@b.fr"})
    assert refused.status_code == 403


def _confirmed_booking(client, online, carnet_settings, jobs_worker) -> str:
    _, start = _first_slot(client, online)
    confirm_url = _book(client, online, start).headers["location"]
    wait_for_jobs(jobs_worker)
    client.post(confirm_url, data={"_csrf_token": csrf_token(client, confirm_url), "code": _code(carnet_settings)})
    wait_for_jobs(jobs_worker)
    confirmation = [m for m in mails(carnet_settings) if "confirmé" in str(m["Subject"])][0]
    return re.search(r"(http://\S+/scheduling/a/\S+)", mail_text(confirmation)).group(1).replace(
        carnet_settings.base_url, "")


def test_cancelling_through_the_emailed_link_needs_a_reason_and_frees_the_slot(
        client, online, carnet_db, carnet_settings, jobs_worker):
    manage = _confirmed_booking(client, online, carnet_settings, jobs_worker)
    page = client.get(manage)
    assert page.status_code == 200 and "Annuler" in page.text
    token = csrf_token(client, manage)
    no_reason = client.post(f"{manage}/cancel", data={"_csrf_token": token, "reason": "  "})
    assert no_reason.status_code == 400
    done = client.post(f"{manage}/cancel", data={"_csrf_token": token, "reason": "Empêchement"})
    assert done.status_code == 200 and "annulé" in done.text
    with carnet_db.session(clinic_id=online.clinic.id) as db:
        assert db.exec(select(Appointment.status)).all() == [CANCELLED]
    wait_for_jobs(jobs_worker)
    assert any("annulé" in str(m["Subject"]) for m in mails(carnet_settings))
    assert any(m["To"] == online.practitioner.email and "Annulation" in str(m["Subject"])
               for m in mails(carnet_settings))
    assert client.get(manage).status_code == 410  # the link is used up
    assert_no_health_data(carnet_settings)


def test_the_manage_page_leads_with_moving_and_asks_before_cancelling(
        client, online, carnet_settings, jobs_worker):
    # issue 13: cancel was the page's primary button and the first free time was pre-selected
    manage = _confirmed_booking(client, online, carnet_settings, jobs_worker)
    html = client.get(manage).text
    primary = re.findall(r'<button type="submit" class="button primary"[^>]*>([^<]+)</button>', html)
    assert primary == ["Déplacer le rendez-vous"]
    # no time is chosen for the patient: the list opens on an empty choice, and a free time is not selected
    select = re.search(r'<select id="f-start" name="start" required[^>]*>(.*?)</select>', html, re.S).group(1)
    options = re.findall(r"<option([^>]*)>", select)
    assert options[0] == ' value="" selected' and len(options) > 1
    assert all("selected" not in o for o in options[1:])
    # cancelling sits behind a secondary control, and its own button says it confirms
    cancel = re.search(r'<details class="confirm">\s*<summary class="button secondary">Annuler le rendez-vous</summary>'
                       r'(.*?)</details>', html, re.S)
    assert cancel and f'action="{manage}/cancel"' in cancel.group(1)
    assert "Oui, annuler le rendez-vous" in cancel.group(1) and 'class="button danger"' in cancel.group(1)
    # a move posted without a time is refused next to the list, nothing moved
    refused = client.post(f"{manage}/move", data={"_csrf_token": csrf_token(client, manage), "start": ""})
    assert refused.status_code == 400 and 'id="err-start"' in refused.text


def test_cancelling_after_the_cut_off_is_refused(client, online, carnet_db, carnet_settings, jobs_worker):
    manage = _confirmed_booking(client, online, carnet_settings, jobs_worker)
    with carnet_db.session(clinic_id=online.clinic.id) as db:
        soon = datetime.now(UTC) + timedelta(hours=3)
        db.execute(sa.update(Appointment.__table__).values(starts_at=soon, ends_at=soon + timedelta(minutes=30)))
    response = client.post(f"{manage}/cancel", data={"_csrf_token": csrf_token(client, manage), "reason": "Tard"})
    assert response.status_code == 400
    with carnet_db.session(clinic_id=online.clinic.id) as db:
        assert db.exec(select(Appointment.status)).all() == [BOOKED]


def test_unconfirmed_bookings_are_released(client, online, carnet_db, plugin_host):
    from carnet_scheduling.patient_models import OnlineBooking
    from carnet_scheduling.services.booking import release_unconfirmed

    _, start = _first_slot(client, online)
    _book(client, online, start)
    with carnet_db.session(clinic_id=online.clinic.id) as db:
        db.info["principal"] = "system:tests"
        assert release_unconfirmed(db, plugin_host.for_clinic({"scheduling"})) == 0
        booking = db.exec(select(OnlineBooking)).one()
        assert release_unconfirmed(db, plugin_host.for_clinic({"scheduling"}),
                                   now=booking.confirm_by + timedelta(seconds=1)) == 1
        assert db.exec(select(Appointment.status)).all() == [CANCELLED]
    with carnet_db.session(unscoped=True) as db:
        assert db.exec(select(OutboxMessage.actor)).all()


def test_the_patient_can_stop_reminders_through_the_link(client, online, carnet_db, carnet_settings, jobs_worker):
    from carnet_scheduling.patient_models import Reminder
    from carnet_scheduling.services import reminders

    with carnet_db.session(clinic_id=online.clinic.id) as db:
        reminders.ensure_default_rules(db)
    manage = _confirmed_booking(client, online, carnet_settings, jobs_worker)
    response = client.post(f"{manage}/reminders-off", data={"_csrf_token": csrf_token(client, manage)})
    assert response.status_code == 200 and "rappels" in response.text
    with carnet_db.session(clinic_id=online.clinic.id) as db:
        assert {r.status for r in db.exec(select(Reminder))} == {"cancelled"}
