"""Helpers for the patient-facing tests: patients with contacts, reading the mail and SMS folders."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from carnet_core.plugin_api import Principal
from carnet_core.testing import SmsGateway  # noqa: F401  (re-exported for the tests that install it)

CANARY_CARE = "Rééducation-Canari-7731"  # an appointment type name that must never leave the clinic
CANARY_NOTES = "NoteCanari-Dysphagie-4412"


def make_patient(carnet_db: Any, world: Any, email_addr: str = "lea.dupont@example.org",
                 phone: str = "+33612345678", first: str = "Léa", last: str = "Dupont") -> int:
    from carnet_core.plugin_api import patient_access

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        principal = Principal(kind="user", user_id=world.practitioner.id, clinic_id=world.clinic.id,
                              roles=frozenset({"owner", "practitioner"}), permissions=frozenset())
        return patient_access(db, principal).register({"last_name": last, "first_name": first, "email": email_addr,
                                                       "phone": phone})


def next_weekday_at(weekday: int, hour: int, minute: int = 0, weeks: int = 1, tz: str = "Europe/Paris") -> datetime:
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo(tz))
    days = (weekday - now.weekday()) % 7 + 7 * weeks
    local = (now + timedelta(days=days)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return local.astimezone(UTC)


def mails(settings: Any) -> list[email.message.EmailMessage]:
    folder = Path(settings.mail_dir)
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.glob("*.eml"))]


def mail_text(msg: Any) -> str:
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


def sms_files(settings: Any) -> list[str]:
    return [p.read_text() for p in sorted(Path(settings.sms_dir).glob("*.sms"))]


def assert_no_health_data(settings: Any, *canaries: str) -> None:
    everything = [mail_text(m) + str(m["Subject"]) for m in mails(settings)] + sms_files(settings)
    everything += [p.read_bytes().decode("utf-8", "replace") for p in Path(settings.mail_dir).glob("*.eml")]
    for text in everything:
        for canary in (CANARY_CARE, CANARY_NOTES, *canaries):
            assert canary not in text, f"{canary!r} found in an outgoing message"
