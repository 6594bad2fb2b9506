"""The billing_* hooks other plugins observe: issued, paid (when settled), cancelled (by a credit
note) — called in the same transaction, only for plugins the note's clinic enabled."""

from datetime import date
from decimal import Decimal

import pytest
from billing_world import make_world, principal

from carnet_billing.services import notes, payments
from carnet_billing.services.notes import LineInput
from carnet_core.plugin_api import hookimpl


class Observer:
    def __init__(self):
        self.seen: list[tuple] = []

    @hookimpl(optionalhook=True)
    def billing_note_issued(self, note, db):
        self.seen.append(("issued", note.number, db.clinic_id))

    @hookimpl(optionalhook=True)
    def billing_note_paid(self, note, payment, db):
        self.seen.append(("paid", note.number, payment.amount_cents))

    @hookimpl(optionalhook=True)
    def billing_note_cancelled(self, note, credit_note, db):
        self.seen.append(("cancelled", note.number, credit_note.number, credit_note.total_cents))


OBSERVER = Observer()


@pytest.fixture
def inline_plugins(inline_plugins):
    OBSERVER.seen.clear()
    inline_plugins.add("observer", OBSERVER)
    return inline_plugins


def _note(db, world, owner, hooks):
    note = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[0])
    notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), letter="AMO", coefficient_hundredths=1010))
    return notes.issue(db, owner, note.id, hooks=hooks)


def test_hook_billing_note_issued(carnet_db, make_team, plugin_host):
    world = make_world(carnet_db, make_team)
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        note = _note(db, world, owner, plugin_host.for_clinic({"billing", "observer"}))
        _note(db, world, owner, plugin_host.for_clinic({"billing"}))  # the observer not enabled: not called
    assert OBSERVER.seen == [("issued", note.number, world.clinic.id)]


def test_hook_billing_note_paid(carnet_db, make_team, plugin_host):
    world = make_world(carnet_db, make_team)
    owner = principal(world, world.owner, "owner", "practitioner")
    hooks = plugin_host.for_clinic({"billing", "observer"})
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        note = _note(db, world, owner, None)
        payments.record(db, owner, note.id, amount=Decimal("20"), paid_on=date(2026, 3, 2), method="card", hooks=hooks)
        assert OBSERVER.seen == []  # partly paid: not yet
        payments.record(db, owner, note.id, amount=Decimal("6.26"), paid_on=date(2026, 3, 2), method="cash",
                        hooks=hooks)
    assert OBSERVER.seen == [("paid", note.number, 626)]


def test_hook_billing_note_cancelled(carnet_db, make_team, plugin_host):
    world = make_world(carnet_db, make_team)
    owner = principal(world, world.owner, "owner", "practitioner")
    hooks = plugin_host.for_clinic({"billing", "observer"})
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        note = _note(db, world, owner, None)
        avoir = notes.credit(db, owner, note.id, Decimal("6.26"), hooks=hooks)
    assert OBSERVER.seen == [("cancelled", note.number, avoir.number, 626)]


def test_the_pages_call_the_hooks_for_the_clinics_enabled_plugins(client, staff, clinic, login_as, carnet_db):
    from billing_world import PROFILE

    from carnet_billing.services import profiles

    owner = staff("owner,practitioner", email="claire@cabinet.test")
    token = login_as(client, owner, send_csrf=False)
    created = client.post("/patients/new", data={"last_name": "Lefèvre", "first_name": "Élodie",
                                                 "practitioner_id": str(owner.id), "_csrf_token": token},
                          follow_redirects=False)
    patient_id = int(created.headers["location"].rsplit("/", 1)[1])
    with carnet_db.session(clinic_id=clinic.id) as db:
        profiles.save(db, owner.id, PROFILE)
    path = client.post("/billing/notes", data={"patient_id": patient_id, "practitioner": owner.id,
                                               "_csrf_token": token}, follow_redirects=False).headers["location"]
    client.post(f"{path}/lines", data={"act_day": "2026-03-02", "price": "50", "_csrf_token": token})
    assert client.post(f"{path}/issue", data={"_csrf_token": token}, follow_redirects=False).status_code == 303
    assert [event[0] for event in OBSERVER.seen] == ["issued"]
