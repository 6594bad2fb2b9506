"""The practice's name and postal address: an owner sets them on /settings/clinic (issue 13); every
patient page shows them (tests/test_public_pages.py)."""

from __future__ import annotations

import sqlalchemy as sa

from carnet_core.clinics.models import Clinic


def _clinic(carnet_db, clinic_id):
    with carnet_db.session(unscoped=True) as db:
        row = db.get(Clinic, clinic_id)
        return row.name, row.address, row.postcode, row.city


def _records(carnet_db, clinic_id):
    with carnet_db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT action, details FROM core_audit WHERE clinic_id = :c "
                                    "AND resource_type = 'clinic'"), {"c": clinic_id}).all()


def test_an_owner_sets_the_practices_address_and_it_is_audited(client, staff, login_as, carnet_db, clinic):
    owner = staff("owner,practitioner")
    token = login_as(client, owner, send_csrf=False)
    # given the settings page, reached from Réglages
    assert 'href="/settings/clinic"' in client.get("/settings").text
    form = client.get("/settings/clinic")
    assert form.status_code == 200
    for name in ("name", "address", "postcode", "city"):
        assert f'name="{name}"' in form.text
    # when the owner saves a real address (spaces tidied)
    saved = client.post("/settings/clinic", data={"name": " Cabinet  du Parc ", "address": "3  place Bellecour",
                                                  "postcode": "69 002", "city": "Lyon", "_csrf_token": token},
                        follow_redirects=False)
    # then it is stored, shown again, and traced
    assert saved.status_code == 303
    assert _clinic(carnet_db, clinic.id) == ("Cabinet du Parc", "3 place Bellecour", "69002", "Lyon")
    again = client.get(saved.headers["location"])
    assert "Enregistré" in again.text and 'value="3 place Bellecour"' in again.text
    assert [r.action for r in _records(carnet_db, clinic.id)] == ["update"]


def test_a_bad_address_is_refused_field_by_field_and_nothing_changes(client, staff, login_as, carnet_db, clinic):
    owner = staff("owner")
    token = login_as(client, owner, send_csrf=False)
    before = _clinic(carnet_db, clinic.id)
    answer = client.post("/settings/clinic", data={"name": "Cabinet du Parc", "address": "",
                                                   "postcode": "6900", "city": "Lyon\u202e", "_csrf_token": token})
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("text/html")
    assert "Ce champ est obligatoire." in answer.text
    assert "code postal" in answer.text  # the postcode's own message, in French
    assert 'id="err-city"' in answer.text and 'aria-invalid="true"' in answer.text
    assert 'value="Cabinet du Parc"' in answer.text  # what was typed is kept
    assert _clinic(carnet_db, clinic.id) == before
    assert _records(carnet_db, clinic.id) == []


def test_only_an_owner_may_change_the_practices_address(client, staff, login_as, carnet_db, clinic):
    for roles in ("practitioner", "secretary"):
        client.cookies.clear()
        token = login_as(client, staff(roles), send_csrf=False)
        assert client.get("/settings/clinic").status_code == 403
        refused = client.post("/settings/clinic", data={"name": "X", "address": "1 rue A", "postcode": "75001",
                                                        "city": "Paris", "_csrf_token": token})
        assert refused.status_code == 403
    assert _clinic(carnet_db, clinic.id)[1:] == ("", "", "")
