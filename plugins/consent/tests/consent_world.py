"""Consent test world: a clinic with an owner-practitioner, a practitioner and a secretary (real
accounts for the pages), the French starter forms published, an adult patient with an e-mail
address and a minor whose two parents are recorded in core's registry (names, e-mails). Helpers
read the mail folder the way a signer would."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from carnet_core.plugin_api import Principal, patient_access
from carnet_core.testing import csrf_token, wait_for_jobs

from carnet_consent.models import Template
from carnet_consent.services import forms, signing

CANARY = "Bégaiement-Canari-5521"  # health text in a patient's notes and in a form: never in a message


@dataclass
class World:
    clinic: Any
    owner: Any
    practitioner: Any
    secretary: Any
    adult: int
    minor: int
    forms: dict[str, int]


def owner_principal(world_clinic_id: int, owner_id: int) -> Principal:
    return Principal(kind="user", user_id=owner_id, clinic_id=world_clinic_id,
                     roles=frozenset({"owner", "practitioner"}),
                     permissions=frozenset({"consent.view", "consent.send", "consent.manage", "core.patients.view",
                                            "core.patients.view_all", "core.patients.edit",
                                            "core.patients.clinical"}))


def make_world(carnet_db, make_clinic, staff, slug="cabinet-consent", plugins=None) -> World:
    clinic = make_clinic(slug, plugins=plugins)
    owner = staff(("owner", "practitioner"), clinic=clinic)
    practitioner = staff("practitioner", clinic=clinic)
    secretary = staff("secretary", clinic=clinic)
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = f"user:{owner.id}"
        who = owner_principal(clinic.id, owner.id)
        forms.ensure_starter(db, owner.id)
        registry = patient_access(db, who)
        adult = registry.register({"last_name": "Lefèvre", "first_name": "Élodie", "email": "elodie@example.org",
                                   "phone": "+33612345678", "notes": CANARY, "practitioner_id": owner.id})
        minor = registry.register({
            "last_name": "Garnier", "first_name": "Léo", "birth_date": "2017-03-14", "practitioner_id": owner.id,
            "notes": CANARY,
            "guardians": [
                {"relation": "mother", "last_name": "Garnier", "first_name": "Camille",
                 "email": "camille@example.org", "phone": "+33611223344"},
                {"relation": "father", "last_name": "Garnier", "first_name": "Thomas",
                 "email": "thomas@example.org"},
            ],
        })
        keys = {t.key: t.id for t in db.exec(select(Template))}
    return World(clinic, owner, practitioner, secretary, adult, minor, keys)


@pytest.fixture
def world(carnet_db, make_clinic, staff) -> World:
    return make_world(carnet_db, make_clinic, staff)


def mails(settings: Any) -> list[Any]:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(Path(settings.mail_dir).glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)]


def mail_text(msg: Any) -> str:
    return "\n".join(part.get_content() for part in msg.walk() if part.get_content_maintype() == "text")


def mails_to(settings: Any, address: str) -> list[Any]:
    return [m for m in mails(settings) if m["To"] == address]


def link_in(settings: Any, address: str, kind: str) -> str:
    """The path of the last `/s/` (sign) or `/w/` (withdraw) link e-mailed to `address`."""
    for msg in reversed(mails_to(settings, address)):
        found = re.search(rf"{re.escape(settings.base_url)}(/p/\S+/consent/{kind}/\S+)", mail_text(msg))
        if found:
            return found.group(1)
    raise AssertionError(f"no /{kind}/ link e-mailed to {address}")


def code_in(settings: Any, address: str) -> str:
    for msg in reversed(mails_to(settings, address)):
        found = re.search(r"^\s+(\d{6})\s*$", mail_text(msg), re.M)
        if found:
            return found.group(1)
    raise AssertionError(f"no code e-mailed to {address}")


def sms(settings: Any) -> list[tuple[str, str]]:
    """(number, body) of every SMS written to the SMS folder, oldest first."""
    out = []
    for p in sorted(Path(settings.sms_dir).glob("*.sms"), key=lambda p: p.stat().st_mtime_ns):
        head, _, body = p.read_text(encoding="utf-8").partition("\n\n")
        out.append((head.removeprefix("To: ").strip(), body))
    return out


def sms_to(settings: Any, number: str) -> list[str]:
    return [body for to, body in sms(settings) if to == number]


def sms_link(settings: Any, number: str, kind: str = "s") -> str:
    """The path of the last `/s/` (sign) or `/w/` (withdraw) link sent by SMS to `number`."""
    for body in reversed(sms_to(settings, number)):
        found = re.search(rf"{re.escape(settings.base_url)}(/p/\S+/consent/{kind}/\S+)", body)
        if found:
            return found.group(1)
    raise AssertionError(f"no /{kind}/ link sent by SMS to {number}")


def choose_settings(carnet_db, world, **choices: Any) -> None:
    """The owner's consent settings (the defaults for what is not given)."""
    from carnet_consent.services import settings as consent_settings

    values = {"accesses_view": True, "sms_links": False, "reminder_every_days": 3, "reminder_count": 2, **choices}
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        consent_settings.update(db, owner_principal(world.clinic.id, world.owner.id),
                                consent_settings.Choices(**values))


def send_form(carnet_db, world, key: str, patient_id: int) -> int:
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        request = signing.send(db, owner_principal(world.clinic.id, world.owner.id), world.forms[key], patient_id)
        return request.id


def sign_through(client, jobs, path: str, code_of: Any, answers: dict[str, str], name: str, says: str = "Je signe"):
    """Open a signing link, ask for a code (the page then `says` where it went), read it with
    `code_of()` once the jobs ran, type it and sign, as a signer would."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    version_id = re.search(r'name="version_id" value="(\d+)"', page.text).group(1)
    token = csrf_token(client, path)
    asked = client.post(f"{path}/code", data={"_csrf_token": token, "version_id": version_id, "full_name": name,
                                              **answers})
    assert asked.status_code == 200 and "Je signe" in asked.text and says in asked.text, asked.text
    wait_for_jobs(jobs)
    return client.post(f"{path}/sign", data={"_csrf_token": token, "version_id": version_id, "full_name": name,
                                             "code": code_of(), **answers})


def sign_through_mail(client, settings, jobs, address: str, answers: dict[str, str], name: str):
    """Sign through the link e-mailed to `address`, with the code e-mailed there."""
    return sign_through(client, jobs, link_in(settings, address, "s"), lambda: code_in(settings, address), answers,
                        name)


def sign_through_sms(client, settings, jobs, number: str, answers: dict[str, str], name: str):
    """Sign through the link sent by SMS to `number`, with the code that came by SMS there."""
    def code() -> str:
        return re.search(r"\b(\d{6})\b", sms_to(settings, number)[-1]).group(1)

    return sign_through(client, jobs, sms_link(settings, number), code, answers, name, says="par SMS")
