"""Checking and normalising patient input: names, e-mail, phone (E.164), dates, INS number."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from carnet_core.db.base import utcnow
from carnet_core.patients.models import IDENTITY_STATUSES, RELATIONS, SEXES

MAX_NAME = 100
MAX_TEXT = 500
MAX_NOTES = 20_000
_INS_RE = re.compile(r"^[12378]\d{2}(0[1-9]|1[0-2]|[2-9]\d)(\d{2}|2A|2B)\d{6}\d{2}$")
_PLACE_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


class PatientInvalid(ValueError):
    """Input rejected; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def normalise_phone(value: str, region: str = "FR") -> str:
    """E.164 form of a French or international number; ValueError when it is not a valid number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number; write it like 06 12 34 56 78 or +44 20 7946 0958") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number; check the digits and the country code")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError("not a valid e-mail address (name@example.fr)") from None


def ins_key_ok(number: str) -> bool:
    body, key = number[:13], int(number[13:])
    digits = body.replace("2A", "19").replace("2B", "18")
    return 97 - int(digits) % 97 == key


def _text(value: Any, limit: int, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise ValueError("required")
        return None
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = " ".join(value.split()) if limit <= MAX_NAME else value.strip()
    if "\x00" in text:
        raise ValueError("contains a forbidden character")
    if not text:
        if required:
            raise ValueError("required")
        return None
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    return text


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("not a date (YYYY-MM-DD)") from None
    if not isinstance(value, date):
        raise ValueError("not a date (YYYY-MM-DD)")
    if value > utcnow().date():
        raise ValueError("is in the future")
    if value.year < 1900:
        raise ValueError("is before 1900")
    return value


def _clean_field(name: str, value: Any) -> Any:
    if name in ("last_name", "first_name", "birth_last_name", "birth_first_names", "referring_physician"):
        return _text(value, MAX_NAME if name != "referring_physician" else MAX_TEXT)
    if name == "address":
        return _text(value, MAX_TEXT)
    if name == "notes":
        return _text(value, MAX_NOTES)
    if name == "birth_date":
        found = _date(value)
        return found.isoformat() if found else None
    if name == "sex":
        if value in (None, ""):
            return None
        if value not in SEXES:
            raise ValueError(f"one of {', '.join(SEXES)}")
        return value
    if name == "email":
        text = _text(value, 254)
        return normalise_email(text) if text else None
    if name == "phone":
        text = _text(value, 40)
        return normalise_phone(text) if text else None
    if name == "ins_number":
        text = _text(value, 20)
        if text is None:
            return None
        text = text.replace(" ", "").upper()
        if not _INS_RE.match(text) or not ins_key_ok(text):
            raise ValueError("not a valid INS number (15 characters, key included)")
        return text
    if name == "birth_place_code":
        text = _text(value, 5)
        if text is None:
            return None
        text = text.upper()
        if not _PLACE_RE.match(text):
            raise ValueError("an INSEE code of 5 characters (e.g. 75056, 2A004)")
        return text
    if name == "identity_status":
        if value not in IDENTITY_STATUSES:
            raise ValueError(f"one of {', '.join(IDENTITY_STATUSES)}")
        return value
    if name == "archived":
        if not isinstance(value, bool):
            raise ValueError("true or false")
        return value
    if name == "practitioner_id":
        if value is None or value == "":
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError("a user id") from None
    raise ValueError("unknown field")


PATIENT_INPUT = (
    "last_name", "first_name", "birth_date", "sex", "email", "phone", "address", "referring_physician",
    "notes", "ins_number", "birth_last_name", "birth_first_names", "birth_place_code", "identity_status",
    "archived", "practitioner_id",
)
REQUIRED = ("last_name", "first_name")


def clean_patient(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    """Normalised values of the fields given; raises PatientInvalid listing every bad field."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for name, value in data.items():
        if name == "guardians":
            continue
        if name not in PATIENT_INPUT:
            errors[name] = "unknown field"
            continue
        try:
            cleaned[name] = _clean_field(name, value)
        except ValueError as exc:
            errors[name] = str(exc)
    for name in REQUIRED:
        if name in errors:
            continue
        if (not partial or name in data) and not cleaned.get(name):
            errors[name] = "required"
    if "guardians" in data and data["guardians"] is not None:
        guardians = data["guardians"]
        if not isinstance(guardians, list) or len(guardians) > 4:
            errors["guardians"] = "a list of at most 4 holders of parental authority"
        else:
            cleaned["guardians"] = [
                _clean_guardian(i, g, errors) for i, g in enumerate(guardians)
            ]
    if errors:
        raise PatientInvalid(errors)
    return cleaned


def _clean_guardian(index: int, data: Any, errors: dict[str, str]) -> dict[str, Any]:
    prefix = f"guardians[{index}]"
    if not isinstance(data, dict):
        errors[prefix] = "an object"
        return {}
    out: dict[str, Any] = {}
    for name, value in data.items():
        try:
            if name == "relation":
                if value not in RELATIONS:
                    raise ValueError(f"one of {', '.join(RELATIONS)}")
                out[name] = value
            elif name in ("last_name", "first_name", "email", "phone", "address"):
                out[name] = _clean_field(name, value)
            else:
                raise ValueError("unknown field")
        except ValueError as exc:
            errors[f"{prefix}.{name}"] = str(exc)
    for name in ("relation", "last_name", "first_name"):
        if not out.get(name) and f"{prefix}.{name}" not in errors:
            errors[f"{prefix}.{name}"] = "required"
    return out
