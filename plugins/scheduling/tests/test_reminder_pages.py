"""The reminder settings page (owners): rules listed, added, switched off and on, removed; reminders
switched per practitioner and appointment type; per patient from the patient page; statuses in
the appointment dialog. Bad input gets a French field error and writes nothing."""

from datetime import date, time

import pytest
from sqlmodel import select

from carnet_core.testing import AuditRecord, wait_for_jobs
from carnet_scheduling.patient_models import ReminderRule, ReminderSwitch
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import reminders
from carnet_scheduling.services.calendar import local_to_utc

T = local_to_utc(date(2030, 9, 3), time(17))
PAGE = "/scheduling/setup/reminders"


@pytest.fixture
def owner(world, staff):
    return staff("owner,practitioner", clinic=world.clinic, name="Odile Owner")


def _rules(scoped):
    with scoped() as db:
        return sorted((r.channel, r.minutes_before, r.active) for r in db.exec(select(ReminderRule)))


def test_an_owner_installs_the_usual_rules_adds_one_and_switches_one_off(world, scoped, client, login_as, owner):
    login_as(client, owner)
    empty = client.get(PAGE)
    assert empty.status_code == 200 and "Aucune règle pour l’instant : les règles habituelles seront mises en place au prochain rendez-vous pris" in empty.text
    assert client.post(f"{PAGE}/defaults", follow_redirects=False).status_code == 303
    assert _rules(scoped) == [("email", 1440, True), ("email", 10080, True), ("sms", 2880, True)]
    r = client.post(f"{PAGE}/rules", data={"channel": "sms", "delay": "3", "unit": "hours"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{PAGE}#rules"
    page = client.get(PAGE).text
    for shown in ("7 jours avant", "1 jour avant", "2 jours avant", "3 heures avant", "E-mail", "SMS"):
        assert shown in page, shown
    english = client.get(PAGE, headers={"accept-language": "en"}).text  # the plural rule of each language
    for shown in ("7 days before", "1 day before", "2 days before", "3 hours before"):
        assert shown in english, shown
    with scoped() as db:
        sms3 = db.exec(select(ReminderRule).where(ReminderRule.minutes_before == 180)).one().id
    assert client.post(f"{PAGE}/rules/{sms3}", data={"action": "off"}, follow_redirects=False).status_code == 303
    assert ("sms", 180, False) in _rules(scoped) and "désactivée" in client.get(PAGE).text
    assert client.post(f"{PAGE}/rules/{sms3}", data={"action": "on"}, follow_redirects=False).status_code == 303
    # never used: it can be removed
    assert client.post(f"{PAGE}/rules/{sms3}", data={"action": "remove"}, follow_redirects=False).status_code == 303
    assert ("sms", 180, True) not in _rules(scoped) and len(_rules(scoped)) == 3
    assert client.post(f"{PAGE}/rules/999999", data={"action": "off"}).status_code == 404
    with scoped() as db:
        trail = db.exec(select(AuditRecord).where(AuditRecord.resource_type == "scheduling_reminder_rule")).all()
    assert [a.action for a in trail][-4:] == ["create", "update", "update", "delete"]
    assert {a.actor_id for a in trail} == {str(owner.id)}


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"channel": "email", "delay": "-2", "unit": "days"}, "delay", "Saisissez un nombre entier"),
    ({"channel": "email", "delay": "0", "unit": "days"}, "delay", "Saisissez un nombre entier"),
    ({"channel": "email", "delay": "61", "unit": "days"}, "delay", "entre 30 minutes et 30 jours avant le rendez-vous"),
    ({"channel": "email", "delay": "10", "unit": "weeks"}, "delay", "Choisissez jours ou heures."),
    ({"channel": "fax", "delay": "2", "unit": "days"}, "channel", "choisissez e-mail ou SMS"),
    ({"channel": "email", "delay": "1", "unit": "days"}, "delay", "ce rappel existe déjà"),
    ({"channel": "email", "delay": "24", "unit": "hours"}, "delay", "ce rappel existe déjà"),
    ({"channel": "email", "delay": "", "unit": "days"}, "delay", "Ce champ est obligatoire."),
])
def test_bad_rules_get_a_french_field_error_and_write_nothing(world, scoped, client, login_as, owner, form, field,
                                                              message):
    login_as(client, owner)
    client.post(f"{PAGE}/defaults")
    before = _rules(scoped)
    with scoped() as db:
        writes = len(db.exec(select(AuditRecord).where(AuditRecord.action != "read")).all())
    r = client.post(f"{PAGE}/rules", data=form)
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")  # a page, not its source
    assert f'id="err-{field}"' in r.text and message in r.text
    assert _rules(scoped) == before
    with scoped() as db:
        assert len(db.exec(select(AuditRecord).where(AuditRecord.action != "read")).all()) == writes


def test_reminders_switch_per_practitioner_and_type_and_re_plan(
        world, scoped, client, login_as, owner, plugin_host, jobs_worker):
    with scoped() as db:
        reminders.ensure_default_rules(db)
        a = appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[0],
                       appointment_type_id=world.session_type_id, starts_at=T,
                       hooks=plugin_host.for_clinic({"scheduling"}))
    login_as(client, owner)
    r = client.post(f"{PAGE}/switches", data={"scope": "practitioner", "subject": str(world.practitioner.id),
                                               "enabled": "0"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{PAGE}#practitioners"
    wait_for_jobs(jobs_worker)  # booked appointments are re-planned by a job
    with scoped() as db:
        assert {x.status for x in reminders.for_appointment(db, a.id)} == {"cancelled"}
    assert "coupés" in client.get(PAGE).text
    client.post(f"{PAGE}/switches", data={"scope": "practitioner", "subject": str(world.practitioner.id),
                                          "enabled": "1"})
    client.post(f"{PAGE}/switches", data={"scope": "appointment_type", "subject": str(world.session_type_id),
                                          "enabled": "0"})
    wait_for_jobs(jobs_worker)
    with scoped() as db:
        assert {x.status for x in reminders.for_appointment(db, a.id)} == {"cancelled"}
        assert db.exec(select(ReminderSwitch.scope)).all() == ["appointment_type"]
    client.post(f"{PAGE}/switches", data={"scope": "appointment_type", "subject": str(world.session_type_id),
                                          "enabled": "1"})
    wait_for_jobs(jobs_worker)
    with scoped() as db:
        assert {x.status for x in reminders.for_appointment(db, a.id)} == {"scheduled"}
        assert not db.exec(select(ReminderSwitch)).all()
    # an unknown subject or scope: a French error, nothing written
    for bad in ({"scope": "practitioner", "subject": str(world.secretary.id), "enabled": "0"},
                {"scope": "room", "subject": str(world.room_id), "enabled": "0"},
                {"scope": "appointment_type", "subject": "abc", "enabled": "0"}):
        r = client.post(f"{PAGE}/switches", data=bad)
        assert r.status_code == 422 and 'class="field-error"' in r.text, bad
    with scoped() as db:
        assert not db.exec(select(ReminderSwitch)).all()


def test_only_owners_configure_reminders(world, client, login_as, staff, owner):
    login_as(client, owner)
    assert 'href="/scheduling/setup/reminders"' in client.get("/scheduling/setup").text
    client.post("/logout")
    for roles in ("practitioner", "secretary"):
        login_as(client, staff(roles, clinic=world.clinic, name=f"Pas {roles}"))
        assert client.get(PAGE).status_code == 403
        assert client.post(f"{PAGE}/rules", data={"channel": "sms", "delay": "2", "unit": "days"}).status_code == 403
        client.post("/logout")


def test_the_dialog_shows_each_reminder_status_and_the_patient_page_switches_them(
        world, scoped, client, login_as, staff, plugin_host):
    with scoped() as db:
        reminders.ensure_default_rules(db)
        a = appts.book(db, practitioner_id=world.practitioner.id, patient_id=world.patients[0],
                       appointment_type_id=world.session_type_id, starts_at=T,
                       hooks=plugin_host.for_clinic({"scheduling"}))
        sms = next(r for r in reminders.for_appointment(db, a.id) if r.channel == "sms")
        sms.status = "failed"
        db.add(sms)
    login_as(client, staff("secretary", clinic=world.clinic, name="Sonia Secrétaire"))
    dialog = client.get(f"/scheduling/appointments/{a.id}", headers={"HX-Request": "true"}).text
    assert "Rappels" in dialog and dialog.count("rm-scheduled") == 2 and "rm-failed" in dialog
    assert "programmé" in dialog and "échec" in dialog and "27/08 17:00" in dialog  # 7 days before, local time
    # the patient page: reminders on, switched off by the secretary (the patient asked on the phone)
    patient = client.get(f"/patients/{world.patients[0]}").text
    assert f'action="/scheduling/patients/{world.patients[0]}/reminders"' in patient
    r = client.post(f"/scheduling/patients/{world.patients[0]}/reminders", data={"enabled": "0"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/patients/{world.patients[0]}"
    with scoped() as db:
        assert {x.status for x in reminders.for_appointment(db, a.id)} == {"cancelled", "failed"}
    assert "coupés" in client.get(f"/patients/{world.patients[0]}").text
    client.post(f"/scheduling/patients/{world.patients[0]}/reminders", data={"enabled": "1"})
    with scoped() as db:
        assert sorted(x.status for x in reminders.for_appointment(db, a.id)) == ["failed", "scheduled", "scheduled"]
    assert client.post("/scheduling/patients/999999/reminders", data={"enabled": "0"}).status_code == 404
