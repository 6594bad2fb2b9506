"""`carnet demo`: the French starter forms published; a minor patient (Léo Garnier) whose two
parents are recorded, with the télésoin form waiting for both signatures; adults who signed the
information notice and SMS reminders (the first one also télésoin) through the real flow (link,
one-time code, typed name), one of whom later withdrew SMS reminders through the withdrawal link.
The demo clinic's owner switched signing links by SMS on (they leave once an SMS provider module
is installed; the settings page says none is) and shows "who looked at my file"."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import Principal, links, patient_access

from carnet_consent import permissions as perm
from carnet_consent.models import Template
from carnet_consent.services import decisions, forms, signing

MINOR = {
    "last_name": "Garnier", "first_name": "Léo", "birth_date": "2017-03-14", "email": None,
    "guardians": [
        {"relation": "mother", "last_name": "Garnier", "first_name": "Camille", "email": "camille.garnier@example.org",
         "phone": "+33611223344"},
        {"relation": "father", "last_name": "Garnier", "first_name": "Thomas", "email": "thomas.garnier@example.org",
         "phone": "+33655667788"},
    ],
}


def fill(clinic: Any, db: Any, context: dict[str, Any]) -> None:
    owner = context.get("owner")
    patients = list(context.get("patients") or [])
    previous = db.info.get("principal")
    db.info["principal"] = previous or "system:demo"
    try:
        forms.ensure_starter(db, getattr(owner, "id", None))
        if owner is None:
            return
        _settings(db, owner.id)
        who = Principal(kind="user", user_id=owner.id, clinic_id=clinic.id, roles=frozenset({"owner", "practitioner"}),
                        permissions=frozenset({perm.VIEW, perm.SEND, perm.MANAGE, "core.patients.view",
                                               "core.patients.view_all", "core.patients.edit"}))
        registry = patient_access(db, who)
        data = {k: v for k, v in MINOR.items() if v is not None}
        if context.get("practitioners"):
            data["practitioner_id"] = context["practitioners"][0].id
        minor_id = registry.register(data)
        _send(db, who, "telesoin", minor_id)
        for n, patient in enumerate(patients[:3]):
            if registry.contact(patient.id, "email") is None or not registry.contact(patient.id, "email").email:
                continue
            # the first one also agreed to remote care: telecare's demo session and messages are theirs
            for key in ("information", "sms_reminders", *(("telesoin",) if n == 0 else ())):
                request = _send(db, who, key, patient.id)
                for signer in signing.signers_of(db, request.id):  # type: ignore[arg-type]
                    _sign(db, signer, request, accept=True)
            if n == 1:
                decisions.withdraw(db, patient.id, "sms_reminders", source="withdrawal_link", actor="system:demo")
    finally:
        db.info["principal"] = previous


def _settings(db: Any, owner_id: int) -> None:
    from sqlmodel import select

    from carnet_consent.models import Setting

    if db.exec(select(Setting)).first() is None:
        db.add(Setting(sms_links=True, updated_by=owner_id))
        db.flush()


def _send(db: Any, who: Any, key: str, patient_id: int) -> Any:
    from sqlmodel import select

    template = db.exec(select(Template).where(Template.key == key)).one()
    return signing.send(db, who, template.id, patient_id)


def _sign(db: Any, signer: Any, request: Any, accept: bool) -> None:
    """Sign as the demo signer would: their link, a code, each clause answered, their name typed."""
    issued = links.issue(db, purpose=signing.SIGN, subject_type="consent_signer", subject_id=signer.id,
                         patient_id=signer.patient_id, expires_in=signing.SIGN_VALID, code_required=True)
    signer.link_id = issued.link.id
    db.add(signer)
    code = links.issue_code(db, issued.link)
    version = forms.get_version(db, request.version_id)
    answers = {f"clause_{c.key}": "accept" if accept else "refuse" for c in forms.clauses_of(version.clauses)}
    signing.sign(db, issued.link, version_id=version.id, answers_form=answers,  # type: ignore[arg-type]
                 full_name=signing.signer_name(db, signer) or "Patient", code=code, address="192.0.2.10",
                 user_agent="Mozilla/5.0 (démo)")
