"""Checking and normalising patient input: names, e-mail, phone (E.164), dates, INS number."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from carnet_core.db.base import utcnow
from carnet_core.errors import FieldError, InvalidInput
from carnet_core.i18n import N_
from carnet_core.inputs import id_in_range, text_problem
from carnet_core.patients.models import IDENTITY_STATUSES, RELATIONS, SEXES

MAX_NAME = 100
MAX_TEXT = 500
MAX_NOTES = 20_000
_INS_RE = re.compile(r"^[12378]\d{2}(0[1-9]|1[0-2]|[2-9]\d)(\d{2}|2A|2B)\d{6}\d{2}$")
_PLACE_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


class PatientInvalid(InvalidInput):
    """Patient input rejected; `errors` maps each field to what is wrong with it."""


def _required() -> FieldError:
    return FieldError("required", N_("This field is required."))


def _unknown() -> FieldError:
    return FieldError("unknown_field", N_("Unknown field."))


def _choice(choices: tuple[str, ...]) -> FieldError:
    return FieldError("invalid_choice", N_("Must be one of: %(choices)s."), choices=", ".join(choices))


def normalise_phone(value: str, region: str = "FR") -> str:
    """E.164 form of a French or international number; ValueError when it is not a valid number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise FieldError(
            "invalid_phone", N_("Not a phone number: write it like 06 12 34 56 78 or +44 20 7946 0958.")
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError("invalid_phone", N_("Not a valid phone number: check the digits and the country code."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise FieldError("invalid_email", N_("Not a valid e-mail address (name@example.fr).")) from None


def ins_key_ok(number: str) -> bool:
    body, key = number[:13], int(number[13:])
    digits = body.replace("2A", "19").replace("2B", "18")
    return 97 - int(digits) % 97 == key


def _text(value: Any, limit: int, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise _required()
        return None
    if not isinstance(value, str):
        raise FieldError("not_text", N_("Must be text."))
    text = " ".join(value.split()) if limit <= MAX_NAME else value.strip()
    if not text:
        if required:
            raise _required()
        return None
    if len(text) > limit:
        raise FieldError("too_long", N_("At most %(limit)s characters."), limit=limit)
    problem = text_problem(text)
    if problem is not None:
        raise FieldError(problem.code, problem.message)
    return text


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise FieldError("invalid_date", N_("Not a date (YYYY-MM-DD).")) from None
    if not isinstance(value, date):
        raise FieldError("invalid_date", N_("Not a date (YYYY-MM-DD)."))
    if value > utcnow().date():
        raise FieldError("future_date", N_("This date is in the future."))
    if value.year < 1900:
        raise FieldError("date_too_old", N_("This date is before 1900."))
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
            raise _choice(SEXES)
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
            raise FieldError("invalid_ins", N_("Not a valid INS number (15 characters, key included)."))
        return text
    if name == "birth_place_code":
        text = _text(value, 5)
        if text is None:
            return None
        text = text.upper()
        if not _PLACE_RE.match(text):
            raise FieldError("invalid_place_code", N_("An INSEE code of 5 characters (e.g. 75056, 2A004)."))
        return text
    if name == "identity_status":
        if value not in IDENTITY_STATUSES:
            raise _choice(IDENTITY_STATUSES)
        return value
    if name == "archived":
        if not isinstance(value, bool):
            raise FieldError("not_boolean", N_("Must be true or false."))
        return value
    if name == "practitioner_id":
        if value is None or value == "":
            return None
        try:
            found = int(value)
        except (TypeError, ValueError):
            raise FieldError("invalid_user_id", N_("Must be a user id.")) from None
        if not id_in_range(found):
            raise FieldError("invalid_user_id", N_("Must be a user id."))
        return found
    raise _unknown()


PATIENT_INPUT = (
    "last_name", "first_name", "birth_date", "sex", "email", "phone", "address", "referring_physician",
    "notes", "ins_number", "birth_last_name", "birth_first_names", "birth_place_code", "identity_status",
    "archived", "practitioner_id",
)
REQUIRED = ("last_name", "first_name")


def clean_patient(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    """Normalised values of the fields given; raises PatientInvalid listing every bad field."""
    errors: dict[str, FieldError] = {}
    cleaned: dict[str, Any] = {}
    for name, value in data.items():
        if name == "guardians":
            continue
        if name not in PATIENT_INPUT:
            errors[name] = _unknown()
            continue
        try:
            cleaned[name] = _clean_field(name, value)
        except FieldError as exc:
            errors[name] = exc
    for name in REQUIRED:
        if name in errors:
            continue
        if (not partial or name in data) and not cleaned.get(name):
            errors[name] = _required()
    if "guardians" in data and data["guardians"] is not None:
        guardians = data["guardians"]
        if not isinstance(guardians, list) or len(guardians) > 4:
            errors["guardians"] = FieldError(
                "too_many_guardians", N_("A list of at most 4 holders of parental authority.")
            )
        else:
            cleaned["guardians"] = [
                _clean_guardian(i, g, errors) for i, g in enumerate(guardians)
            ]
            if sum(1 for g in cleaned["guardians"] if g.get("main_contact")) > 1:
                errors["guardians"] = FieldError(
                    "several_main_contacts", N_("Only one holder of parental authority can be the main contact.")
                )
    if errors:
        raise PatientInvalid(errors)
    return cleaned


def check_patient_input(data: dict[str, Any]) -> dict[str, Any]:
    """What the registry would store for a new patient with `data`, without writing anything:
    public forms call it at intake so that a value the registry refuses later (when an offer is
    accepted, a booking confirmed) is refused while the person can still fix it. Raises
    PatientInvalid naming every bad field, exactly as `create_patient` would."""
    return clean_patient(data, partial=False)


def _clean_guardian(index: int, data: Any, errors: dict[str, FieldError]) -> dict[str, Any]:
    prefix = f"guardians[{index}]"
    if not isinstance(data, dict):
        errors[prefix] = FieldError("not_an_object", N_("Must be an object."))
        return {}
    out: dict[str, Any] = {}
    for name, value in data.items():
        try:
            if name == "relation":
                if value not in RELATIONS:
                    raise _choice(RELATIONS)
                out[name] = value
            elif name in ("last_name", "first_name", "email", "phone", "address"):
                out[name] = _clean_field(name, value)
            elif name in ("may_receive_messages", "main_contact"):
                if not isinstance(value, bool):
                    raise FieldError("not_boolean", N_("Must be true or false."))
                out[name] = value
            else:
                raise _unknown()
        except FieldError as exc:
            errors[f"{prefix}.{name}"] = exc
    for name in ("relation", "last_name", "first_name"):
        if not out.get(name) and f"{prefix}.{name}" not in errors:
            errors[f"{prefix}.{name}"] = _required()
    return out
