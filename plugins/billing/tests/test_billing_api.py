"""The billing JSON API: create a draft, add acts, issue (422 naming the missing mentions first),
credit notes; amounts as decimal strings; core's error convention; 404 for others' notes."""

import pytest

from carnet_billing.services import profiles
from carnet_core.plugin_api import Principal, User, patient_access
from carnet_core.testing import identity_services

PROFILE = {"name": "Claire Martin", "profession": "Orthophoniste", "address": "1 rue des Tilleuls, Lyon",
           "rpps": "10001234567", "siret": "12345678900011"}
API = "/api/v1/billing/notes"


@pytest.fixture
def api(client, clinic, staff, carnet_db):
    owner = staff("owner,practitioner", email="claire@cabinet.test")
    colleague = staff("practitioner", email="julien@cabinet.test")
    registrar = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
    headers = {}
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        patient_id = patient_access(db, registrar).register({"last_name": "Lefèvre", "first_name": "Élodie",
                                                             "practitioner_id": owner.id})
        for who in (owner, colleague):
            raw, _ = identity_services.create_token(db, clinic.id, db.get(User, who.id), name="api")
            headers[who.id] = {"Authorization": f"Bearer {raw}"}
    return owner, colleague, patient_id, headers


def test_a_note_through_the_api(client, api, carnet_db, clinic):
    owner, colleague, patient_id, headers = api
    mine = headers[owner.id]
    created = client.post(API, json={"practitioner_id": owner.id, "patient_id": patient_id}, headers=mine)
    assert created.status_code == 201, created.text
    note_id = created.json()["id"]
    assert created.json()["number"] is None and created.json()["total"] == "0.00"
    added = client.post(f"{API}/{note_id}/lines", json={"act_day": "2026-03-02", "letter": "AMO",
                                                        "coefficient": "10.1", "label": "Séance"}, headers=mine)
    assert added.status_code == 201, added.text
    assert added.json()["total"] == "26.26" and added.json()["lines"][0]["code"] == "AMO 10,1"
    bad = client.post(f"{API}/{note_id}/lines", json={"act_day": "2099-01-01", "price": "10"}, headers=mine)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "act_day"
    assert client.post(f"{API}/{note_id}/lines", json={"act_day": "2026-03-02", "price": 10.5},
                       headers=mine).status_code == 400  # a float is not an amount
    refused = client.post(f"{API}/{note_id}/issue", headers=mine)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "profile" and "SIRET" in refused.json()["errors"][0]["message"]
    with carnet_db.session(clinic_id=clinic.id) as db:
        profiles.save(db, owner.id, PROFILE)
    issued = client.post(f"{API}/{note_id}/issue", headers=mine)
    assert issued.status_code == 200 and issued.json()["number"].endswith("-000001")
    assert issued.json()["remaining"] == "26.26" and issued.json()["state"] == "issued"
    paid = client.post(f"{API}/{note_id}/payments", json={"amount": "6.26", "paid_on": "2026-03-02",
                                                         "method": "card"}, headers=mine)
    assert paid.status_code == 201 and paid.json()["state"] == "partly_paid" and paid.json()["due"] == "20.00"
    over = client.post(f"{API}/{note_id}/payments", json={"amount": "20.01", "paid_on": "2026-03-02",
                                                         "method": "cash"}, headers=mine)
    assert over.status_code == 422 and over.json()["errors"][0]["field"] == "amount"
    assert client.delete(f"{API}/{note_id}", headers=mine).status_code == 422  # issued: never deleted
    credit = client.post(f"{API}/{note_id}/credit", json={"amount": "30"}, headers=mine)
    assert credit.status_code == 422 and credit.json()["errors"][0]["field"] == "amount"
    credit = client.post(f"{API}/{note_id}/credit", json={}, headers=mine)
    assert credit.status_code == 201 and credit.json()["number"].endswith("-000002")
    assert credit.json()["kind"] == "credit" and credit.json()["total"] == "26.26"
    assert client.get(f"{API}/{note_id}", headers=mine).json()["remaining"] == "0.00"
    assert client.get(f"{API}/{note_id}", headers=mine).json()["state"] == "cancelled"
    # a colleague: someone else's note does not exist for them
    assert client.get(f"{API}/{note_id}", headers=headers[colleague.id]).status_code == 404
    assert client.get(API, headers=headers[colleague.id]).json() == []
    assert {n["id"] for n in client.get(API, headers=mine).json()} == {note_id, credit.json()["id"]}


def test_a_draft_is_deleted_and_unknown_notes_are_404(client, api):
    owner, _, patient_id, headers = api
    mine = headers[owner.id]
    note_id = client.post(API, json={"practitioner_id": owner.id, "patient_id": patient_id}, headers=mine).json()["id"]
    assert client.delete(f"{API}/{note_id}", headers=mine).status_code == 204
    assert client.get(f"{API}/{note_id}", headers=mine).status_code == 404
    assert client.get(f"{API}/{2**63}", headers=mine).status_code in (400, 404)
    unknown = client.post(API, json={"practitioner_id": owner.id, "patient_id": 999999}, headers=mine)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "patient_id"


def test_a_patients_balance_sums_their_issued_notes_this_person_sees(client, api, carnet_db, clinic, staff):
    owner, colleague, patient_id, headers = api
    mine = headers[owner.id]
    with carnet_db.session(clinic_id=clinic.id) as db:
        profiles.save(db, owner.id, PROFILE)
    ids = []
    for coefficient in ("10.1", "10"):
        note_id = client.post(API, json={"practitioner_id": owner.id, "patient_id": patient_id}, headers=mine).json()["id"]
        client.post(f"{API}/{note_id}/lines", json={"act_day": "2026-03-02", "letter": "AMO",
                                                    "coefficient": coefficient}, headers=mine)
        assert client.post(f"{API}/{note_id}/issue", headers=mine).status_code == 200
        ids.append(note_id)
    draft = client.post(API, json={"practitioner_id": owner.id, "patient_id": patient_id}, headers=mine).json()["id"]
    client.post(f"{API}/{draft}/lines", json={"act_day": "2026-03-02", "price": "99"}, headers=mine)
    client.post(f"{API}/{ids[0]}/payments", json={"amount": "6.26", "paid_on": "2026-03-02", "method": "card"},
                headers=mine)
    client.post(f"{API}/{ids[1]}/credit", json={"amount": "5"}, headers=mine)
    url = f"/api/v1/billing/patients/{patient_id}/balance"
    found = client.get(url, headers=mine)
    assert found.status_code == 200, found.text
    body = found.json()
    # 26.26 + 26.00 billed (the draft is not), 5.00 credited, 6.26 paid: 41.00 due
    assert (body["total"], body["credited"], body["paid"], body["due"], body["due_cents"]) == (
        "52.26", "5.00", "6.26", "41.00", 4100)
    assert [(n["id"], n["state"], n["due"]) for n in body["notes"]] == [
        (ids[0], "partly_paid", "20.00"), (ids[1], "issued", "21.00")]
    # a colleague does not follow the patient: 404, as for an unknown patient
    assert client.get(url, headers=headers[colleague.id]).status_code == 404
    assert client.get("/api/v1/billing/patients/999999/balance", headers=mine).status_code == 404
