"""Every HTML form route of core and every installed plugin answers invalid input with an HTML page.

The routes come from the app's route table (every non-API route whose unsafe method takes a form
body), so a route added tomorrow is covered without touching this file. Each gets the demo clinic's
real ids in its path and several kinds of invalid forms: empty, then every field name any template
uses set to words, to out-of-range numbers, to an impossible date, and to an end before its start.
The answer must be a page (`text/html`) or a redirect, never JSON, never a 500. The error convention
is `carnet_core.errors` / `carnet_core.web.forms.form_page`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.routes import HTTPRoute

from carnet_core.demo import DEMO_PASSWORD, DEMO_SLUG, DEMO_STAFF, load_demo
from carnet_core.testing.identity import StaffUser

SAFE = {"GET", "HEAD", "OPTIONS"}
# Path parameters that name another table than `<plugin>_<stem>`.
TABLE_OF = {"practitioner": "core_user", "type": "scheduling_appointment_type", "user": "core_user"}


def form_routes(app: Any) -> list[tuple[str, str, Any]]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(("/api/", "/static/", "/schema")):
            continue
        for method, (handler, *_rest) in route.route_handler_map.items():
            if method not in SAFE and "data" in handler.parsed_fn_signature.parameters:
                found.append((method, route.path, handler))
    return sorted(found, key=lambda r: (r[1], r[0]))


def field_names(host: Any) -> set[str]:
    names: set[str] = set()
    for info in host.plugins.values():
        folder = info.resource("templates")
        if folder is None:
            continue
        stack = [folder]
        while stack:
            entry = stack.pop()
            if entry.is_dir():
                stack.extend(entry.iterdir())
            elif entry.name.endswith(".html"):
                names.update(re.findall(r'\bname="([A-Za-z_][\w\-]*)"', entry.read_text(encoding="utf-8")))
    names.discard("_csrf_token")
    return names


def first_id(db: Any, table: str) -> int:
    tables = set(sa.inspect(db.engine).get_table_names())
    if table not in tables or "id" not in {c["name"] for c in sa.inspect(db.engine).get_columns(table)}:
        return 1
    with db.engine.connect() as conn:
        return conn.execute(sa.text(f'SELECT MIN(id) FROM "{table}"')).scalar() or 1  # noqa: S608 (table names from the schema)


def path_for(route_path: str, db: Any) -> str:
    tables = sa.inspect(db.engine).get_table_names()

    def value(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if name == "clinic_slug":
            return DEMO_SLUG
        if kind != "int":
            return "zz-unknown"  # tokens, plugin names: refused with a page
        stem = name.removesuffix("_id")
        table = TABLE_OF.get(stem) or next(
            (t for t in sorted(tables) if t.endswith(f"_{stem}") and t != "alembic_version"), "")
        return str(first_id(db, table))

    return re.sub(r"\{(\w+):(\w+)\}", value, route_path)


def invalid_forms(names: set[str]) -> list[dict[str, str]]:
    def ends_before_start(name: str) -> str:
        lowered = name.lower()
        if any(w in lowered for w in ("end", "last", "until", "to")):
            return "2030-10-01"
        return "2030-10-20" if any(w in lowered for w in ("start", "first", "from", "day", "date")) else "09:00"

    return [
        {},
        {n: "zz" for n in names},
        {n: "99" for n in names},
        {n: "-1" for n in names},
        {n: "2026-02-30" for n in names},
        {n: ends_before_start(n) for n in names},
    ]


@pytest.fixture
def demo_owner(carnet_db, carnet_settings, plugin_host) -> StaffUser:
    for _ in load_demo(carnet_settings, plugin_host, carnet_db):
        pass
    email, _, roles, _, secret = DEMO_STAFF[0]
    with carnet_db.engine.connect() as conn:
        user_id = conn.execute(sa.text("SELECT id FROM core_user WHERE email = :e"), {"e": email}).scalar()
        clinic_id = conn.execute(sa.text("SELECT id FROM core_clinic WHERE slug = :s"), {"s": DEMO_SLUG}).scalar()
    return StaffUser(user_id, email, DEMO_PASSWORD, secret, clinic_id, roles)


def test_the_route_table_has_form_routes_of_core_and_of_plugins(app):
    paths = [path for _, path, _ in form_routes(app)]
    assert "/patients/new" in paths and any(p.startswith("/scheduling/") for p in paths)
    assert any(p.startswith("/p/{clinic_slug:str}/") for p in paths)


def test_every_form_route_answers_invalid_input_with_an_html_page(app, client, carnet_db, plugin_host, demo_owner,
                                                                 login_as):
    token = login_as(client, demo_owner, send_csrf=False)
    forms = invalid_forms(field_names(plugin_host))
    failures = []
    for method, route_path, _handler in form_routes(app):
        path = path_for(route_path, carnet_db)
        for n, form in enumerate(forms):
            for htmx in (False, True):
                headers = {"HX-Request": "true"} if htmx else {}
                answer = client.request(method, path, data={**form, "_csrf_token": token}, headers=headers,
                                        follow_redirects=False)
                kind = answer.headers.get("content-type", "")
                redirect = answer.status_code in (301, 302, 303, 307) or (
                    answer.status_code == 204 and ("HX-Redirect" in answer.headers or "HX-Trigger" in answer.headers
                                                   or "HX-Location" in answer.headers or htmx))
                if answer.status_code >= 500 or not (redirect or kind.startswith("text/html")):
                    failures.append(f"{method} {path} form #{n} htmx={htmx}: {answer.status_code} {kind}")
        # whatever the route did, the owner is still signed in for the next one
        if client.get("/", follow_redirects=False).status_code != 200 or "/logout" not in client.get("/").text:
            token = login_as(client, demo_owner, send_csrf=False)
    assert not failures, "\n".join(failures)
