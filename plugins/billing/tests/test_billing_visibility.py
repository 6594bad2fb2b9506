"""Who sees a note's acts: owners and the note's practitioner; a secretary prepares drafts and
records payments on every note but never sees the acts (codes, labels, places: clinical content),
in the services, the pages and the API; another practitioner does not see the note at all. The
payment form offers what is due in French ("26,26") and takes both decimal marks."""

from datetime import date

import pytest
from billing_world import make_world, principal

from carnet_billing.services import notes
from carnet_billing.services.errors import NotFound
from carnet_billing.services.notes import LineInput
from carnet_core.plugin_api import User
from carnet_core.testing import identity_services

LABEL = "Rééducation du bégaiement"  # what the patient is treated for
PLACE = "Domicile du patient"


@pytest.fixture
def world(carnet_db, make_team):
    return make_world(carnet_db, make_team)


def _issued_note(carnet_db, world) -> int:
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        note = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[0])
        notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), letter="AMO",
                                                     coefficient_hundredths=1010, label=LABEL, place=PLACE))
        notes.issue(db, owner, note.id)
        return note.id


def test_the_service_opens_the_acts_only_for_the_owner_and_the_practitioner(carnet_db, world):
    note_id = _issued_note(carnet_db, world)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        _, seen = notes.read(db, principal(world, world.owner, "owner", "practitioner"), note_id)
        assert (seen[0]["code"], seen[0]["label"], seen[0]["place"]) == ("AMO 10,1", LABEL, PLACE)
        note, hidden = notes.read(db, principal(world, world.secretary, "secretary"), note_id)
        assert note.total_cents == 2626 and hidden[0]["amount_cents"] == 2626
        assert (hidden[0]["code"], hidden[0]["label"], hidden[0]["place"], hidden[0]["hidden"]) == (
            None, None, None, True)
        assert hidden[0]["coefficient_hundredths"] is None
        with pytest.raises(NotFound):
            notes.read(db, principal(world, world.practitioner, "practitioner"), note_id)


def test_a_secretary_sees_amounts_and_payments_but_never_the_acts(client, staff, login_as, carnet_db, clinic):
    owner = staff("owner,practitioner", email="claire@cabinet.test", name="Claire Martin")
    secretary = staff("secretary", email="sophie@cabinet.test", name="Sophie Bernard")
    colleague = staff("practitioner", email="julien@cabinet.test", name="Julien Petit")
    token = login_as(client, owner, send_csrf=False)
    created = client.post("/patients/new", data={"last_name": "Lefèvre", "first_name": "Élodie",
                                                 "practitioner_id": str(owner.id), "_csrf_token": token},
                          follow_redirects=False)
    patient_id = int(created.headers["location"].rsplit("/", 1)[1])
    profile = {"name": "Claire Martin", "profession": "Orthophoniste", "address": "1 rue des Tilleuls, Lyon",
               "rpps": "10001234567", "siret": "12345678900011", "zone": "metropole", "conventionne": "1"}
    assert client.post("/billing/profile", data={**profile, "_csrf_token": token}).status_code in (200, 303)
    note_path = client.post("/billing/notes", data={"patient_id": str(patient_id), "practitioner": str(owner.id),
                                                    "_csrf_token": token}, follow_redirects=False).headers["location"]
    client.post(f"{note_path}/lines", data={"act_day": "2026-03-02", "letter": "AMO", "coefficient": "10,1",
                                            "label": LABEL, "place": PLACE, "_csrf_token": token})
    assert client.post(f"{note_path}/issue", data={"_csrf_token": token}, follow_redirects=False).status_code == 303
    page = client.get(note_path).text
    assert LABEL in page and PLACE in page and "AMO 10,1" in page
    assert 'value="26,26"' in page  # what is due, written the French way
    note_id = int(note_path.rsplit("/", 1)[1])
    # the secretary: the note, its amounts, a payment form; no act
    client.cookies.clear()
    sec_token = login_as(client, secretary, send_csrf=False)
    page = client.get(note_path).text
    assert "26,26" in page and "Réservé au praticien" in page
    assert LABEL not in page and PLACE not in page and "AMO" not in page
    for amount in ("6,26", "10.00"):  # both decimal marks
        paid = client.post(f"{note_path}/payments", data={"amount": amount, "paid_on": "2026-03-03",
                                                          "method": "card", "_csrf_token": sec_token},
                           follow_redirects=False)
        assert paid.status_code == 303, paid.text
    page = client.get(note_path).text
    assert 'value="10,00"' in page and LABEL not in page
    with carnet_db.session(clinic_id=clinic.id) as db:
        raw, _ = identity_services.create_token(db, clinic.id, db.get(User, secretary.id), name="api")
    api = client.get(f"/api/v1/billing/notes/{note_id}", headers={"Authorization": f"Bearer {raw}"})
    assert api.status_code == 200
    body = api.json()
    assert body["acts_hidden"] is True and body["due"] == "10.00"
    assert (body["lines"][0]["code"], body["lines"][0]["label"], body["lines"][0]["place"]) == (None, None, None)
    assert LABEL not in api.text
    # another practitioner: not even the note
    client.cookies.clear()
    login_as(client, colleague)
    assert client.get(note_path).status_code == 404


def test_the_list_names_whose_note_it_is_when_it_shows_several_practitioners(
        client, staff, login_as, carnet_db, clinic):
    """Each practitioner numbers their own series, so two notes can both be 2026-000001: the
    secretariat's list names the practitioner; a practitioner's own list has no such column."""
    from billing_world import make_staffed_world

    world = make_staffed_world(carnet_db, clinic, staff)
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        me = principal(world, world.owner, "owner", "practitioner")
        for who, patient in ((world.owner, world.patients[0]), (world.practitioner, world.patients[1])):
            note = notes.create_draft(db, me, practitioner_id=who.id, patient_id=patient)
            notes.add_line(db, me, note.id, LineInput(act_day=date(2026, 3, 2), letter="AMO",
                                                      coefficient_hundredths=1010, label=LABEL, place=PLACE))
            notes.issue(db, me, note.id)
    login_as(client, world.secretary)
    page = client.get("/billing/").text
    assert page.count("-000001<") == 2 and "Praticien" in page
    assert "Claire Martin" in page and "Julien Petit" in page
    client.cookies.clear()
    login_as(client, world.practitioner)
    page = client.get("/billing/").text
    assert page.count("-000001<") == 1 and "<th scope=\"col\">Praticien</th>" not in page
