"""The acts a practitioner declares for a télésoin session, per profession (data/acts.json): those
that need direct contact or equipment that is not with the patient are excluded from télésoin, and a
session for one is refused with the reason."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from carnet_core.plugin_api import N_, FieldError, InvalidInput

EXCLUDED = N_("%(act)s cannot be done remotely (it needs direct contact or equipment with the patient): "
              "plan it at the practice")
UNKNOWN = N_("choose the act of the session in the list of your profession")


@cache
def catalogue() -> dict[str, Any]:
    data = json.loads(files("carnet_telecare").joinpath("data/acts.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def professions() -> dict[str, str]:
    return {code: entry["label"] for code, entry in catalogue().items()}


def acts_of(profession: str) -> list[dict[str, Any]]:
    """A profession's acts; a practitioner who has not said their profession sees every act."""
    if profession in catalogue():
        return list(catalogue()[profession]["acts"])
    return [act for entry in catalogue().values() for act in entry["acts"]]


def find(code: str) -> dict[str, Any] | None:
    return next((a for entry in catalogue().values() for a in entry["acts"] if a["code"] == code), None)


def label(code: str) -> str:
    found = find(code)
    return found["label"] if found else code


def require_remote(profession: str, code: str) -> None:
    """Refuses an act outside the practitioner's profession or excluded from télésoin."""
    act = next((a for a in acts_of(profession) if a["code"] == code), None)
    if act is None:
        raise InvalidInput({"act": FieldError("unknown", UNKNOWN)})
    if not act["remote"]:
        raise InvalidInput({"act": FieldError("excluded", EXCLUDED, act=act["label"])})
