"""API token scopes are enforced on every API route, reads and writes alike (issue 16, class 8).

A token's scopes are permission names. For every API route of core and of the repository's
plugins (the rows of the authorization matrix give sample parameters and bodies): a token of a
member holding every role, scoped to some other permission, is refused (403) and changes
nothing; scoped to the route's own permission it passes the guards; unscoped, too.
"""

from __future__ import annotations

import pytest
from test_authorization_matrix import ROWS, UNDER_TEST

from carnet_core.testing.matrix import ANY_MEMBER, fill_path, snapshot


@pytest.fixture
def tokens(app, carnet_db, carnet_settings):
    """`tokens(clinic, scopes)`: a bearer token of a member of `clinic` holding every role."""
    from carnet_core.identity.models import User
    from carnet_core.identity.services import create_token
    from carnet_core.testing.identity import make_staff

    members = {}

    def make(clinic, scopes):
        if clinic.id not in members:
            members[clinic.id] = make_staff(carnet_db, carnet_settings, "owner,practitioner,secretary", clinic)
        with carnet_db.session(clinic_id=clinic.id) as db:
            raw, _ = create_token(db, clinic.id, db.get(User, members[clinic.id].id), scopes=scopes, name="scopes",
                                  permissions=app.state["carnet"].permissions)
        return {"Authorization": f"Bearer {raw}"}

    return make


def _state(carnet_db, carnet_settings):
    """The snapshot of "nothing changed", and the audit records other than token uses (every use of
    a token is recorded, refused or not: that record is the trace, not a change)."""
    import sqlalchemy as sa

    from carnet_core.audit.models import AuditRecord

    found = snapshot(carnet_db, carnet_settings)
    found["db"].pop("core_audit", None)
    with carnet_db.session(unscoped=True) as db:
        found["audit"] = db.execute(sa.select(sa.func.count()).select_from(AuditRecord).where(
            sa.not_(sa.and_(AuditRecord.action == "use", AuditRecord.resource_type == "api_token")))).scalar()
    return found


def _call(client, method, path, headers, body):
    if method in ("GET", "HEAD"):
        return client.request(method, path, headers=headers, follow_redirects=False)
    return client.request(method, path, headers=headers, data=body or {}, follow_redirects=False)


def test_every_api_route_refuses_a_token_without_its_scope(authorization_matrix, tokens, carnet_db, carnet_settings):
    m = authorization_matrix
    state = m.app.state["carnet"]
    client = m.clients["anonymous"]  # no cookie: the bearer token is the only credential
    clinic = m.clinics["a"]
    api = {k: h for k, h in m.routes_under_test(UNDER_TEST).items() if k.split(" ", 1)[1].startswith("/api/")}
    kinds = {"read": 0, "write": 0}
    failures = []
    for key, handler in sorted(api.items()):
        row = ROWS[key]
        if row.allowed == ANY_MEMBER:
            continue  # no permission to scope (e.g. /api/v1/me)
        permission = handler.opt["permission"]
        other = next(p for p in sorted(state.permissions) if p != permission)
        method, template = key.split(" ", 1)
        path = fill_path(template, m.resolve(row.params) or {})
        body = m.resolve(row.body)
        scoped_elsewhere = tokens(clinic, [other])
        before = _state(carnet_db, carnet_settings)
        refused = _call(client, method, path, scoped_elsewhere, body)
        if refused.status_code != 403:
            failures.append(f"{key} with a token scoped to {other}: {refused.status_code}, expected 403")
        if _state(carnet_db, carnet_settings) != before:
            failures.append(f"{key} with a token scoped to {other}: refused but something changed")
        for label, scopes in (("its own scope", [permission, other]), ("no scope (every permission)", None)):
            passed = _call(client, method, path, tokens(clinic, scopes), body)
            if passed.status_code not in row.ok:
                failures.append(f"{key} with {label}: {passed.status_code}, expected one of {row.ok}")
        kinds["read" if method in ("GET", "HEAD") else "write"] += 1
    assert not failures, "\n".join(failures)
    assert kinds["read"] >= 3 and kinds["write"] >= 3, kinds  # both kinds of route were exercised


def test_a_read_scope_reads_but_never_writes(client, clinic, tokens, carnet_db, carnet_settings):
    reader = tokens(clinic, ["core.patients.view"])
    assert client.get("/api/v1/patients", headers=reader).status_code == 200
    before = _state(carnet_db, carnet_settings)
    created = client.post("/api/v1/patients", headers=reader, json={"last_name": "Martin", "first_name": "Léa"})
    assert created.status_code == 403
    assert _state(carnet_db, carnet_settings) == before
    writer = tokens(clinic, ["core.patients.edit"])
    assert client.get("/api/v1/patients", headers=writer).status_code == 403
    created = client.post("/api/v1/patients", headers=writer, json={"last_name": "Martin", "first_name": "Léa"})
    assert created.status_code == 201, created.text
