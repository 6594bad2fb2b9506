"""Appointment types belong to professions (issue 13): online booking offers each practitioner
only their profession's types and those of every profession, the public page names each
practitioner's profession, and the owner records both on the set-up page."""

from __future__ import annotations

from datetime import time

import pytest
from sqlmodel import select

from carnet_core.testing import csrf_token
from carnet_scheduling.models import PractitionerProfile
from carnet_scheduling.services import setup


@pytest.fixture
def two_professions(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        for who in (world.practitioner.id, world.colleague.id):
            setup.set_working_hours(db, who, [(d, time(9), time(17), world.place_id, None) for d in range(5)])
        setup.set_profession(db, world.practitioner.id, "orthophoniste")
        setup.set_profession(db, world.colleague.id, "kinesitherapeute")
        ortho = setup.create_appointment_type(db, "Bilan orthophonique", 60, bookable_online=True,
                                              profession="orthophoniste")
        kine = setup.create_appointment_type(db, "Bilan kiné", 45, bookable_online=True, profession="kinesitherapeute")
        shared = setup.create_appointment_type(db, "Premier contact", 15, bookable_online=True)
    world.other.update(ortho=ortho.id, kine=kine.id, shared=shared.id)
    return world


def _offered(html: str, person_id: int, slug: str) -> set[int]:
    import re

    return {int(t) for t in re.findall(rf'href="/p/{slug}/scheduling/book/{person_id}/(\d+)"', html)}


def test_online_booking_offers_each_practitioner_only_their_professions_types(client, two_professions):
    w = two_professions
    page = client.get(f"/p/{w.clinic.slug}/scheduling/book")
    assert page.status_code == 200
    assert _offered(page.text, w.practitioner.id, w.clinic.slug) == {w.other["ortho"], w.other["shared"], w.bilan_type_id}
    assert _offered(page.text, w.colleague.id, w.clinic.slug) == {w.other["kine"], w.other["shared"], w.bilan_type_id}
    assert "Claire Martin <span class=\"profession\">— Orthophoniste</span>" in page.text
    assert "Julien Petit <span class=\"profession\">— Masseur-kinésithérapeute</span>" in page.text
    base = f"/p/{w.clinic.slug}/scheduling/book"
    # the other profession's type, typed in the address: no slot page, no booking
    assert client.get(f"{base}/{w.practitioner.id}/{w.other['kine']}").status_code == 404
    assert client.get(f"{base}/{w.colleague.id}/{w.other['ortho']}").status_code == 404
    assert client.get(f"{base}/{w.colleague.id}/{w.other['kine']}").status_code == 200
    refused = client.post(f"{base}/{w.practitioner.id}/{w.other['kine']}", data={
        "_csrf_token": csrf_token(client, base), "start": "2030-01-07T09:00:00+00:00", "first_name": "Léa",
        "last_name": "Dupont", "email": "lea@example.org"})
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html")


def test_the_owner_records_professions_on_the_setup_page(client, world, carnet_db, staff, login_as):
    login_as(client, staff("owner,practitioner", clinic=world.clinic, name="Odile Owner"))
    form = client.get(f"/scheduling/setup?practitioner={world.colleague.id}")
    assert form.status_code == 200 and 'name="profession"' in form.text and "Toutes professions" in form.text
    saved = client.post("/scheduling/setup/profession", data={"practitioner": world.colleague.id,
                                                              "profession": "psychologue"}, follow_redirects=False)
    assert saved.status_code == 303
    refused = client.post("/scheduling/setup/profession", data={"practitioner": world.colleague.id,
                                                                "profession": "astrologue"})
    assert refused.status_code == 422 and "choisissez une profession dans la liste" in refused.text
    added = client.post("/scheduling/setup/types", data={"name": "Bilan psychologique", "duration": "60",
                                                         "profession": "psychologue", "bookable_online": "1",
                                                         "reminders": "1"}, follow_redirects=False)
    assert added.status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(PractitionerProfile.profession)).all() == ["psychologue"]
        assert [t.profession for t in setup.list_types(db) if t.name == "Bilan psychologique"] == ["psychologue"]
    listed = client.get("/scheduling/setup")
    assert "Psychologue" in listed.text
