"""The OpenAPI document (what Schemathesis fuzzes in CI with scripts/fuzz_api.py) declares how to
authenticate, every error status an API operation answers, the id bound and the documented links
from creation to reading and changing; and the app answers only what it documents for the inputs
that used to be server errors."""

from __future__ import annotations

import pytest

from carnet_core.inputs import MAX_ID


@pytest.fixture
def document(client):
    return client.get("/schema/openapi.json").json()


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_bearer_and_cookie_security_schemes_are_declared(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["session"]["type"] == "apiKey" and schemes["session"]["in"] == "cookie"
    assert schemes["session"]["name"] in ("carnet_session", "__Host-carnet_session")
    assert {"bearer": []} in document["security"] and {"session": []} in document["security"]


def test_every_api_operation_documents_its_errors(document):
    operations = list(_operations(document))
    assert len(operations) >= 25
    for path, method, operation in operations:
        assert path.startswith("/api/"), path
        statuses = set(operation["responses"])
        assert {"400", "401", "403", "404", "503"} <= statuses, (method, path, statuses)
        if path.startswith("/api/v1/scheduling/") and "feed" not in path:
            assert "422" in statuses, (method, path)
        if path.startswith("/api/v1/patients"):
            assert {"409", "410", "422"} <= statuses, (method, path)
        error = operation["responses"]["404"]["content"]["application/json"]["schema"]
        assert error, (method, path)


def test_ids_and_constraints_are_declared(document):
    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"].endswith("_id"):
                schema = parameter["schema"]
                bounds = schema if "maximum" in schema else next(
                    (s for s in schema.get("oneOf", []) if "maximum" in s), schema)
                assert bounds.get("maximum") == MAX_ID, (method, path, parameter["name"], schema)
    listing = document["paths"]["/api/v1/scheduling/appointments"]["get"]
    to = next(p for p in listing["parameters"] if p["name"] == "to")
    assert "92 days" in to["description"]
    types = document["components"]["schemas"]
    appointment_type = next(s for name, s in types.items() if name.endswith("AppointmentTypeIn"))
    duration = appointment_type["properties"]["duration_minutes"]
    assert (duration["minimum"], duration["maximum"]) == (5, 480)
    booking = next(s for name, s in types.items() if name.endswith("AppointmentIn"))
    assert "2000-01-01" in booking["properties"]["starts_at"]["description"]


def test_creations_link_to_reading_and_changing(document):
    by_id = {op["operationId"]: (method, path) for path, method, op in _operations(document)}
    created = document["paths"]["/api/v1/scheduling/appointments"]["post"]["responses"]["201"]["links"]
    assert by_id[created["GetAppointment"]["operationId"]] == ("get", "/api/v1/scheduling/appointments/{appointment_id}")
    assert by_id[created["MoveAppointment"]["operationId"]][0] == "post"
    patient = document["paths"]["/api/v1/patients"]["post"]["responses"]["201"]["links"]
    assert by_id[patient["UpdatePatient"]["operationId"]] == ("patch", "/api/v1/patients/{patient_id}")
    assert patient["UpdatePatient"]["parameters"] == {"patient_id": "$response.body#/id"}
    # served twice, the links are not added twice
    assert document["x-carnet-links"] is True


def test_the_inputs_that_were_server_errors_get_documented_statuses(client, document, clinic, staff, carnet_db):
    from carnet_core.identity.models import User
    from carnet_core.identity.services import create_token

    member = staff("owner,practitioner")
    with carnet_db.session(clinic_id=clinic.id) as db:
        raw, _ = create_token(db, clinic.id, db.get(User, member.id), name="contract")
    headers = {"Authorization": f"Bearer {raw}"}
    calls = [
        ("get", "/api/v1/patients/{patient_id}", f"/api/v1/patients/{2**63}", None),
        ("get", "/api/v1/scheduling/appointments/{appointment_id}", f"/api/v1/scheduling/appointments/{2**63}", None),
        ("post", "/api/v1/scheduling/appointments", "/api/v1/scheduling/appointments",
         {"practitioner_id": member.id, "patient_id": 1, "appointment_type_id": 1, "starts_at": "9999-12-31T23:50Z"}),
        ("post", "/api/v1/scheduling/places", "/api/v1/scheduling/places", {"name": "\x00"}),
        ("post", "/api/v1/patients/search", "/api/v1/patients/search", {"q": "x", "offset": 2**63}),
    ]
    for method, template, url, body in calls:
        answer = client.request(method.upper(), url, json=body, headers=headers)
        documented = document["paths"][template][method]["responses"]
        assert answer.status_code < 500 and str(answer.status_code) in documented, (url, answer.status_code)
