"""FHIR R4 resources of the export, checked against the structure with `fhir.resources`.

Why `fhir.resources`: it is the maintained Python model of every FHIR resource, generated from
the specification's StructureDefinitions (pydantic models): an element that does not exist, a
wrong type or cardinality, or a malformed date is refused when the resource is built, so the
archive never carries a resource another system's FHIR reader would reject for its structure.
Its `R4B` package is used: R4B (4.3) changed no element of the resources Carnet writes (Patient,
RelatedPerson, Appointment, Consent, Invoice) from R4 (4.0.1), and the library's pure R4 line
needs pydantic 1. Value sets (codes) are not checked by the models; the codes written are the
specification's (administrative-gender, v3-RoleCode, appointmentstatus).

Core maps its own records (Patient, RelatedPerson); a plugin maps its records itself and yields
them from `export_clinic_data` as `("fhir:<ResourceType>", resource)`; core checks every one.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

# INS (identifiant national de santé), NIR-based: the OID the ANS gives for FHIR identifiers
INS_NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
GENDERS = {"F": "female", "M": "male", "U": "unknown"}
RELATIONS = {"mother": "MTH", "father": "FTH", "guardian": "GUARD"}  # "other": the text only
RESOURCE_TYPES = ("Patient", "RelatedPerson", "Appointment", "Consent", "Invoice")


class FhirInvalid(ValueError):
    """A resource that does not fit the FHIR R4 structure (the message names the element, never a value)."""


@cache
def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def checked(resource: dict[str, Any]) -> str:
    """The resource as one JSON line, after the FHIR R4 model accepted it; FhirInvalid otherwise."""
    from pydantic import ValidationError

    resource_type = resource.get("resourceType")
    if resource_type not in RESOURCE_TYPES:
        raise FhirInvalid(f"resource type {resource_type!r} is not one the export writes")
    try:
        model = _model(resource_type).model_validate(resource)
    except ValidationError as exc:
        where = sorted({".".join(str(p) for p in e["loc"]) + f" ({e['type']})" for e in exc.errors()})
        raise FhirInvalid(f"{resource_type}/{resource.get('id')}: " + "; ".join(where)) from None
    return json.dumps(json.loads(model.model_dump_json(exclude_none=True)), ensure_ascii=False, sort_keys=True)


def _telecom(record: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    if record.get("phone"):
        out.append({"system": "phone", "value": record["phone"]})
    if record.get("email"):
        out.append({"system": "email", "value": record["email"]})
    return out


def _name(record: dict[str, Any], use: str = "usual") -> dict[str, Any] | None:
    family, given = record.get("last_name"), record.get("first_name")
    if not family and not given:
        return None
    name: dict[str, Any] = {"use": use}
    if family:
        name["family"] = family
    if given:
        name["given"] = given.split()
    return name


def patient(record: dict[str, Any]) -> dict[str, Any]:
    """A core_patient record (opened) as a FHIR Patient."""
    resource: dict[str, Any] = {"resourceType": "Patient", "id": f"patient-{record['id']}",
                                "active": not record.get("archived", False)}
    names = [n for n in (_name(record), _name({"last_name": record.get("birth_last_name"),
                                               "first_name": record.get("birth_first_names")}, "official")) if n]
    if names:
        resource["name"] = names
    if record.get("ins_number"):
        resource["identifier"] = [{"system": INS_NIR_SYSTEM, "value": record["ins_number"]}]
    if record.get("sex") in GENDERS:
        resource["gender"] = GENDERS[record["sex"]]
    if record.get("birth_date"):
        resource["birthDate"] = record["birth_date"]
    if telecom := _telecom(record):
        resource["telecom"] = telecom
    if record.get("address"):
        resource["address"] = [{"text": record["address"]}]
    if record.get("practitioner_id"):
        resource["generalPractitioner"] = [{"reference": f"Practitioner/user-{record['practitioner_id']}"}]
    return resource


def related_person(record: dict[str, Any]) -> dict[str, Any]:
    """A core_patient_guardian record (opened) as a FHIR RelatedPerson of the patient."""
    resource: dict[str, Any] = {
        "resourceType": "RelatedPerson", "id": f"guardian-{record['id']}",
        "patient": {"reference": f"Patient/patient-{record['patient_id']}"},
        "relationship": [{"text": record["relation"]}],
    }
    if record["relation"] in RELATIONS:
        resource["relationship"][0]["coding"] = [{"system": ROLE_CODE_SYSTEM, "code": RELATIONS[record["relation"]]}]
    if name := _name(record):
        resource["name"] = [name]
    if telecom := _telecom(record):
        resource["telecom"] = telecom
    if record.get("address"):
        resource["address"] = [{"text": record["address"]}]
    return resource
