"""Notes d'honoraires: profile mentions, drafts, dated tariffs on lines, issuing with a gap-free
number, immutability (service and database), credit notes."""

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from billing_world import make_world, principal

from carnet_billing.models import ISSUED, Note, NoteLine
from carnet_billing.services import chain, notes, numbering, profiles, tariffs
from carnet_billing.services.errors import BillingInvalid, NotFound
from carnet_billing.services.notes import LineInput
from carnet_core.plugin_api import open_


@pytest.fixture
def world(carnet_db, make_team):
    return make_world(carnet_db, make_team)


@pytest.fixture
def scoped(carnet_db, world):
    def open_session(actor=None):
        session = carnet_db.session(clinic_id=world.clinic.id)
        return _Actor(session, actor or f"user:{world.owner.id}")

    return open_session


class _Actor:
    def __init__(self, ctx, actor):
        self.ctx, self.actor = ctx, actor

    def __enter__(self):
        db = self.ctx.__enter__()
        db.info["principal"] = self.actor
        return db

    def __exit__(self, *exc):
        return self.ctx.__exit__(*exc)


def _draft(db, world, who=None, day=date(2026, 3, 2), coefficient=1010):
    who = who or principal(world, world.owner, "owner", "practitioner")
    note = notes.create_draft(db, who, practitioner_id=world.owner.id, patient_id=world.patients[0])
    notes.add_line(db, who, note.id, LineInput(act_day=day, letter="AMO", coefficient_hundredths=coefficient,
                                               label="Séance de rééducation", place="Cabinet"))
    return note


def test_issuing_is_refused_listing_the_missing_mentions_in_french(world, scoped):
    owner = principal(world, world.owner, "owner", "practitioner")
    with scoped() as db:
        profile = profiles.get(db, world.owner.id)
        profile.siret, profile.rpps, profile.address = "", "", ""
        db.add(profile)
    with scoped() as db:
        note = _draft(db, world)
        note_id = note.id
    with scoped() as db:
        with pytest.raises(BillingInvalid) as refused:
            notes.issue(db, owner, note_id)
    error = refused.value.errors["profile"]
    assert error.code == "missing_mentions"
    assert str(error) == ("The billing profile lacks mandatory mentions: l'adresse professionnelle, "
                          "le numéro RPPS ou ADELI, le numéro SIRET.")
    with scoped() as db:
        assert db.get(Note, note_id).status == "draft" and db.get(Note, note_id).number is None
        assert numbering.last_taken(db, world.owner.id, notes.clinic_today(db).year) == 0


def test_a_profile_with_bad_identifiers_is_refused_field_by_field(world, scoped):
    with scoped() as db:
        with pytest.raises(BillingInvalid) as refused:
            profiles.save(db, world.owner.id, {"name": "X", "rpps": "123", "siret": "abc", "adeli": "12",
                                               "zone": "mars", "footer": "a\u202eb"})
    assert set(refused.value.errors) == {"rpps", "siret", "adeli", "zone", "footer"}
    with scoped() as db:
        assert profiles.get(db, world.owner.id).name == "Claire Martin"  # nothing written


def test_a_draft_is_edited_and_deleted_freely_and_has_no_number(world, scoped):
    owner = principal(world, world.owner, "owner", "practitioner")
    with scoped() as db:
        note = _draft(db, world)
        assert note.number is None and note.total_cents == 2626
        extra = notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 9), price=Decimal("50"),
                                                             label="Bilan non remboursé"))
        assert note.total_cents == 7626
        notes.remove_line(db, owner, note.id, extra.id)
        assert note.total_cents == 2626
        line = notes.lines_of(db, note)[0]
        assert open_(db, line, "code") == "AMO 10,1" and open_(db, line, "label") == "Séance de rééducation"
        note_id = note.id
    with scoped() as db:
        notes.delete_draft(db, owner, note_id)
    with scoped() as db:
        assert db.get(Note, note_id) is None
        assert db.exec(sa.select(NoteLine).where(NoteLine.note_id == note_id)).all() == []


def test_bad_lines_get_field_errors_and_write_nothing(world, scoped):
    owner = principal(world, world.owner, "owner", "practitioner")
    with scoped() as db:
        note_id = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[0]).id
    cases = [
        (LineInput(act_day=date(2099, 1, 1), letter="AMO", coefficient_hundredths=1010), "act_day"),
        (LineInput(act_day=date(2023, 6, 1), letter="AMO", coefficient_hundredths=1010), "act_day"),
        (LineInput(act_day=date(2026, 3, 2), letter="ZZZ", coefficient_hundredths=1010), "letter"),
        (LineInput(act_day=date(2026, 3, 2), letter="AMO", coefficient_hundredths=0), "coefficient"),
        (LineInput(act_day=date(2026, 3, 2), price=Decimal("-5")), "price"),
        (LineInput(act_day=date(2026, 3, 2), price=Decimal("99999")), "price"),
        (LineInput(act_day=date(2026, 3, 2)), "letter"),
        (LineInput(act_day=date(2026, 3, 2), price=Decimal("10"), quantity=0), "quantity"),
        (LineInput(act_day=date(2026, 3, 2), price=Decimal("10"), label="\x00"), "label"),
    ]
    for line, field in cases:
        with scoped() as db:
            with pytest.raises(BillingInvalid) as refused:
                notes.add_line(db, owner, note_id, line)
            assert field in refused.value.errors, (line, refused.value.errors)
    with scoped() as db:
        assert notes.lines_of(db, db.get(Note, note_id)) == []
        with pytest.raises(BillingInvalid, match="empty note"):
            notes.issue(db, owner, note_id)


def test_a_line_keeps_the_key_letter_value_in_force_on_the_acts_date(world, scoped):
    owner = principal(world, world.owner, "owner", "practitioner")
    with scoped() as db:  # an avenant: AMO at 2,80 € from 1 June 2026 (the clinic's own dated value)
        tariffs.add_value(db, "AMO", "metropole", date(2026, 6, 1), Decimal("2.80"), world.owner.id)
    with scoped() as db:
        before = _draft(db, world, day=date(2026, 5, 31))
        after = _draft(db, world, day=date(2026, 6, 1))
        assert [line.unit_cents for line in notes.lines_of(db, before)] == [260]
        assert [line.unit_cents for line in notes.lines_of(db, after)] == [280]
        assert (before.total_cents, after.total_cents) == (2626, 2828)
        notes.issue(db, owner, before.id)
        ids = before.id, after.id
    with scoped() as db:  # a later change of the value never touches a line
        tariffs.add_value(db, "AMO", "metropole", date(2026, 5, 1), Decimal("3.00"), world.owner.id)
    with scoped() as db:
        assert db.get(Note, ids[0]).total_cents == 2626
        assert [line.unit_cents for line in notes.lines_of(db, db.get(Note, ids[0]))] == [260]
        assert tariffs.value_on(db, "AMO", "metropole", date(2026, 5, 31)) == 300
        assert tariffs.value_on(db, "AMO", "outre_mer", date(2026, 5, 31)) == 272


def test_issuing_numbers_notes_per_practitioner_and_year_and_freezes_them(world, scoped):
    owner = principal(world, world.owner, "owner", "practitioner")
    with scoped() as db:
        year = notes.clinic_today(db).year
        first, second = _draft(db, world), _draft(db, world)
        notes.issue(db, owner, first.id)
        notes.issue(db, owner, second.id)
        assert (first.number, second.number) == (f"{year}-000001", f"{year}-000002")
        assert first.status == ISSUED and first.issued_on == notes.clinic_today(db)
        assert open_(db, first, "patient_name") == "LEFÈVRE0 Élodie"
        assert '"siret": "12345678900011"' in first.issuer
        # the service refuses every change
        with pytest.raises(BillingInvalid, match="issued note cannot be changed"):
            notes.add_line(db, owner, first.id, LineInput(act_day=date(2026, 3, 2), price=Decimal(10)))
        with pytest.raises(BillingInvalid, match="issued note cannot be changed"):
            notes.delete_draft(db, owner, first.id)


def test_issuing_reads_the_note_its_lines_and_its_profile_in_one_query(world, scoped, carnet_db):
    """A note issued in a fresh session (as a request issues it) is read with its lines and its
    practitioner's billing profile by one query; the lines, in order, are the ones its chain hash
    covers, the profile's mentions the ones it prints."""
    owner = principal(world, world.owner, "owner", "practitioner")
    with scoped() as db:
        note = _draft(db, world)
        notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 3), letter="AMO",
                                                     coefficient_hundredths=1010))
        note_id = note.id
    read: list[str] = []

    def seen(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            read.append(" ".join(statement.split()))

    with scoped() as db:
        sa.event.listen(carnet_db.engine, "before_cursor_execute", seen)
        try:
            issued = notes.issue(db, owner, note_id)
        finally:
            sa.event.remove(carnet_db.engine, "before_cursor_execute", seen)
        lines = notes.lines_of(db, issued)
        assert issued.chain_hash == chain.digest(issued, lines, issued.prev_hash)
    # (the chain's previous hash is read apart, once the number is taken)
    notes_read = [s for s in read if " FROM billing_note " in f"{s} " and not s.startswith("SELECT billing_note.chain_hash ")]
    assert len(notes_read) == 1 and "billing_note_line" in notes_read[0]
    assert not [s for s in read if " FROM billing_note_line " in f"{s} " and "billing_note " not in s]
    assert "billing_profile" in notes_read[0] and not [s for s in read if " FROM billing_profile " in f"{s} "]
    assert '"siret": "12345678900011"' in issued.issuer
    assert [line.position for line in lines] == [1, 2]


def test_the_database_refuses_any_change_to_an_issued_note_its_lines_or_a_series(world, scoped, carnet_db):
    owner = principal(world, world.owner, "owner", "practitioner")
    with scoped() as db:
        note = _draft(db, world)
        notes.issue(db, owner, note.id)
        note_id, line_id, year = note.id, notes.lines_of(db, note)[0].id, note.year
    statements = [
        f"UPDATE billing_note SET total_cents = 1 WHERE id = {note_id}",
        f"UPDATE billing_note SET status = 'draft', number = NULL, seq = NULL WHERE id = {note_id}",
        f"DELETE FROM billing_note WHERE id = {note_id}",
        f"UPDATE billing_note_line SET amount_cents = 1 WHERE id = {line_id}",
        f"DELETE FROM billing_note_line WHERE id = {line_id}",
        f"INSERT INTO billing_note_line (clinic_id, note_id, position, act_day, unit_cents, quantity, amount_cents) "
        f"VALUES ({world.clinic.id}, {note_id}, 9, '2026-03-03', 100, 1, 100)",
        f"UPDATE billing_number_series SET last_seq = 0 WHERE practitioner_id = {world.owner.id} AND year = {year}",
        f"UPDATE billing_number_series SET last_seq = last_seq + 2 WHERE practitioner_id = {world.owner.id}",
        f"DELETE FROM billing_number_series WHERE practitioner_id = {world.owner.id}",
    ]
    for statement in statements:
        with pytest.raises(sa.exc.DBAPIError, match="issued|series|refused"):
            with scoped() as db:
                db.execute(sa.text(statement))
    with scoped() as db:
        kept = db.get(Note, note_id)
        assert (kept.total_cents, kept.status, kept.seq) == (2626, ISSUED, 1)
        assert numbering.last_taken(db, world.owner.id, year) == 1


def test_credit_notes_cancel_fully_or_partly_with_their_own_number(world, scoped):
    owner = principal(world, world.owner, "owner", "practitioner")
    with scoped() as db:
        year = notes.clinic_today(db).year
        note = _draft(db, world)
        notes.issue(db, owner, note.id)
        partial = notes.credit(db, owner, note.id, Decimal("6.26"))
        assert (partial.kind, partial.number, partial.total_cents, partial.credit_of_id) == (
            "credit", f"{year}-000002", 626, note.id)
        assert notes.remaining_cents(db, note) == 2000
        with pytest.raises(BillingInvalid, match="cannot exceed") as refused:
            notes.credit(db, owner, note.id, Decimal("20.01"))
        assert "amount" in refused.value.errors
        rest = notes.credit(db, owner, note.id)
        assert (rest.number, rest.total_cents) == (f"{year}-000003", 2000)
        assert notes.remaining_cents(db, note) == 0
        assert "Annulation partielle de la note n° " + note.number == open_(db, notes.lines_of(db, rest)[0], "label")
        with pytest.raises(BillingInvalid, match="fully cancelled"):
            notes.credit(db, owner, note.id)
        with pytest.raises(BillingInvalid, match="Only an issued note"):
            notes.credit(db, owner, rest.id)
        draft = _draft(db, world)
        with pytest.raises(BillingInvalid, match="Only an issued note"):
            notes.credit(db, owner, draft.id)


def test_who_sees_and_issues_a_note(world, scoped):
    owner = principal(world, world.owner, "owner", "practitioner")
    colleague = principal(world, world.practitioner, "practitioner")
    secretary = principal(world, world.secretary, "secretary")
    with scoped() as db:
        note = _draft(db, world, who=secretary)  # a secretary prepares drafts
        with pytest.raises(NotFound):
            notes.get(db, colleague, note.id)  # another practitioner's note: as if it did not exist
        assert notes.listing(db, colleague) == [] and notes.listing(db, secretary) == [note]
        with pytest.raises(BillingInvalid, match="Only the practitioner"):
            notes.issue(db, secretary, note.id)
        notes.issue(db, owner, note.id)
        assert notes.get(db, secretary, note.id).number is not None


def test_the_catalogue_holds_ngap_and_free_tariff_acts_used_on_lines(world, scoped):
    from carnet_billing.services import acts

    owner = principal(world, world.owner, "owner", "practitioner")
    with scoped() as db:
        seance = acts.create(db, label="Rééducation du langage", kind="ngap", letter="amo", coefficient_hundredths=1010)
        bilan = acts.create(db, label="Bilan non remboursé", kind="free", price=Decimal("60.00"))
        with pytest.raises(BillingInvalid) as refused:
            acts.create(db, label="", kind="ngap", letter="XYZ", coefficient_hundredths=0)
        assert set(refused.value.errors) == {"act_label", "act_letter", "act_coefficient"}
        with pytest.raises(BillingInvalid) as refused:
            acts.create(db, label="Séance", kind="free", price=Decimal("0"))
        assert set(refused.value.errors) == {"act_price"}
        note = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[0])
        notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), act_id=seance.id))
        notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), act_id=bilan.id))
        assert note.total_cents == 2626 + 6000
        first, second = notes.lines_of(db, note)
        assert (open_(db, first, "code"), open_(db, first, "label")) == ("AMO 10,1", "Rééducation du langage")
        assert (second.unit_cents, open_(db, second, "label"), open_(db, second, "code")) == (
            6000, "Bilan non remboursé", None)
        acts.set_active(db, bilan.id, False)
        with pytest.raises(BillingInvalid) as refused:
            notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), act_id=bilan.id))
        assert "act_id" in refused.value.errors
        assert [a.id for a in acts.listing(db, active_only=True)] == [seance.id]
