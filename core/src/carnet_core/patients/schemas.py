"""JSON shapes of the patient API. Unknown fields (a clinic id, an id) are refused."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from carnet_core.inputs import Id

Name = Annotated[str, Meta(min_length=1, max_length=100)]
Text = Annotated[str, Meta(max_length=500)]
Email = Annotated[str, Meta(max_length=254)]
Phone = Annotated[str, Meta(max_length=40)]
Sex = Literal["F", "M", "U"]
Relation = Literal["mother", "father", "guardian", "other"]
IdentityStatus = Literal["provisional", "retrieved", "validated", "qualified"]


class GuardianIn(msgspec.Struct, forbid_unknown_fields=True):
    relation: Relation
    last_name: Name
    first_name: Name
    email: Email | None = None
    phone: Phone | None = None
    address: Text | None = None
    may_receive_messages: bool = True
    main_contact: bool = False


class PatientCreate(msgspec.Struct, forbid_unknown_fields=True):
    last_name: Name
    first_name: Name
    birth_date: date | None = None
    sex: Sex | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Text | None = None
    referring_physician: Text | None = None
    notes: Annotated[str, Meta(max_length=20_000)] | None = None
    ins_number: Annotated[str, Meta(max_length=20)] | None = None
    birth_last_name: Name | None = None
    birth_first_names: Name | None = None
    birth_place_code: Annotated[str, Meta(max_length=5)] | None = None
    identity_status: IdentityStatus = "provisional"
    practitioner_id: Id | None = None
    guardians: Annotated[list[GuardianIn], Meta(max_length=4)] = []


class PatientPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change; `null` clears an optional field."""

    last_name: Name | UnsetType = UNSET
    first_name: Name | UnsetType = UNSET
    birth_date: date | None | UnsetType = UNSET
    sex: Sex | None | UnsetType = UNSET
    email: Email | None | UnsetType = UNSET
    phone: Phone | None | UnsetType = UNSET
    address: Text | None | UnsetType = UNSET
    referring_physician: Text | None | UnsetType = UNSET
    notes: Annotated[str, Meta(max_length=20_000)] | None | UnsetType = UNSET
    ins_number: Annotated[str, Meta(max_length=20)] | None | UnsetType = UNSET
    birth_last_name: Name | None | UnsetType = UNSET
    birth_first_names: Name | None | UnsetType = UNSET
    birth_place_code: Annotated[str, Meta(max_length=5)] | None | UnsetType = UNSET
    identity_status: IdentityStatus | UnsetType = UNSET
    practitioner_id: Id | None | UnsetType = UNSET
    archived: bool | UnsetType = UNSET
    guardians: Annotated[list[GuardianIn], Meta(max_length=4)] | UnsetType = UNSET


class GuardianOut(msgspec.Struct):
    relation: str
    last_name: str | None
    first_name: str | None
    email: str | None
    phone: str | None
    address: str | None
    may_receive_messages: bool = True
    main_contact: bool = False


class PatientOut(msgspec.Struct, omit_defaults=True):
    id: int
    last_name: str | None
    first_name: str | None
    birth_date: str | None
    sex: str | None
    email: str | None
    phone: str | None
    address: str | None
    referring_physician: str | None
    ins_number: str | None
    birth_last_name: str | None
    birth_first_names: str | None
    birth_place_code: str | None
    identity_status: str
    practitioner_id: int | None
    archived: bool
    created_at: datetime
    updated_at: datetime
    guardians: list[GuardianOut] = []
    notes: str | None | UnsetType = UNSET  # present only for those who may read clinical notes
    # present only when some values failed their integrity check: those fields are null
    unreadable: list[str] | UnsetType = UNSET


class PatientSummary(msgspec.Struct):
    id: int
    last_name: str | None
    first_name: str | None
    birth_date: str | None
    archived: bool
    unreadable: list[str] | UnsetType = UNSET  # fields that failed their integrity check (null)


def given(struct: msgspec.Struct) -> dict[str, Any]:
    """The fields present in a request body, as plain values for the service."""
    out: dict[str, Any] = {}
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        if value is UNSET:
            continue
        if name == "guardians":
            value = [msgspec.structs.asdict(g) for g in value]
        out[name] = value
    return out


class ArchiveAccessIn(msgspec.Struct, forbid_unknown_fields=True):
    """Why an archived record is read (recorded in the audit trail; opens it for this user for 30 minutes)."""

    reason: Literal["continuity_of_care", "patient_request", "legal_request", "billing_query"]
