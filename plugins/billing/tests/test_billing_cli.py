"""`carnet billing verify` (billing's command through core's `register_cli_commands` hook): exit 0
on intact chains; exit 1 naming the first altered, missing or inserted document when rows were
changed behind the application's back (triggers out of the way, as the database's owner could)."""

from datetime import date

import pytest
from billing_world import make_world, principal
from click.testing import CliRunner
from sqlmodel import select

from carnet_billing.models import Note
from carnet_billing.services import notes
from carnet_billing.services.notes import LineInput
from carnet_core.testing import AuditRecord, behind_the_back, carnet_cli


@pytest.fixture
def issued(carnet_db, make_team):
    """The owner's three issued notes: (world, [(id, number)])."""
    world = make_world(carnet_db, make_team, slug="cabinet-verif")
    owner = principal(world, world.owner, "owner", "practitioner")
    done = []
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        for n in range(3):
            note = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[n])
            notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2 + n), letter="AMO",
                                                         coefficient_hundredths=1010))
            notes.issue(db, owner, note.id)
            done.append((note.id, note.number))
    return world, done


def _verify(carnet_settings, *args):
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    return CliRunner().invoke(carnet_cli, ["billing", "verify", *args], env=env, catch_exceptions=False)


def test_intact_chains_exit_0_and_the_check_is_audited(issued, carnet_settings, carnet_db):
    world, _ = issued
    result = _verify(carnet_settings)
    assert result.exit_code == 0, result.output
    assert "cabinet-verif: intact (3 issued documents)" in result.output
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        checks = db.exec(select(AuditRecord).where(AuditRecord.action == "verify")).all()
        assert [(c.actor_kind, c.actor_id, c.resource_type) for c in checks] == [("system", "billing-verify", "billing_note")]


def test_an_edited_note_is_named_altered(issued, carnet_settings, carnet_db):
    world, done = issued
    behind_the_back(carnet_db, f"UPDATE billing_note SET total_cents = 1 WHERE id = {done[1][0]}")
    result = _verify(carnet_settings, "--clinic", "cabinet-verif")
    assert result.exit_code == 1
    assert f"document {done[1][1]} altered (its content no longer gives its hash)" in result.output


def test_a_deleted_note_is_named_missing(issued, carnet_settings, carnet_db):
    world, done = issued
    behind_the_back(carnet_db, f"DELETE FROM billing_note_line WHERE note_id = {done[0][0]}",
                    f"DELETE FROM billing_note WHERE id = {done[0][0]}")
    result = _verify(carnet_settings)
    assert result.exit_code == 1
    assert f"document {done[0][1]} missing (deleted, or its number was skipped)" in result.output


def test_an_inserted_note_is_named_inserted(issued, carnet_settings, carnet_db):
    world, done = issued
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        last = db.get(Note, done[-1][0])
        year, seq, prev = last.year, last.seq + 1, last.chain_hash
    number = f"{year}-{seq:06d}"
    behind_the_back(carnet_db, (
        "INSERT INTO billing_note (clinic_id, kind, status, practitioner_id, patient_id, number, year, seq, "
        "issued_on, total_cents, name_withheld, prev_hash, chain_hash, created_at, updated_at) VALUES "
        f"({world.clinic.id}, 'note', 'issued', {world.owner.id}, {world.patients[0]}, '{number}', {year}, "
        f"{seq}, '{year}-03-05', 5000, false, '{prev}', '{'a' * 64}', '2026-03-05 10:00:00', "
        "'2026-03-05 10:00:00')"))
    result = _verify(carnet_settings)
    assert result.exit_code == 1
    assert f"document {number} inserted or reordered" in result.output


def test_an_unknown_clinic_is_an_error(issued, carnet_settings):
    result = _verify(carnet_settings, "--clinic", "nulle-part")
    assert result.exit_code == 2 and "no clinic 'nulle-part'" in result.output
