"""Today's list shows the number to call for each patient (issue 13: "today's list has phones"):
formatted the French way, a tel: link, the main contact's for a child without a phone of their
own; nothing for a patient whose name the reader may not see."""

from __future__ import annotations

import re
from datetime import date, time

from sqlmodel import select

from carnet_core.testing import AuditRecord
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services.calendar import local_to_utc

DAY = date(2030, 9, 3)  # a Tuesday


def _register(carnet_db, clinic_id: int, data: dict) -> int:
    from carnet_core.plugin_api import Principal, patient_access

    with carnet_db.session(clinic_id=clinic_id) as db:
        db.info["principal"] = "system:tests"
        owner = Principal(kind="user", user_id=None, clinic_id=clinic_id, roles=frozenset({"owner"}))
        return patient_access(db, owner).register(data)


def test_today_list_shows_each_patients_phone_as_a_tel_link(world, scoped, client, login_as, staff, carnet_db):
    adult = _register(
        carnet_db, world.clinic.id, {"last_name": "Garnier", "first_name": "Luc", "phone": "06 12 34 56 78"}
    )
    child = _register(
        carnet_db,
        world.clinic.id,
        {
            "last_name": "Roux",
            "first_name": "Tom",
            "guardians": [
                {"relation": "mother", "last_name": "Roux", "first_name": "Anne", "phone": "06 21 43 65 87"},
                {
                    "relation": "father",
                    "last_name": "Roux",
                    "first_name": "Paul",
                    "phone": "07 81 22 33 44",
                    "main_contact": True,
                },
            ],
        },
    )
    nophone = _register(carnet_db, world.clinic.id, {"last_name": "Blanc", "first_name": "Eva"})
    other = staff("practitioner", clinic=world.clinic, name="Paule Praticienne")
    hidden = _register(
        carnet_db,
        world.clinic.id,
        {"last_name": "Henry", "first_name": "Zoé", "phone": "06 45 67 89 01", "practitioner_id": other.id},
    )
    with scoped() as db:
        for hour, pid in ((9, adult), (10, child), (11, nophone)):
            appts.book(
                db,
                practitioner_id=world.practitioner.id,
                patient_id=pid,
                appointment_type_id=world.session_type_id,
                starts_at=local_to_utc(DAY, time(hour)),
            )
        appts.book(
            db,
            practitioner_id=other.id,
            patient_id=hidden,
            appointment_type_id=world.session_type_id,
            starts_at=local_to_utc(DAY, time(9)),
        )
    # a secretary sees everyone's list with every phone
    login_as(client, staff("secretary", clinic=world.clinic))
    page = client.get(f"/scheduling/today?date={DAY}&all=1")
    assert page.status_code == 200
    links = dict(re.findall(r'<a class="day-phone" href="tel:(\+\d+)">([^<]+)</a>', page.text))
    assert links == {
        "+33612345678": "06 12 34 56 78",
        "+33781223344": "07 81 22 33 44",
        "+33645678901": "06 45 67 89 01",
    }  # the child's: the main contact's
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        audited = {r.patient_id for r in db.exec(select(AuditRecord).where(AuditRecord.action == "read"))}
    assert {adult, child, hidden} <= audited
    # a practitioner who does not follow Zoé HENRY sees her neither by name nor by phone
    client.cookies.clear()
    login_as(client, other)
    mine = client.get(f"/scheduling/today?date={DAY}&practitioner={world.practitioner.id}")
    assert mine.status_code == 200 and "06 12 34 56 78" not in mine.text and "garnier" not in mine.text.lower()
    theirs = client.get(f"/scheduling/today?date={DAY}")
    assert "HENRY Zoé" in theirs.text and 'href="tel:+33645678901"' in theirs.text
