"""`links.find_holder`: who a public "send me a personal link" form stands for."""

import pytest
from sqlmodel import select

from carnet_core import links
from carnet_core.audit.models import AuditRecord
from carnet_core.errors import InvalidInput
from carnet_core.links.models import LinkAttempt
from carnet_core.patients.models import PatientGuardian
from carnet_core.patients.services import create_patient
from carnet_core.web.principal import Principal

VISITOR = "203.0.113.7"


@pytest.fixture
def family(carnet_db, clinic):
    owner = Principal(kind="user", clinic_id=clinic.id, roles=["owner"], user_id=None)
    with carnet_db.session(clinic_id=clinic.id) as db:
        child = create_patient(db, owner, {
            "last_name": "Lefèvre", "first_name": "Léa", "birth_date": "2018-04-23",
            "email": "famille.lefevre@example.fr",
            "guardians": [{"relation": "mother", "last_name": "Lefèvre", "first_name": "Anne",
                           "email": "anne.lefevre@example.fr"}],
        })
        guardian = db.exec(select(PatientGuardian).where(PatientGuardian.patient_id == child.id)).one()
        return child.id, guardian.id


def _find(carnet_db, clinic, **values):
    with carnet_db.session(clinic_id=clinic.id) as db:
        return links.find_holder(db, values, VISITOR, form_actor="test-form")


def _misses(carnet_db, clinic):
    with carnet_db.session(clinic_id=clinic.id) as db:
        return len(db.exec(select(LinkAttempt).where(LinkAttempt.scope == "address")).all())


def test_the_patient_s_own_address_and_a_guardian_s_are_found_and_the_read_is_audited_to_the_form(
        carnet_db, clinic, family):
    child, guardian = family
    own = _find(carnet_db, clinic, last_name="  lefèvre ", email="famille.lefevre@example.fr")
    parent = _find(carnet_db, clinic, last_name="Lefèvre", email="Anne.Lefevre@example.fr")
    assert own == links.Holder(child, 0, "famille.lefevre@example.fr") and own.by == "patient"
    assert (parent.patient_id, parent.guardian_id, parent.by) == (child, guardian, "guardian")
    with carnet_db.session(unscoped=True) as db:
        actors = {r.actor_id for r in db.exec(select(AuditRecord).where(AuditRecord.patient_id == child))}
    assert "test-form" in actors
    assert _misses(carnet_db, clinic) == 0


def test_a_miss_is_none_and_counts_against_the_visitor(carnet_db, clinic, family):
    assert _find(carnet_db, clinic, last_name="Martin", email="famille.lefevre@example.fr") is None
    assert _find(carnet_db, clinic, last_name="Lefèvre", email="inconnu@example.fr") is None
    assert _misses(carnet_db, clinic) == 2


def test_bad_fields_are_all_reported_and_nothing_is_counted(carnet_db, clinic, family):
    with pytest.raises(InvalidInput) as refused:
        _find(carnet_db, clinic, last_name=" ", email="pas-une-adresse")
    assert set(refused.value.errors) == {"last_name", "email"}
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.exec(select(LinkAttempt)).all() == []


def test_a_visitor_past_the_limit_of_misses_is_throttled(carnet_db, clinic, family, monkeypatch):
    from carnet_core.links import services

    monkeypatch.setattr(services, "MAX_FAILED_PER_ADDRESS", 2)
    for _ in range(2):
        assert _find(carnet_db, clinic, last_name="Martin", email="x@example.fr") is None
    with pytest.raises(links.Throttled):
        _find(carnet_db, clinic, last_name="Lefèvre", email="famille.lefevre@example.fr")
