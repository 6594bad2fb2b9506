"""Authorization matrix over every route of core and every installed plugin (issue 3, acceptance 3).

The rows below are the route table's security contract. The test walks `app.routes`: a route
without a row FAILS, so whoever adds a route declares here who may call it. For every protected
route it checks: anonymous (redirect to /login for pages, 401 JSON for the API), a member of
another clinic (never clinic A's data; 403/404 on A's resources), a wrong role (403/404), and the
allowed role. Denied cases also assert that no table changed, nothing was enqueued and no mail was
written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from carnet_core.contrib import PUBLIC

SECRET_NAME = "Cabinet Alpha Confidentiel"


@dataclass(frozen=True)
class Row:
    allowed: tuple[str, ...]  # roles that pass; ("*",) = every member of the clinic
    params: dict[str, Any] = field(default_factory=dict)  # sample values for path parameters
    body: dict[str, Any] | None = None  # sample form body for unsafe methods
    ok: tuple[int, ...] = (200, 303)  # answers that mean "let through" for the allowed role


ANY_MEMBER = ("*",)
STAFF = ("owner", "practitioner", "secretary")

# Routes anyone may call, without login (each listed on purpose).
PUBLIC_ROUTES = {
    "GET /", "POST /lang", "GET /healthz",
    "GET /login", "POST /login", "GET /login/totp", "POST /login/totp", "POST /logout",
    "GET /enroll/{token:str}", "POST /enroll/{token:str}", "POST /enroll/{token:str}/confirm",
    "GET /password/forgot", "POST /password/forgot",
    "GET /password/reset/{token:str}", "POST /password/reset/{token:str}",
    "GET /static/vendor/{file_path:path}", "HEAD /static/vendor/{file_path:path}",
    "GET /static/core/{file_path:path}", "HEAD /static/core/{file_path:path}",
    # scheduling: the private calendar feed; the secret token in the path is the credential
    "GET /p/{clinic_slug:str}/scheduling/feed/{token:str}",
    # scheduling, patients without accounts: online booking and the waiting list's intake form
    # (rate-limited per address and per e-mail), then pages reached through signed patient links
    # (core.links: hashed, expiring, single-purpose tokens; unsafe methods need the CSRF token).
    "GET /p/{clinic_slug:str}/scheduling/book",
    "GET /p/{clinic_slug:str}/scheduling/book/{practitioner_id:int}/{type_id:int}",
    "GET /p/{clinic_slug:str}/scheduling/book/{practitioner_id:int}/{type_id:int}/form",
    "POST /p/{clinic_slug:str}/scheduling/book/{practitioner_id:int}/{type_id:int}",
    "GET /p/{clinic_slug:str}/scheduling/confirm/{token:str}",
    "POST /p/{clinic_slug:str}/scheduling/confirm/{token:str}",
    "GET /p/{clinic_slug:str}/scheduling/c/{token:str}", "POST /p/{clinic_slug:str}/scheduling/c/{token:str}",
    "GET /p/{clinic_slug:str}/scheduling/a/{token:str}",
    "POST /p/{clinic_slug:str}/scheduling/a/{token:str}/cancel",
    "POST /p/{clinic_slug:str}/scheduling/a/{token:str}/move",
    "POST /p/{clinic_slug:str}/scheduling/a/{token:str}/earlier",
    "POST /p/{clinic_slug:str}/scheduling/a/{token:str}/reminders-off",
    "GET /p/{clinic_slug:str}/scheduling/waitlist", "POST /p/{clinic_slug:str}/scheduling/waitlist",
    "GET /p/{clinic_slug:str}/scheduling/o/{token:str}",
    "POST /p/{clinic_slug:str}/scheduling/o/{token:str}/accept",
    "POST /p/{clinic_slug:str}/scheduling/o/{token:str}/decline",
    "GET /p/{clinic_slug:str}/scheduling/w/{token:str}", "POST /p/{clinic_slug:str}/scheduling/w/{token:str}",
    "GET /p/{clinic_slug:str}/scheduling/m/{token:str}",
    "GET /static/scheduling/{file_path:path}", "HEAD /static/scheduling/{file_path:path}",
}

# scheduling (JSON API). Bodies are sent as forms here, so the allowed role gets 400 (bad body),
# 404 (unknown id) or 400 (missing from/to): what matters is that it passed the guards.
_S = "/api/v1/scheduling"
_STAFF = ("owner", "practitioner", "secretary")
_CLINICAL = ("owner", "practitioner")
_APPT = {"appointment_id": 999999}
SCHEDULING_ROWS: dict[str, Row] = {
    # staff pages of the patient side: the waiting list (clinical parts for practitioners only),
    # triage (a practitioner triages their own list: an unknown listing is a 404), online bookings
    "GET /scheduling/waitlist": Row(_STAFF),
    "POST /scheduling/waitlist/{listing_id:int}": Row(_STAFF, {"listing_id": 999999}, {"action": "accept"},
                                                       ok=(404,)),
    "GET /scheduling/online": Row(_STAFF),
    f"GET {_S}/appointments": Row(_STAFF, ok=(400,)),
    f"POST {_S}/appointments": Row(_STAFF, body={}, ok=(400,)),
    f"GET {_S}/appointments/{{appointment_id:int}}": Row(_STAFF, _APPT, ok=(404,)),
    f"POST {_S}/appointments/{{appointment_id:int}}/move": Row(_STAFF, _APPT, {}, ok=(400, 404)),
    f"POST {_S}/appointments/{{appointment_id:int}}/cancel": Row(_STAFF, _APPT, {}, ok=(400, 404)),
    f"POST {_S}/appointments/{{appointment_id:int}}/status": Row(_STAFF, _APPT, {}, ok=(400, 404)),
    f"POST {_S}/appointments/{{appointment_id:int}}/move-following": Row(_STAFF, _APPT, {}, ok=(400, 404)),
    f"GET {_S}/appointments/{{appointment_id:int}}/notes": Row(_CLINICAL, _APPT, ok=(404,)),
    f"PUT {_S}/appointments/{{appointment_id:int}}/notes": Row(_CLINICAL, _APPT, {}, ok=(400, 404)),
    f"GET {_S}/availability": Row(_STAFF, ok=(400,)),
    f"POST {_S}/prescriptions": Row(_STAFF, body={}, ok=(400,)),
    f"POST {_S}/series": Row(_STAFF, body={}, ok=(400,)),
    f"GET {_S}/series/{{series_id:int}}": Row(_STAFF, {"series_id": 999999}, ok=(404,)),
    f"GET {_S}/appointment-types": Row(_STAFF),
    f"POST {_S}/appointment-types": Row(("owner",), body={}, ok=(400,)),
    f"POST {_S}/places": Row(("owner",), body={}, ok=(400,)),
    f"POST {_S}/rooms": Row(("owner",), body={}, ok=(400,)),
    f"PUT {_S}/working-hours/{{practitioner_id:int}}": Row(("owner",), {"practitioner_id": 999999}, {}, ok=(400, 404)),
    f"POST {_S}/exceptions": Row(("owner",), body={}, ok=(400,)),
    f"POST {_S}/school-holidays": Row(("owner",), body={}, ok=(400,)),
    f"POST {_S}/feed": Row(_CLINICAL, body={}, ok=(400,)),
    f"POST {_S}/feed/revoke": Row(_CLINICAL, body={}),
    # scheduling pages (forms): empty bodies give 422, unknown ids 404
    "GET /scheduling": Row(_STAFF),
    "GET /scheduling/types.css": Row(_STAFF),
    "GET /scheduling/today": Row(_STAFF),
    "GET /scheduling/day-sheet": Row(_STAFF),
    # patient search posts (a name never in an address): the live search and the forms' Search button
    "POST /scheduling/patients/search": Row(_STAFF, body={"q": "x"}),
    "GET /scheduling/appointments/new": Row(_STAFF),
    "POST /scheduling/appointments/new": Row(_STAFF, body={"q": "x"}),
    "POST /scheduling/appointments": Row(_STAFF, body={}, ok=(422,)),
    "GET /scheduling/appointments/{appointment_id:int}": Row(_STAFF, _APPT, ok=(404,)),
    "POST /scheduling/appointments/{appointment_id:int}/move": Row(_STAFF, _APPT, {}, ok=(404,)),
    "POST /scheduling/appointments/{appointment_id:int}/cancel": Row(_STAFF, _APPT, {}, ok=(404,)),
    "POST /scheduling/appointments/{appointment_id:int}/status": Row(_STAFF, _APPT, {}, ok=(404,)),
    "POST /scheduling/appointments/{appointment_id:int}/move-following": Row(_STAFF, _APPT, {}, ok=(404,)),
    "POST /scheduling/appointments/{appointment_id:int}/notes": Row(_CLINICAL, _APPT, {}, ok=(404,)),
    "GET /scheduling/series/new": Row(_STAFF),
    "POST /scheduling/series/new": Row(_STAFF, body={"q": "x"}),
    "POST /scheduling/series": Row(_STAFF, body={}, ok=(422,)),
    "GET /scheduling/series/{series_id:int}": Row(_STAFF, {"series_id": 999999}, ok=(404,)),
    "GET /scheduling/setup": Row(("owner",)),
    "POST /scheduling/setup/types": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/places": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/rooms": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/hours": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/exceptions": Row(("owner",), body={}, ok=(422,)),
    # reminder settings (owners) and a patient's reminders switch (from the patient page)
    "GET /scheduling/setup/reminders": Row(("owner",)),
    "POST /scheduling/setup/reminders/rules": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/reminders/defaults": Row(("owner",), body={}),
    "POST /scheduling/setup/reminders/rules/{rule_id:int}": Row(("owner",), {"rule_id": 999999}, {"action": "off"},
                                                                ok=(404,)),
    "POST /scheduling/setup/reminders/switches": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/patients/{patient_id:int}/reminders": Row(_STAFF, {"patient_id": 999999}, {"enabled": "0"},
                                                                ok=(404,)),
}

ROWS: dict[str, Row] = {
    "GET /settings/modules": Row(("owner",)),
    "POST /settings/modules/{plugin:str}": Row(("owner",), {"plugin": "__first_plugin__"}, {"enabled": "0"},
                                               ok=(200, 303, 404)),
    "GET /operator/plugins": Row(("owner",)),
    "GET /audit": Row(("owner",)),
    "GET /account": Row(ANY_MEMBER),
    "POST /account/password": Row(ANY_MEMBER, body={"current": "wrong", "password": "x", "confirm": "x"},
                                  ok=(400,)),
    "POST /account/recovery-codes": Row(ANY_MEMBER, body={"code": "000000"}, ok=(400,)),
    "GET /clinic/switch": Row(ANY_MEMBER),
    "POST /clinic/switch": Row(ANY_MEMBER, body={"clinic_id": "__clinic_a__"}),
    "GET /api/v1/me": Row(ANY_MEMBER),
    **SCHEDULING_ROWS,
    "GET /settings/users": Row(("owner",)),
    "POST /settings/users": Row(("owner",), body={"email": "nouvelle@cabinet.test", "roles": "secretary"}),
    "POST /settings/users/{user_id:int}/roles": Row(("owner",), {"user_id": "__target_roles__"},
                                                    {"roles": "practitioner"}),
    "POST /settings/users/{user_id:int}/remove": Row(("owner",), {"user_id": "__target_remove__"}, {}),
    "POST /settings/users/{user_id:int}/disable": Row(("owner",), {"user_id": "__target_disable__"}, {}),
    "POST /settings/users/{user_id:int}/resend": Row(("owner",), {"user_id": "__target_resend__"}, {}),
    # Patient registry: every role holds view/edit; visibility of each patient is the service's
    # rule (tests in core/tests/test_patients.py). No patient exists here: 404 / 400 / 422 answers.
    "GET /patients": Row(STAFF),
    "POST /patients/search": Row(STAFF, body={"q": "x"}),
    "GET /patients/new": Row(STAFF),
    "POST /patients/new": Row(STAFF, body={"last_name": ""}, ok=(422,)),
    "GET /patients/{patient_id:int}": Row(STAFF, {"patient_id": "999999"}, ok=(404,)),
    "GET /patients/{patient_id:int}/edit": Row(STAFF, {"patient_id": "999999"}, ok=(404,)),
    "GET /patients/{patient_id:int}/accesses": Row(("owner", "practitioner"), {"patient_id": "999999"}, ok=(404,)),
    "POST /patients/{patient_id:int}/edit": Row(STAFF, {"patient_id": "999999"}, {"last_name": "X"}, ok=(404,)),
    "GET /settings/patients": Row(("owner",)),
    "POST /settings/patients": Row(("owner",), body={"share_patients": "1"}),
    # RGPD: export (owners and the patient's practitioner), erasure (owners, confirmed)
    "POST /patients/{patient_id:int}/export": Row(("owner", "practitioner"), {"patient_id": "999999"}, {},
                                                  ok=(404,)),
    "GET /patients/{patient_id:int}/erase": Row(("owner",), {"patient_id": "999999"}, ok=(404,)),
    "POST /patients/{patient_id:int}/erase": Row(("owner",), {"patient_id": "999999"},
                                                 {"reason": "other", "confirm_last_name": "X"}, ok=(404,)),
    "GET /api/v1/patients": Row(STAFF),
    "POST /api/v1/patients": Row(STAFF, body={"last_name": "X"}, ok=(400,)),
    "POST /api/v1/patients/search": Row(STAFF, body={"q": "x"}, ok=(400,)),
    "GET /api/v1/patients/{patient_id:int}": Row(STAFF, {"patient_id": "999999"}, ok=(404,)),
    "PATCH /api/v1/patients/{patient_id:int}": Row(STAFF, {"patient_id": "999999"}, {"phone": ""}, ok=(400, 404)),
}


def _route_keys(app) -> dict[str, Any]:
    found = {}
    for route in app.routes:
        if route.path.startswith("/schema"):
            continue  # the OpenAPI document describes the API; it holds no data
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", ()):
                if method != "OPTIONS":
                    found[f"{method} {route.path}"] = handler
    return found


def test_every_route_has_a_row_and_every_row_a_route(app):
    keys = _route_keys(app)
    missing = sorted(k for k in keys if k not in ROWS and k not in PUBLIC_ROUTES)
    assert not missing, f"routes without an authorization row (add them to ROWS or PUBLIC_ROUTES): {missing}"
    stale = sorted(k for k in list(ROWS) + list(PUBLIC_ROUTES) if k not in keys)
    assert not stale, f"rows for routes that no longer exist: {stale}"
    for key, handler in keys.items():
        is_public = handler.opt.get("permission") == PUBLIC
        assert is_public == (key in PUBLIC_ROUTES), f"{key}: PUBLIC_ROUTES and the route's permission disagree"


def _snapshot(db, settings) -> dict[str, Any]:
    with db.engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        counts = {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}
        # Session and login-attempt rows are the identity system's own bookkeeping; the rows that
        # matter for "nothing changed" are the domain's. Their content is compared too.
        for t in ("core_clinic_plugin", "core_membership", "core_user"):
            if t in tables:
                counts[f"{t}:rows"] = sorted(map(str, conn.execute(sa.text(f'SELECT * FROM "{t}"')).all()))
    counts.pop("core_session", None)
    counts.pop("core_login_attempt", None)
    mail = sorted(p.name for p in settings.mail_dir.glob("*.eml")) if settings.mail_dir.exists() else []
    return {"db": counts, "mail": mail}


def _resolve(row: Row, ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    def fill(value: Any) -> Any:
        return ctx.get(value, value) if isinstance(value, str) else value

    return {k: fill(v) for k, v in row.params.items()}, (
        {k: fill(v) for k, v in row.body.items()} if row.body is not None else None
    )


def _path(template: str, params: dict[str, Any]) -> str:
    path = template
    for name, value in params.items():
        path = path.replace("{" + name + ":str}", str(value)).replace("{" + name + ":int}", str(value))
    return path


def _call(client, method: str, path: str, body: dict[str, Any] | None):
    if method in ("GET", "HEAD"):
        return client.request(method, path, follow_redirects=False)
    return client.request(method, path, data=body or {}, follow_redirects=False)


def _denied(response, anonymous: bool, api: bool) -> bool:
    if anonymous:
        if api:
            return response.status_code == 401 and response.headers["content-type"].startswith("application/json")
        return response.status_code == 303 and response.headers["location"].startswith("/login")
    return response.status_code in (403, 404)


@pytest.fixture
def matrix(app, make_clinic, staff, login_as, plugin_host, carnet_db):
    clinic_a = make_clinic("alpha", SECRET_NAME)
    clinic_b = make_clinic("beta", "Cabinet Beta")
    users = {role: staff(role, clinic=clinic_a) for role in ("owner", "practitioner", "secretary")}
    users["other-clinic"] = staff("owner,practitioner,secretary", clinic=clinic_b)
    clients = {"anonymous": TestClient(app=app, base_url="http://127.0.0.1:8000")}
    for name, user in users.items():
        clients[name] = TestClient(app=app, base_url="http://127.0.0.1:8000")
        clients[name].__enter__()
        login_as(clients[name], user)
    clients["anonymous"].__enter__()
    ctx = {"__clinic_a__": str(clinic_a.id), "__first_plugin__": (plugin_host.names or ["none"])[0]}
    # Members of clinic A that the staff routes act on, one per route (invited, not enrolled).
    from carnet_core.identity import services

    with carnet_db.session(unscoped=True) as db:
        for what in ("roles", "remove", "disable", "resend"):
            target, _ = services.invite(db, clinic_a.id, f"cible-{what}@cabinet.test", "secretary")
            ctx[f"__target_{what}__"] = str(target.id)
    yield clients, ctx
    for c in clients.values():
        c.__exit__(None, None, None)


def test_authorization_matrix(app, matrix, carnet_db, carnet_settings):
    clients, ctx = matrix
    state = app.state["carnet"]
    failures: list[str] = []
    for key, handler in sorted(_route_keys(app).items()):
        if key in PUBLIC_ROUTES:
            continue
        row = ROWS[key]
        method, template = key.split(" ", 1)
        params, body = _resolve(row, ctx)
        path = _path(template, params)
        api = template.startswith("/api/")
        permission = handler.opt.get("permission")
        perm = state.permissions.get(permission)
        holders = set(perm.roles) if perm else {"owner", "practitioner", "secretary"}
        assert row.allowed == ANY_MEMBER or set(row.allowed) == holders, f"{key}: row roles differ from {holders}"

        cases = [("anonymous", True)]
        cases += [(role, False) for role in ("owner", "practitioner", "secretary") if role not in holders]
        for who, anonymous in cases:
            before = _snapshot(carnet_db, carnet_settings)
            response = _call(clients[who], method, path, body)
            if not _denied(response, anonymous, api):
                failures.append(f"{key} as {who}: {response.status_code}, expected a denial")
            if _snapshot(carnet_db, carnet_settings) != before:
                failures.append(f"{key} as {who}: denied but something changed")

        # another clinic's member never sees clinic A's data (its name stands for it here)
        if method in ("GET", "HEAD"):
            response = _call(clients["other-clinic"], method, path, body)
            if SECRET_NAME in response.text:
                failures.append(f"{key}: clinic A's data shown to a member of clinic B")

        allowed_role = next(r for r in ("owner", "practitioner", "secretary") if r in holders)
        response = _call(clients[allowed_role], method, path, body)
        if response.status_code not in row.ok:
            failures.append(f"{key} as {allowed_role}: {response.status_code}, expected one of {row.ok}")
    assert not failures, "\n".join(failures)


def test_other_clinic_cannot_switch_into_clinic_a(matrix, carnet_db, carnet_settings):
    clients, ctx = matrix
    before = _snapshot(carnet_db, carnet_settings)
    response = clients["other-clinic"].post("/clinic/switch", data={"clinic_id": ctx["__clinic_a__"]})
    assert response.status_code == 400
    assert SECRET_NAME not in response.text
    assert clients["other-clinic"].get("/api/v1/me").json()["clinic"]["slug"] == "beta"
    assert _snapshot(carnet_db, carnet_settings) == before
