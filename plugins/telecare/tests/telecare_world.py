"""Telecare test world: a clinic (owner-practitioner, practitioner, secretary) with
scheduling and telecare enabled (consent too when asked), two adults with an e-mail address who
had an honoured session last month (in care), one who never came (no care); helpers read the mail
folder the way a patient would."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from carnet_core.plugin_api import Principal, patient_access, utcnow

CANARY = "Dysphagie-Canari-7731"  # health text in a message: never in a notification, log or database file


@dataclass
class World:
    clinic: Any
    owner: Any
    practitioner: Any
    secretary: Any
    patient: int
    other: int
    stranger: int


def registrar(clinic_id: int) -> Principal:
    return Principal(kind="user", user_id=None, clinic_id=clinic_id, roles=frozenset({"owner"}))


def owner_principal(clinic_id: int, user_id: int) -> Principal:
    return Principal(kind="user", user_id=user_id, clinic_id=clinic_id, roles=frozenset({"owner", "practitioner"}),
                     permissions=frozenset({"telecare.view", "telecare.write", "telecare.clinical",
                                            "core.patients.view", "core.patients.view_all",
                                            "core.patients.clinical"}))


def honoured_session(db: Any, practitioner_id: int, patient_id: int, days_ago: int = 30) -> None:
    """A real honoured appointment in scheduling (what `last_care_dates` reports)."""
    from carnet_scheduling.services import appointments, setup
    from carnet_scheduling.services.booking_rules import Overrides

    kinds = setup.list_types(db)
    kind = kinds[0] if kinds else setup.create_appointment_type(db, "Séance", 30)
    start = (utcnow() - timedelta(days=days_ago)).replace(hour=9, minute=0, second=0, microsecond=0)
    appt = appointments.book(db, practitioner_id=practitioner_id, patient_id=patient_id,
                             appointment_type_id=kind.id, starts_at=start,
                             overrides=Overrides(past=True, outside_hours=True))
    appointments.mark(db, appt, "honoured")


def make_world(carnet_db, make_clinic, staff, slug="cabinet-telecare",
               plugins=("scheduling", "telecare")) -> World:
    clinic = make_clinic(slug, plugins=list(plugins))
    owner = staff(("owner", "practitioner"), clinic=clinic)
    practitioner = staff("practitioner", clinic=clinic)
    secretary = staff("secretary", clinic=clinic)
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        registry = patient_access(db, registrar(clinic.id))
        ids = [registry.register({"last_name": last, "first_name": first, "email": mail,
                                  "practitioner_id": owner.id})
               for last, first, mail in (("Lefèvre", "Élodie", "elodie@example.org"),
                                         ("Moreau", "Hugo", "hugo@example.org"),
                                         ("Inconnu", "Paul", "paul@example.org"))]
        honoured_session(db, owner.id, ids[0])
        honoured_session(db, owner.id, ids[1], days_ago=31)
        honoured_session(db, owner.id, ids[2], days_ago=500)  # long ago: no longer in care
    return World(clinic, owner, practitioner, secretary, *ids)


def mails(settings: Any) -> list[Any]:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(Path(settings.mail_dir).glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)]


def mail_text(msg: Any) -> str:
    return "\n".join(part.get_content() for part in msg.walk() if part.get_content_maintype() == "text")


def mails_to(settings: Any, address: str) -> list[Any]:
    return [m for m in mails(settings) if m["To"] == address]


def link_in(settings: Any, address: str) -> str:
    for msg in reversed(mails_to(settings, address)):
        found = re.search(rf"{re.escape(settings.base_url)}(/p/\S+/telecare/m/\S+)", mail_text(msg))
        if found:
            return found.group(1)
    raise AssertionError(f"no conversation link e-mailed to {address}")


def code_in(settings: Any, address: str) -> str:
    for msg in reversed(mails_to(settings, address)):
        found = re.search(r"^\s+(\d{6})\s*$", mail_text(msg), re.M)
        if found:
            return found.group(1)
    raise AssertionError(f"no code e-mailed to {address}")
