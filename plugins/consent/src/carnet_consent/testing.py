"""Helpers for other plugins' test suites (telecare, scheduling): give or withdraw a patient's
consent through the real flow, and the contract every module that asks `purpose_allowed` relies
on. Import only in tests:

    from carnet_consent.testing import check_purpose_contract
    check_purpose_contract(plugin_host, carnet_db, clinic.id, owner.id, patient_id, "telesoin")
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import Principal, links, purpose_allowed

from carnet_consent import permissions as perm
from carnet_consent.models import Template
from carnet_consent.services import decisions, forms, signing


def _owner(clinic_id: int, user_id: int) -> Principal:
    return Principal(kind="user", user_id=user_id, clinic_id=clinic_id, roles=frozenset({"owner"}),
                     permissions=frozenset({perm.VIEW, perm.SEND, perm.MANAGE, "core.patients.view",
                                            "core.patients.view_all"}))


def sign_form(db: Any, clinic_id: int, user_id: int, patient_id: int, key: str, accept: bool = True) -> int:
    """Send the starter form `key` to the patient and have every signer sign it (their own link,
    a one-time code, each clause answered, their name typed). Returns the request id."""
    forms.ensure_starter(db, user_id)
    template = db.exec(select(Template).where(Template.key == key)).one()
    request = signing.send(db, _owner(clinic_id, user_id), template.id, patient_id)  # type: ignore[arg-type]
    version = forms.get_version(db, request.version_id)
    for signer in signing.signers_of(db, request.id):  # type: ignore[arg-type]
        issued = links.issue(db, purpose=signing.SIGN, subject_type="consent_signer", subject_id=signer.id,  # type: ignore[arg-type]
                             patient_id=patient_id, expires_in=signing.SIGN_VALID, code_required=True)
        signer.link_id = issued.link.id
        db.add(signer)
        code = links.issue_code(db, issued.link)
        answers = {f"clause_{c.key}": "accept" if accept else "refuse" for c in forms.clauses_of(version.clauses)}
        signing.sign(db, issued.link, version_id=version.id, answers_form=answers,  # type: ignore[arg-type]
                     full_name="Signataire de test", code=code, address="192.0.2.1", user_agent="tests")
    return request.id  # type: ignore[return-value]


def check_purpose_contract(host: Any, carnet_db: Any, clinic_id: int, user_id: int, patient_id: int,
                           purpose: str, form_key: str | None = None) -> None:
    """The contract of `purpose_allowed` in a clinic that enabled consent, for a purpose that
    needs a signed agreement (telesoin, recording): no before any signature; yes once signed;
    no at once after a withdrawal (the same transaction and every later one)."""
    with carnet_db.session(clinic_id=clinic_id) as db:
        db.info["principal"] = f"user:{user_id}"
        assert purpose_allowed(host, db, patient_id, purpose) is False, "no agreement yet: must answer no"
        sign_form(db, clinic_id, user_id, patient_id, form_key or purpose)
        assert purpose_allowed(host, db, patient_id, purpose) is True, "signed: must answer yes"
    with carnet_db.session(clinic_id=clinic_id) as db:
        db.info["principal"] = f"user:{user_id}"
        decisions.withdraw(db, patient_id, purpose, source="staff", actor=f"user:{user_id}")
        assert purpose_allowed(host, db, patient_id, purpose) is False, "withdrawn: must answer no at once"
    with carnet_db.session(clinic_id=clinic_id) as db:
        assert purpose_allowed(host, db, patient_id, purpose) is False, "withdrawn: no in later transactions"
