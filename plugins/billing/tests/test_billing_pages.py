"""Billing pages, through real logins: profile (422 page with French field errors), a draft created,
filled, issued and cancelled from the forms; who sees what; invisible to a clinic without billing."""

import re

import pytest

from carnet_billing.models import Note
from carnet_billing.services import notes

PROFILE = {"name": "Claire Martin", "profession": "Orthophoniste", "address": "1 rue des Tilleuls, Lyon",
           "rpps": "10001234567", "adeli": "", "siret": "12345678900011", "zone": "metropole", "conventionne": "1",
           "footer": ""}


@pytest.fixture
def people(staff, client, login_as):
    owner = staff("owner,practitioner", email="claire@cabinet.test", name="Claire Martin")
    colleague = staff("practitioner", email="julien@cabinet.test", name="Julien Petit")
    secretary = staff("secretary", email="sophie@cabinet.test", name="Sophie Bernard")
    token = login_as(client, owner, send_csrf=False)
    created = client.post("/patients/new", data={"last_name": "Lefèvre", "first_name": "Élodie",
                                                 "practitioner_id": str(owner.id), "_csrf_token": token},
                          follow_redirects=False)
    patient_id = int(created.headers["location"].rsplit("/", 1)[1])
    return owner, colleague, secretary, patient_id, token


def _post(client, path, token, **data):
    return client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)


def test_a_practitioner_bills_from_the_pages(client, people, carnet_db, clinic, login_as):
    owner, colleague, secretary, patient_id, token = people
    # the profile refuses bad identifiers with French messages next to the fields, as a page
    bad = _post(client, "/billing/profile", token, **{**PROFILE, "siret": "123"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert "Un numéro SIRET compte 14 chiffres." in bad.text and 'value="Claire Martin"' in bad.text
    # a draft for the patient, issuing refused while the profile lacks mentions
    created = _post(client, "/billing/notes", token, patient_id=str(patient_id), practitioner=str(owner.id))
    assert created.status_code == 303
    note_path = created.headers["location"]
    line = _post(client, f"{note_path}/lines", token, act_day="2026-03-02", letter="AMO", coefficient="10,1",
                 label="Séance", place="Cabinet")
    assert line.status_code == 303
    refused = _post(client, f"{note_path}/issue", token)
    assert refused.status_code == 422
    assert "Il manque des mentions obligatoires au profil de facturation" in refused.text
    assert "le numéro SIRET" in refused.text
    assert _post(client, "/billing/profile", token, **PROFILE).status_code == 303
    # bad act: a field error, nothing added
    future = _post(client, f"{note_path}/lines", token, act_day="2099-01-01", letter="AMO", coefficient="10")
    assert future.status_code == 422 and "Un acte ne peut pas être daté dans le futur." in future.text
    issued = _post(client, f"{note_path}/issue", token)
    assert issued.status_code == 303
    page = client.get(note_path)
    number = re.search(r"n° (\d{4}-\d{6})", page.text).group(1)
    assert number.endswith("-000001") and "26,26" in page.text and "Exonéré de TVA" in page.text
    assert "AMO 10,1" in page.text
    # a card payment of part of it, then one beyond what is due
    paid = _post(client, f"{note_path}/payments", token, amount="10,00", paid_on="2026-03-02", method="card",
                 payer="patient")
    assert paid.status_code == 303
    assert "partiellement payée" in client.get(note_path).text
    over = _post(client, f"{note_path}/payments", token, amount="100", paid_on="2026-03-02", method="card")
    assert over.status_code == 422 and "Le paiement dépasse ce qui reste dû" in over.text
    # a partial credit note, then one too large
    credit = _post(client, f"{note_path}/credit", token, amount="6,26")
    assert credit.status_code == 303
    assert "Avoir n° " in client.get(credit.headers["location"]).text
    too_much = _post(client, f"{note_path}/credit", token, amount="50")
    assert too_much.status_code == 422 and "Un avoir ne peut pas dépasser" in too_much.text
    assert number in client.get("/billing/").text
    panel = client.get(f"/patients/{patient_id}").text  # the patient page's billing panel
    assert number in panel and "Reste dû : 10,00" in panel
    note_id = int(note_path.rsplit("/", 1)[1])
    # another practitioner does not see it; a secretary sees it but may not issue
    client.cookies.clear()
    login_as(client, colleague)
    assert client.get(note_path).status_code == 404
    assert number not in client.get("/billing/").text
    client.cookies.clear()
    sec_token = login_as(client, secretary, send_csrf=False)
    assert client.get(note_path).status_code == 200
    assert _post(client, f"{note_path}/credit", sec_token).status_code == 403
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert notes.remaining_cents(db, db.get(Note, note_id)) == 2000
    assert _post(client, f"{note_path}/payments", sec_token, amount="1", paid_on="2026-03-02",
                 method="cash").status_code == 303  # a secretary records payments


def test_billing_is_invisible_to_a_clinic_without_it(client, staff, make_clinic, login_as):
    other = make_clinic("sans-facturation", plugins=["scheduling"])
    owner = staff("owner,practitioner", clinic=other, email="o@sans.test")
    login_as(client, owner)
    assert client.get("/billing/").status_code == 404
    assert client.get("/billing/profile").status_code == 404
    assert 'href="/billing/"' not in client.get("/").text


def test_the_tariffs_page_adds_a_dated_value_for_owners_only(client, people, login_as):
    owner, colleague, secretary, patient_id, token = people
    assert "AMO" in client.get("/billing/tariffs").text
    bad = _post(client, "/billing/tariffs", token, letter="AMO", zone="metropole", effective_from="2026-06-01",
                value="-2")
    assert bad.status_code == 422 and "Saisissez un montant" in bad.text
    ok = _post(client, "/billing/tariffs", token, letter="AMO", zone="metropole", effective_from="2026-06-01",
               value="2,80")
    assert ok.status_code == 303 and "2,80" in client.get("/billing/tariffs").text
    client.cookies.clear()
    login_as(client, colleague)
    assert client.get("/billing/tariffs").status_code == 403


def test_owners_keep_the_catalogue_of_acts_and_use_it_on_notes(client, people):
    owner, colleague, secretary, patient_id, token = people
    bad = _post(client, "/billing/acts", token, act_label="Bilan", kind="free", act_price="0")
    assert bad.status_code == 422 and "Saisissez un montant entre 0,01 € et 10 000 €." in bad.text
    assert _post(client, "/billing/acts", token, act_label="Bilan non remboursé", kind="free",
                 act_price="60").status_code == 303
    page = client.get("/billing/tariffs")
    assert "Bilan non remboursé" in page.text and "60,00" in page.text
    act_id = re.search(r'action="/billing/acts/(\d+)"', page.text).group(1)
    note_path = _post(client, "/billing/notes", token, patient_id=str(patient_id),
                      practitioner=str(owner.id)).headers["location"]
    assert "Bilan non remboursé" in client.get(note_path).text  # offered in the act picker
    assert _post(client, f"{note_path}/lines", token, act_day="2026-03-02", act_id=act_id).status_code == 303
    assert "60,00" in client.get(note_path).text
    assert _post(client, f"/billing/acts/{act_id}", token, active="0").status_code == 303
    assert "Activer" in client.get("/billing/tariffs").text
