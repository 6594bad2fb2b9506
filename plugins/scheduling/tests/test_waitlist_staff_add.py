"""Staff put a patient of the practice on the waiting list themselves (issue 13): the patient is
chosen through the registry's search (a POST, never an id typed by hand), the lists are validated,
nothing is written on a refusal, the addition is audited, and the list shows the patient's name."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from carnet_core.testing import AuditRecord
from carnet_scheduling.patient_models import WaitingEntry, WaitingListing


@pytest.fixture
def people(world, staff):
    return {"secretary": staff("secretary", clinic=world.clinic, name="Sonia Secrétaire"),
            "owner": staff("owner,practitioner", clinic=world.clinic, name="Odile Owner")}


def _radio_ids(html: str) -> list[int]:
    return [int(v) for v in re.findall(r'<input type="radio" name="patient_id" value="(\d+)"', html)]


def _entries(carnet_db, world) -> list[tuple[WaitingEntry, list[WaitingListing]]]:
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return [(e, list(db.exec(select(WaitingListing).where(WaitingListing.entry_id == e.id))))
                for e in db.exec(select(WaitingEntry)).all()]


def test_secretary_finds_the_patient_by_name_and_adds_them_to_two_lists(world, client, login_as, carnet_db, people):
    login_as(client, people["secretary"])
    form = client.get("/scheduling/waitlist/new")
    assert form.status_code == 200 and 'name="q"' in form.text and 'name="patient_id"' not in form.text
    assert 'name="situation"' not in form.text  # clinical words are the practitioners' to write
    # the form's Search button (no JavaScript): the name goes in the body, the values typed are kept
    found = client.post("/scheduling/waitlist/new", data={"q": "Lef", "urgent": "1",
                                                          "availability": ["1:morning"]})
    assert found.status_code == 200
    ids = _radio_ids(found.text)
    assert ids and set(ids) <= set(world.patients)
    assert re.search(r'value="1:morning"[^>]*checked', found.text) and 'name="urgent" value="1" checked' in found.text
    patient_id = ids[0]
    done = client.post("/scheduling/waitlist", data={
        "patient_id": str(patient_id), "practitioners": [str(world.practitioner.id), str(world.colleague.id)],
        "availability": ["1:morning", "3:afternoon"], "urgent": "1"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/scheduling/waitlist"
    [(entry, listings)] = _entries(carnet_db, world)
    assert entry.patient_id == patient_id and entry.urgent and entry.full_name is None and entry.email is None
    assert entry.availability == '[[1, "08:00", "12:00"], [3, "12:00", "18:00"]]'
    # the secretary triages no one's list: both practitioners decide
    assert sorted((lst.practitioner_id, lst.state) for lst in listings) == sorted(
        [(world.practitioner.id, "new"), (world.colleague.id, "new")])
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        audited = db.exec(select(AuditRecord).where(AuditRecord.action == "create",
                                                    AuditRecord.resource_type == "scheduling_waiting_entry")).all()
    assert [(a.patient_id, a.resource_id) for a in audited] == [(patient_id, str(entry.id))]
    # the list names the patient (from the registry) with a link to the file
    listing = client.get(f"/scheduling/waitlist?practitioner_id={world.practitioner.id}")
    assert f'<a href="/patients/{patient_id}">' in listing.text


def test_a_practitioner_adding_to_their_own_list_accepts_it_and_may_write_the_situation(world, client, login_as, people,
                                                                                         carnet_db):
    login_as(client, people["owner"])
    patient_id = world.patients[1]
    form = client.get(f"/scheduling/waitlist/new?patient_id={patient_id}")
    # from the patient's page: the patient already chosen, the practitioner's own list ticked
    assert _radio_ids(form.text) == [patient_id] and 'name="situation"' in form.text
    me = people["owner"].id
    assert re.search(rf'value="{me}" checked', form.text)
    done = client.post("/scheduling/waitlist", data={
        "patient_id": str(patient_id), "practitioners": str(me),
        "situation": "Retard de parole", "prescription": "Dr X, 30 séances"}, follow_redirects=False)
    assert done.status_code == 303
    [(entry, [listing])] = _entries(carnet_db, world)
    assert listing.state == "accepted" and listing.triaged_at is not None
    with carnet_db.engine.connect() as conn:
        raw = repr(conn.exec_driver_sql("SELECT * FROM scheduling_waiting_entry").fetchall())
    assert "Retard de parole" not in raw  # sealed like a family's words
    assert "Retard de parole" in client.get(f"/scheduling/waitlist?practitioner_id={me}").text


def test_bad_additions_are_refused_in_french_and_write_nothing(world, client, login_as, carnet_db, people):
    login_as(client, people["secretary"])
    me = str(world.practitioner.id)
    cases = [
        ({"practitioners": me}, "Choisissez un patient"),  # no patient chosen
        ({"patient_id": "999999", "practitioners": me}, "Choisissez un patient"),  # not one of ours
        ({"patient_id": "abc", "practitioners": me}, "Choisissez un patient"),
        ({"patient_id": str(world.patients[0])}, "au moins un"),  # no list
        ({"patient_id": str(world.patients[0]), "practitioners": str(people["secretary"].id)}, "au moins un"),
        ({"patient_id": str(world.patients[0]), "practitioners": me, "availability": "9:night"}, "demi-journées"),
        ({"patient_id": str(world.patients[0]), "practitioners": me, "situation": "x"}, "praticiens"),
    ]
    for body, said in cases:
        answer = client.post("/scheduling/waitlist", data=body)
        assert answer.status_code == 422, body
        assert answer.headers["content-type"].startswith("text/html") and said in answer.text, (body, answer.text)
    assert _entries(carnet_db, world) == []
    # the same patient twice on one list: refused, the first file kept alone
    body = {"patient_id": str(world.patients[0]), "practitioners": me}
    assert client.post("/scheduling/waitlist", data=body, follow_redirects=False).status_code == 303
    again = client.post("/scheduling/waitlist", data=body)
    assert again.status_code == 422 and "déjà sur la liste" in again.text
    assert len(_entries(carnet_db, world)) == 1


def test_the_patient_page_offers_to_add_them_to_the_waiting_list(world, client, login_as, people):
    login_as(client, people["secretary"])
    patient_id = world.patients[0]
    page = client.get(f"/patients/{patient_id}")
    assert f'href="/scheduling/waitlist/new?patient_id={patient_id}"' in page.text


def test_the_forms_patient_search_finds_a_child_by_birth_date_and_shows_it(world, client, login_as, people,
                                                                          carnet_db):
    from carnet_core.plugin_api import Principal, patient_access

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        owner = Principal(kind="user", user_id=None, clinic_id=world.clinic.id, roles=frozenset({"owner"}))
        child = patient_access(db, owner).register({"last_name": "Roux", "first_name": "Tom",
                                                    "birth_date": "2014-04-23"})
    login_as(client, people["secretary"])
    found = client.post("/scheduling/patients/search", data={"q": "23/04/2014"})
    assert found.status_code == 200 and _radio_ids(found.text) == [child]
    assert "ROUX Tom" in found.text and "23/04/2014" in found.text
    form = client.get("/scheduling/waitlist/new")
    assert "Rechercher par nom, date de naissance, e-mail ou téléphone" in form.text
