"""Payments: partial and whole, the per-note status (issued, partly paid, paid, cancelled), the
refusals (draft, credit note, cancelled note, beyond what is due, future date, unknown method), and
payments as immutable accounting records."""

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from billing_world import make_world, principal, principal_in

from carnet_billing.services import notes, payments
from carnet_billing.services.errors import BillingInvalid
from carnet_billing.services.lifecycle import erase_for_patient, export_for_patient
from carnet_billing.services.notes import LineInput


@pytest.fixture
def world(carnet_db, make_team):
    return make_world(carnet_db, make_team)


def _issued(db, world, owner, coefficient=1010):
    note = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[0])
    notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), letter="AMO",
                                                 coefficient_hundredths=coefficient))
    return notes.issue(db, owner, note.id)


def test_partial_then_full_payment_and_the_status_of_the_note(world, carnet_db):
    owner = principal(world, world.owner, "owner", "practitioner")
    secretary = principal(world, world.secretary, "secretary")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        note = _issued(db, world, owner)
        assert payments.balance(db, note).status == "issued"
        payments.record(db, secretary, note.id, amount=Decimal("15.76"), paid_on=date(2026, 3, 2), method="card",
                        payer="amo")
        state = payments.balance(db, note)
        assert (state.status, state.paid_cents, state.due_cents) == ("partly_paid", 1576, 1050)
        with pytest.raises(BillingInvalid, match="exceeds what is due") as refused:
            payments.record(db, secretary, note.id, amount=Decimal("10.51"), paid_on=date(2026, 3, 2), method="cash")
        assert "amount" in refused.value.errors
        payments.record(db, secretary, note.id, amount=Decimal("10.50"), paid_on=date(2026, 3, 3), method="cheque")
        assert payments.balance(db, note).status == "paid" and payments.balance(db, note).due_cents == 0
        assert [p.amount_cents for p in payments.of_note(db, note)] == [1576, 1050]


@pytest.mark.parametrize("field, kwargs", [
    ("paid_on", {"paid_on": date(2099, 1, 1)}),
    ("method", {"method": "bitcoin"}),
    ("payer", {"payer": "neighbour"}),
    ("amount", {"amount": Decimal("-1")}),
    ("amount", {"amount": Decimal("0.001")}),
])
def test_bad_payments_get_field_errors_and_write_nothing(world, carnet_db, field, kwargs):
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        note = _issued(db, world, owner)
        values = {"amount": Decimal("5"), "paid_on": date(2026, 3, 2), "method": "card", "payer": "patient", **kwargs}
        with pytest.raises(BillingInvalid) as refused:
            payments.record(db, owner, note.id, **values)
        assert field in refused.value.errors
        assert payments.of_note(db, note) == []


def test_no_payment_on_a_draft_a_credit_note_or_a_cancelled_note(world, carnet_db):
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        draft = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[0])
        note = _issued(db, world, owner)
        avoir = notes.credit(db, owner, note.id)
        assert payments.balance(db, note).status == "cancelled"
        for target, message in ((draft, "issued notes only"), (avoir, "issued notes only"), (note, "is cancelled")):
            with pytest.raises(BillingInvalid, match=message):
                payments.record(db, owner, target.id, amount=Decimal(1), paid_on=date(2026, 3, 2), method="cash")


def test_payments_are_never_changed_or_deleted(world, carnet_db):
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        note = _issued(db, world, owner)
        payment_id = payments.record(db, owner, note.id, amount=Decimal(5), paid_on=date(2026, 3, 2), method="cash").id
    for statement in (f"UPDATE billing_payment SET amount_cents = 1 WHERE id = {payment_id}",
                      f"DELETE FROM billing_payment WHERE id = {payment_id}"):
        with pytest.raises(sa.exc.DBAPIError, match="refused"):
            with carnet_db.session(clinic_id=world.clinic.id) as db:
                db.execute(sa.text(statement))


def test_export_holds_notes_and_payments_and_erasure_keeps_issued_notes(world, carnet_db):
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        note = _issued(db, world, owner)
        payments.record(db, owner, note.id, amount=Decimal(5), paid_on=date(2026, 3, 2), method="cash")
        draft = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[0])
        exported = export_for_patient(db, world.patients[0])
        assert [n["id"] for n in exported["notes"]] == [note.id, draft.id]
        assert exported["notes"][0]["patient_name"] == "LEFÈVRE0 Élodie"
        assert exported["notes"][0]["payments"][0]["amount_cents"] == 500 and "10 ans" in exported["retention"]
        erase_for_patient(db, world.patients[0])
        kept = export_for_patient(db, world.patients[0])
        assert [n["id"] for n in kept["notes"]] == [note.id]
        assert export_for_patient(db, world.patients[1]) is None



def test_core_erasure_keeps_issued_notes_readable_to_the_practice_and_deletes_drafts(client, staff, clinic, login_as,
                                                                                    carnet_db):
    from billing_world import PROFILE

    from carnet_billing.models import Note
    from carnet_billing.services import profiles
    from carnet_core.plugin_api import open_

    owner_user = staff("owner,practitioner", email="claire@cabinet.test")
    token = login_as(client, owner_user, send_csrf=False)
    created = client.post("/patients/new", data={"last_name": "Lefèvre", "first_name": "Élodie",
                                                 "practitioner_id": str(owner_user.id), "_csrf_token": token},
                          follow_redirects=False)
    patient_id = int(created.headers["location"].rsplit("/", 1)[1])
    owner = principal_in(clinic.id, owner_user, "owner", "practitioner")
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        profiles.save(db, owner_user.id, PROFILE)
        note = notes.create_draft(db, owner, practitioner_id=owner_user.id, patient_id=patient_id)
        notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), price=Decimal("50")))
        note_id = notes.issue(db, owner, note.id).id
        draft_id = notes.create_draft(db, owner, practitioner_id=owner_user.id, patient_id=patient_id).id
    erased = client.post(f"/patients/{patient_id}/erase", data={"_csrf_token": token, "reason": "patient_request",
                                                                "confirm_last_name": "Lefevre"}, follow_redirects=False)
    assert erased.status_code == 303, erased.text
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        assert db.get(Note, draft_id) is None
        kept = db.get(Note, note_id)
        # the patient's key is destroyed; the kept accounting record's name is sealed with the clinic's key
        assert kept.patient_name is not None and open_(db, kept, "patient_name") == "LEFÈVRE Élodie"
        assert kept.number is not None and kept.total_cents == 5000


def test_hook_patient_data_kept_the_erasure_form_and_answer_say_notes_are_kept(client, staff, clinic, login_as,
                                                                              carnet_db):
    # core asks every plugin what it keeps; billing answers only for a patient with issued notes
    from billing_world import PROFILE

    from carnet_billing.services import profiles

    owner_user = staff("owner,practitioner", email="claire@cabinet.test")
    token = login_as(client, owner_user, send_csrf=False)
    ids = []
    for last in ("Lefèvre", "Moreau"):
        created = client.post("/patients/new", data={"last_name": last, "first_name": "Élodie",
                                                     "practitioner_id": str(owner_user.id), "_csrf_token": token},
                              follow_redirects=False)
        ids.append(int(created.headers["location"].rsplit("/", 1)[1]))
    owner = principal_in(clinic.id, owner_user, "owner", "practitioner")
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        profiles.save(db, owner_user.id, PROFILE)
        note = notes.create_draft(db, owner, practitioner_id=owner_user.id, patient_id=ids[0])
        notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), price=Decimal("50")))
        notes.issue(db, owner, note.id)
        notes.create_draft(db, owner, practitioner_id=owner_user.id, patient_id=ids[1])  # a draft only
    kept = "conservées 10 ans comme pièces comptables"
    assert kept in client.get(f"/patients/{ids[0]}/erase").text
    assert kept not in client.get(f"/patients/{ids[1]}/erase").text
    client.post(f"/patients/{ids[0]}/erase", data={"_csrf_token": token, "reason": "patient_request",
                                                   "confirm_last_name": "Lefevre"})
    answer = client.get(f"/patients/{ids[0]}")
    assert answer.status_code == 410 and kept in answer.text and "reste chiffré" in answer.text
    assert "LEFÈVRE" not in answer.text
