"""Gap-free numbering under concurrency: 50 notes issued at once by 50 threads, each in its own
transaction, get 50 distinct consecutive numbers of the practitioner's series, with no gap — on
SQLite (one writer at a time) and on PostgreSQL (the series row's lock), the `postgres` test
running in CI's PostgreSQL pass. A transaction that fails after taking a number gives it back."""

import threading
from datetime import date

import pytest
from billing_world import make_world, principal
from sqlmodel import select

from carnet_billing.models import ISSUED, Note
from carnet_billing.services import chain, notes, numbering
from carnet_billing.services.errors import BillingInvalid
from carnet_billing.services.notes import LineInput

ISSUERS = 50


def _drafts(carnet_db, world, count):
    owner = principal(world, world.owner, "owner", "practitioner")
    ids = []
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        for n in range(count):
            note = notes.create_draft(db, owner, practitioner_id=world.owner.id,
                                      patient_id=world.patients[n % len(world.patients)])
            notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), letter="AMO",
                                                         coefficient_hundredths=1010))
            ids.append(note.id)
    return ids


def _issue_concurrently(carnet_db, world, ids):
    owner = principal(world, world.owner, "owner", "practitioner")
    barrier = threading.Barrier(len(ids))
    failures: list[BaseException] = []

    def attempt(note_id):
        barrier.wait()
        try:
            with carnet_db.session(clinic_id=world.clinic.id) as db:
                db.info["principal"] = f"user:{world.owner.id}"
                notes.issue(db, owner, note_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures


def _check_series(carnet_db, world, count):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        year = notes.clinic_today(db).year
        issued = db.exec(select(Note).where(Note.status == ISSUED).order_by(Note.seq)).all()
        assert [n.seq for n in issued] == list(range(1, count + 1))
        assert [n.number for n in issued] == [f"{year}-{s:06d}" for s in range(1, count + 1)]
        assert len({n.id for n in issued}) == count
        # chronological: a later number never has an earlier issue time
        assert [n.issued_at for n in issued] == sorted(n.issued_at for n in issued)
        assert numbering.last_taken(db, world.owner.id, year) == count
        # and each issued document chains to the one before it, whatever the interleaving
        assert chain.verify(db) == []


def _run(carnet_db, make_team):
    world = make_world(carnet_db, make_team)
    ids = _drafts(carnet_db, world, ISSUERS)
    _issue_concurrently(carnet_db, world, ids)
    _check_series(carnet_db, world, ISSUERS)


def test_50_concurrent_issues_give_50_consecutive_numbers(carnet_db, make_team):
    _run(carnet_db, make_team)


@pytest.mark.postgres
def test_50_concurrent_issues_on_postgresql(carnet_db, make_team):
    assert carnet_db.engine.dialect.name == "postgresql"
    _run(carnet_db, make_team)


def test_a_failed_issue_gives_its_number_back(carnet_db, make_team):
    world = make_world(carnet_db, make_team)
    first, second = _drafts(carnet_db, world, 2)
    owner = principal(world, world.owner, "owner", "practitioner")
    with pytest.raises(RuntimeError):
        with carnet_db.session(clinic_id=world.clinic.id) as db:
            db.info["principal"] = "system:tests"
            notes.issue(db, owner, first)
            raise RuntimeError("the request failed after issuing")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        assert db.get(Note, first).number is None
        assert notes.issue(db, owner, second).seq == 1
        assert notes.issue(db, owner, first).seq == 2


def test_series_are_per_practitioner(carnet_db, make_team):
    world = make_world(carnet_db, make_team)
    owner = principal(world, world.owner, "owner", "practitioner")
    colleague = principal(world, world.practitioner, "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        mine = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[0])
        theirs = notes.create_draft(db, owner, practitioner_id=world.practitioner.id, patient_id=world.patients[0])
        for note in (mine, theirs):
            notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), letter="AMO",
                                                         coefficient_hundredths=1010))
        assert notes.issue(db, owner, mine.id).seq == 1
        with pytest.raises(BillingInvalid):
            notes.issue(db, owner, notes.create_draft(db, owner, practitioner_id=world.owner.id,
                                                      patient_id=world.patients[0]).id)  # empty
        assert notes.issue(db, colleague, theirs.id).seq == 1


def test_each_series_is_its_clinics_practitioners_and_years_own(carnet_db, make_team):
    """The series row is chosen by clinic, practitioner and year: the same practitioner working in
    two clinics, or the same year for two practitioners, never share numbers."""
    one = make_world(carnet_db, make_team, slug="cabinet-un")
    two = make_world(carnet_db, make_team, slug="cabinet-deux")
    taken = {}
    with carnet_db.session(clinic_id=one.clinic.id) as db:
        taken["one", "owner", 2026] = [numbering.take(db, one.owner.id, 2026) for _ in range(3)]
        taken["one", "colleague", 2026] = [numbering.take(db, one.practitioner.id, 2026)]
        taken["one", "owner", 2025] = [numbering.take(db, one.owner.id, 2025) for _ in range(2)]
    with carnet_db.session(clinic_id=two.clinic.id) as db:  # the first clinic's owner works here too
        taken["two", "owner", 2026] = [numbering.take(db, one.owner.id, 2026) for _ in range(5)]
    assert taken == {("one", "owner", 2026): [1, 2, 3], ("one", "colleague", 2026): [1],
                     ("one", "owner", 2025): [1, 2], ("two", "owner", 2026): [1, 2, 3, 4, 5]}
    with carnet_db.session(clinic_id=one.clinic.id) as db:
        assert [numbering.last_taken(db, one.owner.id, 2026), numbering.last_taken(db, one.practitioner.id, 2026),
                numbering.last_taken(db, one.owner.id, 2025), numbering.last_taken(db, one.owner.id, 2024)] == [3, 1, 2, 0]
    with carnet_db.session(clinic_id=two.clinic.id) as db:
        assert numbering.last_taken(db, one.owner.id, 2026) == 5
        assert numbering.last_taken(db, one.practitioner.id, 2026) == 0
