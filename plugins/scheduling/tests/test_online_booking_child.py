"""Online booking for a child (issue 13, "Parental authority cannot be recorded from the UI"): the
family gives the child's names and birth date and each holder of parental authority, with the
one who is the main contact; everything is checked as core's registry will before anything is
written, sealed in the database, and shown to the practice on the patient's file."""

from __future__ import annotations

import re
from datetime import time
from urllib.parse import unquote

import pytest
from patientside import CANARY_CARE, mail_text, mails
from sqlmodel import select

from carnet_core.testing import csrf_token, wait_for_jobs
from carnet_scheduling.models import Appointment
from carnet_scheduling.services import setup

PARENTS = {
    "g0_relation": "mother",
    "g0_last_name": "Roux",
    "g0_first_name": "Anne",
    "g0_email": "anne.roux@example.org",
    "g0_phone": "06 12 34 56 01",
    "g0_messages": "1",
    "g1_relation": "father",
    "g1_last_name": "Roux",
    "g1_first_name": "Paul",
    "g1_email": "paul.roux@example.org",
    "g1_phone": "06 98 76 54 32",
}


@pytest.fixture
def online(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        setup.set_working_hours(
            db, world.practitioner.id, [(d, time(9), time(17), world.place_id, world.room_id) for d in range(5)]
        )
        kind = setup.create_appointment_type(db, CANARY_CARE, 30, bookable_online=True)
    world.other["type_id"] = kind.id
    return world


def _slots(client, world) -> list[str]:
    page = client.get(f"/p/{world.clinic.slug}/scheduling/book/{world.practitioner.id}/{world.other['type_id']}")
    return [
        unquote(h.replace("&amp;", "&").split("start=", 1)[1])
        for h in re.findall(r'href="([^"]*/form\?start=[^"]+)"', page.text)
    ]


def _book_child(client, world, start: str, **fields):
    base = f"/p/{world.clinic.slug}/scheduling"
    data = {
        "_csrf_token": csrf_token(client, f"{base}/book"),
        "start": start,
        "for": "child",
        "first_name": "Tom",
        "last_name": "Roux",
        "birth_date": "2017-04-23",
        "main": "1",
        **PARENTS,
    }
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(
        f"{base}/book/{world.practitioner.id}/{world.other['type_id']}", data=data, follow_redirects=False
    )


def _written(carnet_db, world) -> tuple[int, int]:
    from carnet_core.testing import Patient, PatientGuardian

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return len(db.exec(select(Appointment)).all()), len(db.exec(select(Patient)).all()) + len(
            db.exec(select(PatientGuardian)).all()
        )


def test_the_form_for_a_child_asks_the_birth_date_and_both_parents(client, online):
    start = _slots(client, online)[0]
    base = f"/p/{online.clinic.slug}/scheduling/book/{online.practitioner.id}/{online.other['type_id']}/form"
    adult = client.get(base, params={"start": start})
    assert adult.status_code == 200 and "Pour un enfant" in adult.text and 'name="g0_relation"' not in adult.text
    child = client.get(base, params={"start": start, "for": "child"})
    assert child.status_code == 200 and 'name="birth_date"' in child.text
    assert 'name="g1_relation"' in child.text and 'name="main"' in child.text
    assert "Contact principal pour ce rendez-vous" in child.text and "Date de naissance" in child.text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"birth_date": ""}, "birth_date", "date de naissance"),
        ({"birth_date": "2999-01-01"}, "birth_date", "date de naissance"),
        ({"first_name": ""}, "first_name", "prénom de l’enfant"),
        ({"g1_phone": "06 98"}, "g1_phone", "06 12 34 56 78"),
        ({"g1_relation": ""}, "g1_relation", "lien avec le patient"),
        ({"g1_email": ""}, "g1_email", "e-mail du contact principal"),
        (
            {"main": "1", **{f"g1_{k}": "" for k in ("relation", "last_name", "first_name", "email", "phone")}},
            "main",
            "contact principal",
        ),
        (
            {**{f"g{i}_{k}": "" for i in (0, 1) for k in ("relation", "last_name", "first_name", "email", "phone")}},
            "g0_last_name",
            "titulaire de l’autorité parentale",
        ),
    ],
)
def test_bad_family_details_are_refused_by_name_and_nothing_is_written(
    client, online, carnet_db, fields, field, message
):
    start = _slots(client, online)[0]
    refused = _book_child(client, online, start, **fields)
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html")
    assert message in refused.text
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', refused.text), field
    # the form comes back with what was typed, still for a child
    assert (
        'name="for" value="child"' in refused.text
        and 'name="last_name" required maxlength="100" value="Roux"' in refused.text
    )
    assert _written(carnet_db, online) == (0, len(online.patients))


def test_a_child_is_registered_with_birth_date_and_both_parents_sealed(
    client, online, carnet_db, carnet_settings, jobs_worker
):
    from carnet_core.plugin_api import open_
    from carnet_core.testing import Patient, PatientGuardian

    slots = _slots(client, online)
    start = slots[0]
    later = next(s for s in slots if s[:10] != start[:10])  # another day: one appointment a day per patient
    booked = _book_child(client, online, start)
    assert booked.status_code == 303, booked.text
    with carnet_db.session(clinic_id=online.clinic.id) as db:
        db.info["principal"] = "system:tests"
        appt = db.exec(select(Appointment).where(Appointment.source == "online")).one()
        patient = db.get(Patient, appt.patient_id)
        assert (
            open_(db, patient, "first_name"),
            open_(db, patient, "last_name"),
            open_(db, patient, "birth_date"),
            open_(db, patient, "email"),
        ) == ("Tom", "Roux", "2017-04-23", "paul.roux@example.org")
        holders = db.exec(
            select(PatientGuardian).where(PatientGuardian.patient_id == patient.id).order_by(PatientGuardian.id)
        ).all()
        assert [
            (g.relation, open_(db, g, "first_name"), open_(db, g, "phone"), g.may_receive_messages, g.main_contact)
            for g in holders
        ] == [
            ("mother", "Anne", "+33612345601", True, False),
            ("father", "Paul", "+33698765432", True, True),
        ]  # the main contact receives messages
    with carnet_db.engine.connect() as conn:
        raw = repr(conn.exec_driver_sql("SELECT * FROM core_patient").fetchall()) + repr(
            conn.exec_driver_sql("SELECT * FROM core_patient_guardian").fetchall()
        )
    assert "2017-04-23" not in raw and "Paul" not in raw and "Anne" not in raw  # sealed
    # the confirmation code goes to the main contact
    wait_for_jobs(jobs_worker)
    assert [m["To"] for m in mails(carnet_settings) if re.search(r"^\s+\d{6}\s*$", mail_text(m), re.M)] == [
        "paul.roux@example.org"
    ]
    # the same child booked again is the same patient; a sibling (same parent, same last name) is not
    assert _book_child(client, online, later).status_code == 303
    sister_slot = _slots(client, online)[0]  # the same day as her brother's: she is another patient
    assert _book_child(client, online, sister_slot, first_name="Lou", birth_date="2019-02-11").status_code == 303
    with carnet_db.session(clinic_id=online.clinic.id) as db:
        ids = [a.patient_id for a in db.exec(select(Appointment).order_by(Appointment.id))]
    assert ids[0] == ids[1] != ids[2]


def test_the_practice_sees_the_parents_and_the_main_contact_on_the_file(client, online, carnet_db, staff, login_as):
    start = _slots(client, online)[0]
    assert _book_child(client, online, start, main="0").status_code == 303
    with carnet_db.session(clinic_id=online.clinic.id) as db:
        patient_id = db.exec(select(Appointment.patient_id)).one()
    login_as(client, staff("secretary", clinic=online.clinic))
    page = client.get(f"/patients/{patient_id}")
    assert page.status_code == 200
    assert "23/04/2017" in page.text and "autorité parentale" in page.text
    mother = re.search(r"<li>Mère[^<]*(<[^l][^<]*)*", page.text).group(0)
    assert "Anne" in mother and "06 12 34 56 01" in mother and "contact principal" in mother
    father = re.search(r"<li>Père[^<]*(<[^l][^<]*)*", page.text).group(0)
    assert "Paul" in father and "contact principal" not in father
