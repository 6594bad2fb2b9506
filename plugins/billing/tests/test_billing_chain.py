"""The per-practitioner hash chain of issued documents: intact after normal issuing; `verify`
names the first altered, inserted or missing document when rows are changed behind the
application's back (the database's triggers bypassed, as the database's owner could); key
rotation's re-seal of sealed columns is still allowed on issued rows."""

import hashlib
import json
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from billing_world import make_world, principal

from carnet_billing.models import Note
from carnet_billing.services import chain, notes
from carnet_billing.services.notes import LineInput
from carnet_core.testing import AuditRecord, behind_the_back


@pytest.fixture
def world(carnet_db, make_team):
    return make_world(carnet_db, make_team)


def _issue_some(carnet_db, world, count=3):
    owner = principal(world, world.owner, "owner", "practitioner")
    colleague = principal(world, world.practitioner, "practitioner")
    issued = []
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        for n in range(count):
            for who, user in ((owner, world.owner), (colleague, world.practitioner)):
                note = notes.create_draft(db, owner, practitioner_id=user.id, patient_id=world.patients[n % 3])
                notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2 + n), letter="AMO",
                                                             coefficient_hundredths=1010))
                issued.append(notes.issue(db, who, note.id))
        credit = notes.credit(db, owner, issued[0].id, Decimal("5"))
        return [(n.id, n.number, n.practitioner_id) for n in issued] + [(credit.id, credit.number, world.owner.id)]


def _behind_the_back(carnet_db, world, *statements):
    behind_the_back(carnet_db, *statements)


def _verify(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return [str(p) for p in chain.verify(db)]


def test_an_untouched_chain_verifies_and_links_each_document_to_the_previous(carnet_db, world):
    docs = _issue_some(carnet_db, world)
    assert _verify(carnet_db, world) == []
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        mine = [db.get(Note, i) for i, _, who in docs if who == world.owner.id]
        assert mine[0].prev_hash == chain.GENESIS
        assert [n.prev_hash for n in mine[1:]] == [n.chain_hash for n in mine[:-1]]


def test_an_edited_amount_is_named(carnet_db, world):
    docs = _issue_some(carnet_db, world)
    note_id, number, _ = docs[2]
    _behind_the_back(carnet_db, world, f"UPDATE billing_note SET total_cents = 1 WHERE id = {note_id}")
    assert _verify(carnet_db, world) == [f"practitioner {world.owner.id}: document {number} altered "
                                         "(its content no longer gives its hash)"]


def test_an_edited_line_is_named(carnet_db, world):
    docs = _issue_some(carnet_db, world)
    note_id, number, who = docs[3]
    _behind_the_back(carnet_db, world, f"UPDATE billing_note_line SET amount_cents = 1 WHERE note_id = {note_id}")
    assert _verify(carnet_db, world) == [f"practitioner {who}: document {number} altered "
                                         "(its content no longer gives its hash)"]


def test_a_deleted_document_is_named_missing(carnet_db, world):
    docs = _issue_some(carnet_db, world)
    middle_id, middle_number, _ = docs[2]  # the owner's second note
    _behind_the_back(carnet_db, world, f"DELETE FROM billing_note_line WHERE note_id = {middle_id}",
                     f"DELETE FROM billing_note WHERE id = {middle_id}")
    assert _verify(carnet_db, world) == [f"practitioner {world.owner.id}: document {middle_number} missing "
                                         "(deleted, or its number was skipped)"]


def test_the_last_document_deleted_is_named_missing_from_the_series(carnet_db, world):
    docs = _issue_some(carnet_db, world)
    last_id, last_number, who = docs[-1]  # the credit note, last of the owner's series
    _behind_the_back(carnet_db, world, f"DELETE FROM billing_note_line WHERE note_id = {last_id}",
                     f"DELETE FROM billing_note WHERE id = {last_id}")
    assert _verify(carnet_db, world) == [f"practitioner {who}: document {last_number} missing "
                                         "(deleted, or its number was skipped)"]


def test_an_inserted_document_is_named(carnet_db, world):
    docs = _issue_some(carnet_db, world)
    first_id, first_number, _ = docs[0]
    # the owner's first note replaced by a forged one: same number, its own (consistent) hash
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        original = db.get(Note, first_id)
        forged_prev = "f" * 64
        original_hash = original.chain_hash
    assert original_hash
    _behind_the_back(carnet_db, world, f"UPDATE billing_note SET prev_hash = '{forged_prev}' WHERE id = {first_id}")
    assert _verify(carnet_db, world) == [f"practitioner {world.owner.id}: document {first_number} inserted or "
                                         "reordered (it does not follow the previous document)"]


def test_key_rotation_may_reseal_an_issued_note_but_nothing_else_changes(carnet_db, world):
    docs = _issue_some(carnet_db, world, count=1)
    note_id = docs[0][0]
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        sealed = bytes(db.get(Note, note_id).patient_name)
    with carnet_db.session(clinic_id=world.clinic.id) as db:  # a re-seal rewrites the ciphertext only
        db.execute(sa.text("UPDATE billing_note SET patient_name = :v WHERE id = :i"), {"v": sealed + b"", "i": note_id})
        db.execute(sa.text("UPDATE billing_note_line SET label = label WHERE note_id = :i"), {"i": note_id})
    with pytest.raises(sa.exc.DBAPIError, match="refused"):
        with carnet_db.session(clinic_id=world.clinic.id) as db:
            db.execute(sa.text("UPDATE billing_note SET patient_name = :v, total_cents = 0 WHERE id = :i"),
                       {"v": sealed, "i": note_id})
    assert _verify(carnet_db, world) == []


def test_owners_see_the_chain_check_on_a_page(carnet_db, world, client, staff, clinic, login_as):
    owner = staff("owner,practitioner", email="owner@cabinet.test")
    login_as(client, owner)
    assert "Toutes les chaînes sont intactes." in client.get("/billing/verify").text


def test_the_page_names_a_broken_chain(carnet_db, client, staff, make_team, login_as, plugin_host):
    world = make_world(carnet_db, make_team, slug="cabinet-verif")
    docs = _issue_some(carnet_db, world, count=1)
    _behind_the_back(carnet_db, world, f"UPDATE billing_note SET total_cents = 1 WHERE id = {docs[0][0]}")
    owner = staff("owner", clinic=world.clinic, email="owner@verif.test")
    login_as(client, owner)
    page = client.get("/billing/verify").text
    assert "La chaîne est rompue" in page and f"Claire Martin — document {docs[0][1]} : modifié" in page


# --- what the hash covers (issue 16: mutation testing of billing's chain) -----------------------------


def test_the_hashed_content_is_pinned():
    """An auditor recomputes the hashes from the documented content: its exact bytes are pinned (a
    change would break every existing chain; add a new "v" instead and keep verifying this one)."""
    from carnet_billing.models import NoteLine

    note = Note(id=9, clinic_id=1, practitioner_id=2, kind="credit", status="issued", number="2026-000003",
                year=2026, seq=3, issued_on=date(2026, 3, 4), patient_id=5, credit_of_id=7, total_cents=-2525,
                name_withheld=True, issuer="Claire Martin — Orthophoniste\n12 rue des Tilleuls")
    lines = [
        NoteLine(id=12, note_id=9, position=1, act_day=date(2026, 3, 3), coefficient_hundredths=None,
                 unit_cents=-500, quantity=1, amount_cents=-500),
        NoteLine(id=10, note_id=9, position=1, act_day=date(2026, 3, 5), coefficient_hundredths=1000,
                 unit_cents=0, quantity=3, amount_cents=0),
        NoteLine(id=11, note_id=9, position=0, act_day=date(2026, 3, 2), coefficient_hundredths=1010,
                 unit_cents=-250, quantity=2, amount_cents=-2025),
    ]
    expected = (
        '{"clinic_id":1,"credit_of_id":7,"issued_on":"2026-03-04",'
        '"issuer":"Claire Martin — Orthophoniste\\n12 rue des Tilleuls","kind":"credit","lines":['
        '{"act_day":"2026-03-02","amount_cents":-2025,"coefficient_hundredths":1010,"position":0,"quantity":2,'
        '"unit_cents":-250},'
        '{"act_day":"2026-03-05","amount_cents":0,"coefficient_hundredths":1000,"position":1,"quantity":3,'
        '"unit_cents":0},'
        '{"act_day":"2026-03-03","amount_cents":-500,"coefficient_hundredths":null,"position":1,"quantity":1,'
        '"unit_cents":-500}],'
        '"name_withheld":true,"number":"2026-000003","patient_id":5,"practitioner_id":2,'
        f'"prev":"{"ab" * 32}","seq":3,"total_cents":-2525,"v":1,"year":2026}}'
    )
    assert chain.canonical(note, lines, "ab" * 32) == expected.encode("utf-8")
    assert chain.digest(note, lines, "ab" * 32) == hashlib.sha256(expected.encode()).hexdigest()
    note.issued_on = None  # a draft has no date yet
    assert b'"issued_on":null' in chain.canonical(note, [], chain.GENESIS)


NOTE_EDITS = {
    "kind": "kind = 'credit'",
    "issued_on": "issued_on = '2025-12-31'",
    "patient_id": "patient_id = {other_patient}",
    "credit_of_id": "credit_of_id = {other_note}",
    "total_cents": "total_cents = total_cents + 1",
    "name_withheld": "name_withheld = NOT name_withheld",
    "issuer": "issuer = 'Cabinet usurpé'",
    "number": "number = '2026-999999'",
}
LINE_EDITS = {
    "position": "position = position + 7",
    "act_day": "act_day = '2025-12-31'",
    "coefficient_hundredths": "coefficient_hundredths = 2020",
    "unit_cents": "unit_cents = unit_cents + 1",
    "quantity": "quantity = quantity + 1",
    "amount_cents": "amount_cents = amount_cents + 1",
}


@pytest.mark.parametrize("table, edit", [("billing_note", e) for e in NOTE_EDITS.values()]
                         + [("billing_note_line", e) for e in LINE_EDITS.values()])
def test_every_hashed_column_edited_behind_the_applications_back_names_its_document(carnet_db, world, table, edit):
    docs = _issue_some(carnet_db, world, count=2)
    note_id, number, who = docs[2]  # the owner's second note: a document inside the chain, not its end
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        patient = db.get(Note, note_id).patient_id
    edit = edit.format(other_patient=next(p for p in world.patients if p != patient), other_note=docs[0][0])
    where = f"id = {note_id}" if table == "billing_note" else f"note_id = {note_id}"
    _behind_the_back(carnet_db, world, f"UPDATE {table} SET {edit} WHERE {where}")
    if "number =" in edit:
        number = "2026-999999"  # the document is named by the number it now shows
    assert _verify(carnet_db, world) == [f"practitioner {who}: document {number} altered "
                                         "(its content no longer gives its hash)"]


# --- where a new document links (the chain's end) ------------------------------------------------------


def _issue_on(carnet_db, world, monkeypatch, day, count, *, draft_beside=False):
    """The owner issues `count` notes dated `day` (the clinic's date is the issuing date); with
    `draft_beside`, a draft of theirs is left unissued next to the chain's end."""
    monkeypatch.setattr(notes, "clinic_today", lambda db: day)
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        issued = []
        for n in range(count):
            note = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[0])
            notes.add_line(db, owner, note.id, LineInput(act_day=day, letter="AMO", coefficient_hundredths=1010 + n))
            issued.append(notes.issue(db, owner, note.id).id)
        if draft_beside:
            draft = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[1])
            notes.add_line(db, owner, draft.id, LineInput(act_day=day, letter="AMO", coefficient_hundredths=1010))
        return issued


def test_a_new_year_links_to_the_last_document_of_the_previous_year_then_to_its_own(carnet_db, world, monkeypatch):
    """The chain runs by year, then number: the first document of 2026 follows 2025's last (not its
    first), and 2026's second follows 2026's first, not 2025's third (a higher number, an older year)."""
    last_year = _issue_on(carnet_db, world, monkeypatch, date(2025, 12, 30), 3)
    this_year = _issue_on(carnet_db, world, monkeypatch, date(2026, 1, 2), 2)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        docs = {n.number: n for n in (db.get(Note, i) for i in last_year + this_year)}
        assert sorted(docs) == ["2025-000001", "2025-000002", "2025-000003", "2026-000001", "2026-000002"]
        assert docs["2026-000001"].prev_hash == docs["2025-000003"].chain_hash
        assert docs["2026-000002"].prev_hash == docs["2026-000001"].chain_hash
        assert chain.last_hash(db, world.owner.id) == docs["2026-000002"].chain_hash
    assert _verify(carnet_db, world) == []


def test_a_draft_beside_the_chains_end_is_never_linked_to(carnet_db, world, monkeypatch):
    """A draft has no year or number yet (PostgreSQL sorts those first in descending order): the
    chain's end is the last issued document, and the next one issued follows it."""
    first = _issue_on(carnet_db, world, monkeypatch, date(2026, 3, 2), 2, draft_beside=True)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        end = db.get(Note, first[-1]).chain_hash
        assert chain.last_hash(db, world.owner.id) == end
    second = _issue_on(carnet_db, world, monkeypatch, date(2026, 3, 3), 1, draft_beside=True)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.get(Note, second[0]).prev_hash == end
    assert _verify(carnet_db, world) == []


def test_a_practitioner_without_issued_documents_starts_from_genesis(carnet_db, world, monkeypatch):
    _issue_on(carnet_db, world, monkeypatch, date(2026, 3, 2), 1, draft_beside=True)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert chain.last_hash(db, world.practitioner.id) == chain.GENESIS


def test_one_practitioners_check_reads_only_their_chain(carnet_db, world):
    """`verify(db, practitioner_id)`: the problems of that practitioner's chain only, including a
    series whose every document is gone (nothing left to read but the series)."""
    docs = _issue_some(carnet_db, world, count=2)
    colleague_docs = [(i, n) for i, n, who in docs if who == world.practitioner.id]
    statements = [s for i, _ in colleague_docs for s in (f"DELETE FROM billing_note_line WHERE note_id = {i}",
                                                         f"DELETE FROM billing_note WHERE id = {i}")]
    _behind_the_back(carnet_db, world, *statements)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert chain.verify(db, world.owner.id) == []
        assert [str(p) for p in chain.verify(db, world.practitioner.id)] == [
            f"practitioner {world.practitioner.id}: document {colleague_docs[0][1]} missing "
            "(deleted, or its number was skipped)"]
    assert _verify(carnet_db, world) == [f"practitioner {world.practitioner.id}: document {colleague_docs[0][1]} "
                                         "missing (deleted, or its number was skipped)"]


def test_a_document_its_series_never_gave_is_named_inserted(carnet_db, world):
    """The series row counts the numbers given; with it gone (deleted behind the application's
    back) the practitioner's first document is beyond anything the series gave: inserted."""
    docs = _issue_some(carnet_db, world, count=1)
    first_number = next(number for _, number, who in docs if who == world.owner.id)
    _behind_the_back(carnet_db, world, f"DELETE FROM billing_number_series WHERE practitioner_id = {world.owner.id}")
    assert _verify(carnet_db, world) == [f"practitioner {world.owner.id}: document {first_number} inserted or "
                                         "reordered (it does not follow the previous document)"]


def test_a_practitioners_only_document_deleted_is_named_missing(carnet_db, world, monkeypatch):
    """No document left to read, but the series gave number 1: that number is missing."""
    [only] = _issue_on(carnet_db, world, monkeypatch, date(2026, 3, 2), 1)
    _behind_the_back(carnet_db, world, f"DELETE FROM billing_note_line WHERE note_id = {only}",
                     f"DELETE FROM billing_note WHERE id = {only}")
    assert _verify(carnet_db, world) == [f"practitioner {world.owner.id}: document 2026-000001 missing "
                                         "(deleted, or its number was skipped)"]


def test_documents_issued_in_another_order_than_their_drafts_chain_by_number(carnet_db, world, monkeypatch):
    """Drafts are written A, B, C and issued C, B, A: the rows lie in the table in the reverse of
    their numbers, so only ordering by number (not by row, nor by year alone) finds the chain's end
    and walks the chain in the order it was made."""
    monkeypatch.setattr(notes, "clinic_today", lambda db: date(2026, 3, 2))
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        drafts = []
        for n in range(3):
            note = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[n])
            notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), letter="AMO",
                                                         coefficient_hundredths=1010 + n))
            drafts.append(note.id)
        for note_id in reversed(drafts):
            notes.issue(db, owner, note_id)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        a, b, c = (db.get(Note, i) for i in drafts)
        assert [c.seq, b.seq, a.seq] == [1, 2, 3]
        assert (c.prev_hash, b.prev_hash, a.prev_hash) == (chain.GENESIS, c.chain_hash, b.chain_hash)
        assert chain.last_hash(db, world.owner.id) == a.chain_hash
    assert _verify(carnet_db, world) == []


def test_a_forged_document_without_a_year_is_named_under_year_zero(carnet_db, world):
    """An issued row forged behind the application's back with no year (the schema allows it: only
    the number, seq and date are required once issued) is walked as year 0; its number 2 in a year
    that gave none is named as year 0's missing first number."""
    _issue_some(carnet_db, world, count=1)
    _behind_the_back(carnet_db, world, (
        "INSERT INTO billing_note (clinic_id, kind, status, practitioner_id, patient_id, number, year, seq, "
        "issued_on, total_cents, name_withheld, prev_hash, chain_hash, created_at, updated_at) VALUES "
        f"({world.clinic.id}, 'note', 'issued', {world.practitioner.id}, {world.patients[0]}, 'X-2', NULL, 2, "
        f"'2026-03-05', 5000, false, '{chain.GENESIS}', '{'a' * 64}', '2026-03-05 10:00:00', "
        "'2026-03-05 10:00:00')"))
    assert _verify(carnet_db, world) == [f"practitioner {world.practitioner.id}: document 0-000001 missing "
                                         "(deleted, or its number was skipped)"]


def test_every_clinic_is_checked_in_slug_order_and_each_check_is_audited_with_its_problem_count(
        carnet_db, world, make_team):
    """`verify_clinics` (the command's walk): clinics in the order of their slugs whatever the order
    they were made in, and in each clinic an audit record of the check naming how many problems it
    found (0 for an intact chain, 1 for a broken one)."""
    first = make_world(carnet_db, make_team, slug="zz-cabinet-verif")
    second = make_world(carnet_db, make_team, slug="aa-cabinet-verif")
    docs = _issue_some(carnet_db, second, count=1)
    _behind_the_back(carnet_db, second, f"UPDATE billing_note SET total_cents = 1 WHERE id = {docs[0][0]}")
    results = chain.verify_clinics(carnet_db)
    slugs = [clinic.slug for clinic, _, _ in results]
    assert slugs == sorted(slugs) and {"aa-cabinet-verif", "zz-cabinet-verif"} <= set(slugs)
    assert slugs.index("aa-cabinet-verif") < slugs.index("zz-cabinet-verif")
    for checked, problems in ((first, 0), (second, 1)):
        with carnet_db.session(clinic_id=checked.clinic.id) as db:
            details = [r.details for r in db.exec(sa.select(AuditRecord).where(
                AuditRecord.action == "verify", AuditRecord.resource_type == "billing_note")).scalars()]
            assert [json.loads(d) for d in details] == [{"problems": problems}]
