"""The home page's billing panel (issue 13): how many issued notes are still unpaid, as billing
shows them to each person (owners and secretaries: the practice's; a practitioner: their own),
with a link to the unpaid notes; a number, never a name or an amount."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from billing_world import make_staffed_world, principal

from carnet_billing.services import notes, payments
from carnet_billing.services.notes import LineInput
from carnet_core.testing import register_patients


def _panel(html: str) -> str:
    match = re.search(r'<h2 id="home-panel-\d+">Facturation</h2>(.*?)</section>', html, re.S)
    return match.group(1) if match else ""


def _issue(db, who, practitioner_id: int, patient_id: int) -> int:
    note = notes.create_draft(db, who, practitioner_id=practitioner_id, patient_id=patient_id)
    notes.add_line(db, who, note.id, LineInput(act_day=date(2026, 3, 2), letter="AMO", coefficient_hundredths=1000,
                                               label="Séance"))
    notes.issue(db, who, note.id)
    return note.id


def test_home_counts_the_unpaid_notes_each_member_sees(carnet_db, clinic, staff, client, login_as):
    world = make_staffed_world(carnet_db, clinic, staff)
    login_as(client, world.practitioner)
    panel = _panel(client.get("/").text)
    assert "Aucune note impayée." in panel and 'href="/billing/followup"' in panel
    owner = principal(world, world.owner, "owner", "practitioner")
    colleague = principal(world, world.practitioner, "practitioner")
    followed = register_patients(carnet_db, clinic.id, [("Martin", "Paul")], world.practitioner.id)[0]
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        _issue(db, owner, world.owner.id, world.patients[0])
        paid = _issue(db, owner, world.owner.id, world.patients[1])
        due = payments.balance(db, notes.get(db, owner, paid)).due_cents
        payments.record(db, owner, paid, amount=Decimal(due) / 100, paid_on=date(2026, 3, 2), method="card")
        _issue(db, colleague, world.practitioner.id, followed)
    assert "<strong>1</strong> note impayée" in _panel(client.get("/").text)  # the practitioner's own
    for member in (world.owner, world.secretary):
        client.post("/logout")
        login_as(client, member)
        panel = _panel(client.get("/").text)
        assert "<strong>2</strong> notes impayées" in panel
        assert "LEFÈVRE" not in panel and "€" not in panel


def test_the_unpaid_count_is_one_query_that_agrees_with_each_note_s_balance(carnet_db, clinic, staff):
    import sqlalchemy as sa

    from carnet_billing.services import followup

    world = make_staffed_world(carnet_db, clinic, staff)
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        ids = [_issue(db, owner, world.owner.id, world.patients[n % 2]) for n in range(5)]
        due = payments.balance(db, notes.get(db, owner, ids[0])).due_cents
        payments.record(db, owner, ids[0], amount=Decimal(due) / 100, paid_on=date(2026, 3, 2), method="card")
        payments.record(db, owner, ids[1], amount=Decimal(due) / 200, paid_on=date(2026, 3, 2), method="cash")
        notes.credit(db, owner, ids[2])  # cancelled whole by a credit note: no longer due
        notes.credit(db, owner, ids[3], amount=Decimal(due) / 200)  # partly: still due
        statements: list[str] = []
        listen = lambda *args: statements.append(args[2])  # noqa: E731 (before_cursor_execute's statement)
        sa.event.listen(db.connection(), "before_cursor_execute", listen)
        try:
            counted = followup.unpaid_count(db, owner)
        finally:
            sa.event.remove(db.connection(), "before_cursor_execute", listen)
        expected = len(followup.unpaid_notes(db, owner))
    assert counted == expected == 3  # the partly paid, the partly credited and the untouched
    assert len(statements) == 1
