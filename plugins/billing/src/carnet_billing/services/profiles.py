"""Billing profiles: each practitioner bills in their own name, with the mentions a note must carry.

Mandatory for issuing: name, profession, professional address, an RPPS or ADELI number, SIRET.
Optional: conventionné (default yes), tariff zone (metropolitan by default), footer. The profile
is copied onto each note when it is issued (`Note.issuer`): changing it later changes no issued
note.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from carnet_billing.models import GROUPINGS, METROPOLE, PER_SESSION, ZONES, BillingProfile
from carnet_billing.services.errors import BillingInvalid
from carnet_core.plugin_api import N_, CarnetSession, FieldError, text_problem, utcnow

LIMITS = {"name": 120, "profession": 120, "address": 300, "rpps": 11, "adeli": 9, "siret": 14, "footer": 500}
# Mandatory mentions, named in French in the refusal (they are the legal mentions' names).
MENTIONS = {
    "name": "le nom du praticien",
    "profession": "la profession",
    "address": "l'adresse professionnelle",
    "identifier": "le numéro RPPS ou ADELI",
    "siret": "le numéro SIRET",
}


def get(db: CarnetSession, practitioner_id: int) -> BillingProfile | None:
    return db.exec(select(BillingProfile).where(BillingProfile.practitioner_id == practitioner_id)).first()


def save(db: CarnetSession, practitioner_id: int, data: dict[str, Any]) -> BillingProfile:
    """Create or update the practitioner's profile from `data` (strings, `conventionne` a bool);
    every field is checked first: one refusal names each bad field, nothing is written."""
    errors: dict[str, FieldError] = {}
    values: dict[str, Any] = {}
    for field, limit in LIMITS.items():
        raw = str(data.get(field) or "").strip()
        if field in ("rpps", "adeli", "siret"):
            raw = raw.replace(" ", "")
        if len(raw) > limit:
            errors[field] = FieldError("too_long", N_("%(limit)s characters at most."), limit=limit)
            continue
        problem = text_problem(raw) if raw else None
        if problem:
            errors[field] = FieldError(problem.code, problem.message)
            continue
        values[field] = raw
    checks = (("rpps", 11, N_("An RPPS number has 11 digits.")), ("siret", 14, N_("A SIRET number has 14 digits.")))
    for field, length, message in checks:
        if values.get(field) and (len(values[field]) != length or not values[field].isdigit()):
            errors[field] = FieldError("invalid", message)
    adeli = values.get("adeli", "")
    if adeli and (len(adeli) != 9 or not adeli.isascii() or not adeli.isalnum()):
        errors["adeli"] = FieldError("invalid", N_("An ADELI number has 9 characters."))
    zone = str(data.get("zone") or METROPOLE)
    if zone not in ZONES:
        errors["zone"] = FieldError("invalid_choice", N_("Choose a zone from the list."))
    grouping = str(data.get("session_grouping") or PER_SESSION)
    if grouping not in GROUPINGS:
        errors["session_grouping"] = FieldError("invalid_choice", N_("Choose how sessions are grouped from the list."))
    if errors:
        raise BillingInvalid(errors)
    profile = get(db, practitioner_id) or BillingProfile(practitioner_id=practitioner_id)
    for field, value in values.items():
        setattr(profile, field, value)
    profile.zone = zone
    profile.session_grouping = grouping
    profile.conventionne = bool(data.get("conventionne", True))
    profile.updated_at = utcnow()
    db.add(profile)
    db.flush()
    return profile


def missing_mentions(profile: BillingProfile | None) -> list[str]:
    """The mandatory mentions the profile lacks (keys of MENTIONS), in print order."""
    if profile is None:
        return list(MENTIONS)
    missing = [f for f in ("name", "profession", "address") if not getattr(profile, f).strip()]
    if not (profile.rpps or profile.adeli):
        missing.append("identifier")
    if not profile.siret:
        missing.append("siret")
    return missing


def as_issuer(profile: BillingProfile) -> str:
    """The mentions printed on an issued note (JSON), frozen with it."""
    return json.dumps({
        "name": profile.name, "profession": profile.profession, "address": profile.address,
        "rpps": profile.rpps, "adeli": profile.adeli, "siret": profile.siret,
        "conventionne": profile.conventionne, "zone": profile.zone, "footer": profile.footer,
    }, ensure_ascii=False, sort_keys=True)
