"""Search of sealed names by their first letters (issue 13: "Mar" finds MARTIN and MARCHAND):
keyed blind indexes of normalised name prefixes, clinic-scoped, written and erased with the
patient, back-filled for patients registered before them."""

from __future__ import annotations

import hmac
from hashlib import sha256

import pytest
import sqlalchemy as sa
from sqlmodel import select

from carnet_core.encryption.normalise import name_prefixes, name_words
from carnet_core.patients import prefixes
from carnet_core.patients.models import Patient, PatientNamePrefix
from carnet_core.testing import register_patients
from carnet_core.web.principal import Principal

NAMES = [
    ("Martin", "Julie"),
    ("Marchand", "Paul"),
    ("Lefèvre-Durand", "Élodie"),
    ("de la Tour", "Marc"),
    ("Moreau", "Amélie"),
    ("N'Diaye", "Awa"),
]


def _owner(clinic_id: int) -> Principal:
    return Principal(
        kind="user",
        user_id=None,
        clinic_id=clinic_id,
        roles=frozenset({"owner"}),
        permissions=frozenset({"core.patients.view", "core.patients.view_all"}),
    )


def _search(carnet_db, clinic_id: int, q: str) -> list[str]:
    from carnet_core.patients.services import search_patients

    with carnet_db.session(clinic_id=clinic_id) as db:
        return [v.display_name for v in search_patients(db, _owner(clinic_id), q)]


def test_names_are_folded_and_cut_into_prefixes_of_two_to_twelve_letters():
    assert name_words("  Lefèvre-DURAND ") == ["lefevre", "durand"]
    assert name_words("N’Diaye") == ["n", "diaye"]
    assert name_prefixes("Léa") == {"le", "lea"}
    found = name_prefixes("de la Tour", "Ève")
    assert {"de", "la", "to", "tou", "tour", "del", "dela", "delat", "delatour", "ev", "eve"} <= found
    assert not any(len(p) < 2 or len(p) > 12 for p in name_prefixes("Abcdefghijklmnopqrstuvwxyz"))
    assert "abcdefghijkl" in name_prefixes("Abcdefghijklmnopqrstuvwxyz")
    assert prefixes.query_words("  Mar  j ") == ["mar"]  # one letter is not looked up


def test_a_few_first_letters_of_the_last_or_first_name_find_the_patient(carnet_db, clinic):
    register_patients(carnet_db, clinic.id, NAMES)
    assert _search(carnet_db, clinic.id, "Mar") == ["DE LA TOUR Marc", "MARCHAND Paul", "MARTIN Julie"]
    assert _search(carnet_db, clinic.id, "mart") == ["MARTIN Julie"]
    assert _search(carnet_db, clinic.id, "MARCH") == ["MARCHAND Paul"]
    assert _search(carnet_db, clinic.id, "ame") == ["MOREAU Amélie"]  # first name, accents folded
    assert _search(carnet_db, clinic.id, "durand") == ["LEFÈVRE-DURAND Élodie"]  # a word inside the name
    assert _search(carnet_db, clinic.id, "lefevre-dur") == ["LEFÈVRE-DURAND Élodie"]
    assert _search(carnet_db, clinic.id, "mar jul") == ["MARTIN Julie"]  # every word must start a name
    assert _search(carnet_db, clinic.id, "delat") == ["DE LA TOUR Marc"]
    assert _search(carnet_db, clinic.id, "diaye") == ["N'DIAYE Awa"]
    assert _search(carnet_db, clinic.id, "Marx") == []


def test_the_rows_say_nothing_of_the_names_and_are_keyed_per_clinic(carnet_db, clinic, make_clinic):
    other = make_clinic("cabinet-autre")
    [here] = register_patients(carnet_db, clinic.id, [("Martin", "Julie")])
    [there] = register_patients(carnet_db, other.id, [("Martin", "Julie")])
    with carnet_db.session(unscoped=True) as db:
        rows = db.exec(select(PatientNamePrefix).order_by(PatientNamePrefix.id)).all()
    mine = [bytes(r.token) for r in rows if r.patient_id == here]
    theirs = [bytes(r.token) for r in rows if r.patient_id == there]
    # 'martin' and 'julie' give 4 + 5 prefixes (+ the words written together): padded to a multiple of 16,
    # stored in token order (not in the order of the prefixes' lengths)
    assert len(mine) % prefixes.PREFIX_ROWS == 0 and len(mine) >= len(name_prefixes("Martin", "Julie"))
    assert mine == sorted(mine) and all(len(t) == 16 for t in mine)
    assert not set(mine) & set(theirs)  # the same name gives other tokens in another clinic
    # keyed with the clinic's blind-index key, not its data key (nor unkeyed)
    from carnet_core.encryption.models import PURPOSE_DATA, PURPOSE_INDEX
    from carnet_core.encryption.services import _active_data_key

    with carnet_db.session(clinic_id=clinic.id) as db:
        index_key = _active_data_key(db, clinic.id, PURPOSE_INDEX).key
        data_key = _active_data_key(db, clinic.id, PURPOSE_DATA).key

    def token(key: bytes, prefix: str) -> bytes:
        return hmac.new(key, b"carnet.bidx.v1\x00core_patient.name_prefix\x00" + prefix.encode(), sha256).digest()[:16]

    assert token(index_key, "mar") in mine and token(data_key, "mar") not in mine
    assert sha256(b"mar").digest()[:16] not in mine
    # another clinic's search does not see this clinic's patient, whatever the letters
    assert _search(carnet_db, other.id, "mar") == ["MARTIN Julie"]
    with carnet_db.session(clinic_id=other.id) as db:
        assert {
            v.id
            for v in __import__("carnet_core.patients.services", fromlist=["x"]).search_patients(
                db, _owner(other.id), "mar"
            )
        } == {there}


def test_renaming_replaces_the_prefixes_and_erasure_removes_them(carnet_db, clinic):
    from carnet_core.patients.services import erase_patient, get_patient, update_patient

    [pid] = register_patients(carnet_db, clinic.id, [("Martin", "Julie")])
    with carnet_db.session(clinic_id=clinic.id) as db:
        update_patient(db, _owner(clinic.id), get_patient(db, _owner(clinic.id), pid), {"last_name": "Garnier"})
    assert _search(carnet_db, clinic.id, "mar") == []
    assert _search(carnet_db, clinic.id, "garn") == _search(carnet_db, clinic.id, "jul") == ["GARNIER Julie"]
    with carnet_db.session(clinic_id=clinic.id) as db:
        erase_patient(db, _owner(clinic.id), get_patient(db, _owner(clinic.id), pid))
    with carnet_db.session(unscoped=True) as db:
        assert db.exec(select(PatientNamePrefix).where(PatientNamePrefix.patient_id == pid)).all() == []
    assert _search(carnet_db, clinic.id, "garn") == []


def test_patients_registered_before_prefix_search_are_back_filled_once(carnet_db, clinic, make_clinic):
    other = make_clinic("cabinet-autre")
    ids = register_patients(carnet_db, clinic.id, NAMES[:3]) + register_patients(carnet_db, other.id, NAMES[3:4])
    # given patients as core_patients_0005 leaves them: no prefix rows, not indexed
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.delete(PatientNamePrefix))
        db.execute(sa.update(Patient).values(prefixes_indexed=False))
    assert _search(carnet_db, clinic.id, "mar") == []  # only an exact last name still finds them
    assert _search(carnet_db, clinic.id, "martin") == ["MARTIN Julie"]
    # when carnet init's step runs (in small batches: it commits as it goes)
    steps = list(prefixes.backfill_step(None, None, carnet_db))
    assert steps == ["patient search: the name prefixes and birth dates of 4 patients are now indexed"]
    assert _search(carnet_db, clinic.id, "mar") == ["MARCHAND Paul", "MARTIN Julie"]
    assert _search(carnet_db, other.id, "tour") == ["DE LA TOUR Marc"]
    # then a second run has nothing to do
    assert list(prefixes.backfill_step(None, None, carnet_db)) == []
    with carnet_db.session(unscoped=True) as db:
        assert db.exec(select(sa.func.count(sa.distinct(PatientNamePrefix.patient_id)))).one() == len(ids)


def test_the_back_fill_resumes_where_a_killed_run_stopped(carnet_db, clinic):
    register_patients(carnet_db, clinic.id, NAMES)
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.delete(PatientNamePrefix))
        db.execute(sa.update(Patient).values(prefixes_indexed=False))
    # a run that dies after its first batch of 2 has committed that batch
    calls = {"n": 0}
    original = prefixes._index_one

    def dying(db, patient):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("killed")
        return original(db, patient)

    prefixes._index_one = dying
    try:
        with pytest.raises(RuntimeError):
            prefixes.backfill(carnet_db, batch=2)
    finally:
        prefixes._index_one = original
    with carnet_db.session(unscoped=True) as db:
        assert db.exec(select(sa.func.count()).where(Patient.prefixes_indexed.is_(True))).one() == 2
    assert prefixes.backfill(carnet_db, batch=2) == len(NAMES) - 2
    assert _search(carnet_db, clinic.id, "mar") == ["DE LA TOUR Marc", "MARCHAND Paul", "MARTIN Julie"]


def test_the_patient_list_page_finds_by_first_letters(client, clinic, carnet_db, staff, login_as):
    register_patients(carnet_db, clinic.id, NAMES)
    token = login_as(client, staff("secretary"))
    page = client.get("/patients/")
    assert "Début du nom ou du prénom, date de naissance (23/04/2014), e-mail ou téléphone" in page.text
    found = client.post("/patients/search", data={"q": "Mar", "_csrf_token": token})
    assert found.status_code == 200
    assert "MARTIN Julie" in found.text and "MARCHAND Paul" in found.text and "MOREAU" not in found.text


def test_a_new_patient_gets_prefix_rows_without_a_delete_first(carnet_db, clinic):
    # A patient just registered has no rows to replace: no DELETE (nor the trace's read of the
    # rows it would match), yet the rows are written and the patient is found.
    from carnet_core.patients import access

    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(carnet_db.engine, "before_cursor_execute", seen)
    try:
        with carnet_db.session(clinic_id=clinic.id) as db:
            access(db, "system:test").register({"last_name": "Marchand", "first_name": "Paul"})
    finally:
        sa.event.remove(carnet_db.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if "core_patient_name_prefix" in s and not s.startswith("INSERT")]
    assert _search(carnet_db, clinic.id, "Marc") == ["MARCHAND Paul"]


def test_prefix_rows_are_traced_though_written_by_one_core_insert(carnet_db, clinic):
    # The rows are written by a Core INSERT, which the flush's write trace does not see: they are
    # noted by hand. The back-fill writes them with no record of its own to cover them, so the
    # trace must name the patient whose rows were written (a create of the prefix table).
    from carnet_core.audit.models import AuditRecord

    [pid] = register_patients(carnet_db, clinic.id, NAMES[:1])
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.delete(PatientNamePrefix))
        db.execute(sa.update(Patient).values(prefixes_indexed=False))
    inserts = []

    def seen(conn, cursor, statement, *args):
        if statement.startswith("INSERT INTO core_patient_name_prefix"):
            inserts.append(statement)

    sa.event.listen(carnet_db.engine, "before_cursor_execute", seen)
    try:
        assert prefixes.backfill(carnet_db) == 1
    finally:
        sa.event.remove(carnet_db.engine, "before_cursor_execute", seen)
    assert len(inserts) == 1  # the patient's rows in one statement
    with carnet_db.session(clinic_id=clinic.id) as db:
        traced = db.exec(select(AuditRecord).where(AuditRecord.patient_id == pid,
                                                   AuditRecord.resource_type == "core_patient_name_prefix")).all()
    assert [(r.action, r.actor_id) for r in traced] == [("create", "patients.prefixes")]
    assert '"trace":"write"' in traced[0].details
