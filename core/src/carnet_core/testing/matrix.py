"""The authorization-matrix contract, for core and for any plugin, in or out of this repository.

A plugin's suite declares who may call each of its routes and lets the `authorization_matrix`
fixture check them all against the running app::

    from carnet_core.testing.matrix import STAFF, Row

    ROWS = {
        "GET /myplugin/things": Row(STAFF),
        "POST /myplugin/things": Row(("owner",), body={"name": ""}, ok=(422,)),
        "GET /myplugin/things/{thing_id:int}": Row(STAFF, {"thing_id": 999999}, ok=(404,)),
    }
    PUBLIC = {"GET /p/{clinic_slug:str}/myplugin/form"}

    def test_authorization_matrix(authorization_matrix):
        authorization_matrix.check(ROWS, PUBLIC, plugins=["myplugin"])

Only the routes of the plugins named need rows (core's are "core"), so an unrelated plugin
installed beside them never breaks the suite. For every protected route it checks, and fails
with the list of every broken case:

- anonymous: a redirect to /login (pages) or 401 JSON (API), nothing changed;
- each role of clinic A that does not hold the route's permission: 403/404, nothing changed;
- a member of clinic B holding every role: never clinic A's data in the answer; on a route
  given `Row.foreign` (path params naming clinic A's own objects), refused, changing nothing;
- unsafe methods as the allowed role without a CSRF token, with a forged one and with another
  session's token: 403, nothing changed;
- the allowed role: one of `Row.ok` (it passed the guards).

Public unsafe routes are refused without a CSRF token too.

WebSocket routes ("WS /path") are checked by attempting the handshake, from the app's own origin
as a browser does. Every one needs a row, public or not (a public socket is one whose credential
is in its path, like a patient link): `Row.allowed` names the roles the route lets through (the
permission's holders) and any other participant the test registered with `add_client` (e.g.
"patient-link", a client holding a patient's link and whatever its page set); `Row.opens` those
whose handshake on `Row.params` opens (default: all of them). Each of anonymous, clinic A's roles
and every registered participant attempts it, and the member of clinic B on `Row.foreign` (clinic
A's object) when given: refused before the socket opens, changing nothing, unless the row says it
opens; those open it, and are refused from another site's origin (cross-site WebSocket hijacking, the
socket's CSRF), changing nothing. `Row.params` must name real objects (placeholders the test put
in `ctx`): an allowed participant must really get through. "Nothing changed" compares every
table's row count (the job outbox included: nothing enqueued) and the content of the clinic,
membership and user tables, and the mail and SMS folders (nothing sent); session and
login-attempt bookkeeping is left out.

Placeholders in `params`, `foreign` and `body`: "__clinic_a__" (clinic A's id), "__first_plugin__",
and whatever the test adds to `authorization_matrix.ctx` before calling `check`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

SECRET_NAME = "Cabinet Alpha Confidentiel"  # noqa: S105 (a clinic name, not a password)
ROLES = ("owner", "practitioner", "secretary")
ANY_MEMBER = ("*",)
STAFF = ROLES
CORE = "core"
SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
WS = "WS"  # the "method" of a WebSocket route's key: "WS /path"
FOREIGN_ORIGIN = "https://attacker.example"
BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Row:
    """Who may call one route: `allowed` roles (ANY_MEMBER = every member of the clinic), sample
    path `params` and form `body`, the answers `ok` meaning "let through" for the allowed role,
    `foreign`: path params naming clinic A's own objects for the other-clinic check, and for a
    WebSocket route `opens`: the participants whose handshake on `params` opens (default: every
    one `allowed`; fewer when the object's own rule refuses a role the permission lets through)."""

    allowed: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    ok: tuple[int, ...] = (200, 303)
    foreign: dict[str, Any] | None = None
    opens: tuple[str, ...] | None = None  # WebSocket: who opens it with `params` (default: `allowed`)


def route_keys(app: Any) -> dict[str, Any]:
    """"METHOD /path" -> handler for every route of the app (the OpenAPI schema left out);
    WebSocket routes are "WS /path"."""
    from litestar.routes import WebSocketRoute

    found = {}
    for route in app.routes:
        if route.path.startswith("/schema"):
            continue  # the OpenAPI document describes the API; it holds no data
        if isinstance(route, WebSocketRoute):
            found[f"{WS} {route.path}"] = route.route_handler
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", ()):
                if method != "OPTIONS":
                    found[f"{method} {route.path}"] = handler
    return found


def plugin_of(key: str, plugins: Iterable[str]) -> str:
    """The plugin a route belongs to, from where core mounts plugin routes; "core" otherwise."""
    path = key.split(" ", 1)[1]
    for name in plugins:
        for prefix in (f"/{name}", f"/api/v1/{name}", f"/p/{{clinic_slug:str}}/{name}", f"/static/{name}"):
            if path == prefix or path.startswith(prefix + "/"):
                return name
    return CORE


def table_names(db: Any) -> list[str]:
    with db.engine.connect() as conn:
        return sorted(sa.inspect(conn).get_table_names())


def snapshot(db: Any, settings: Any, tables: list[str] | None = None) -> dict[str, Any]:
    """What "nothing changed" compares: row counts of every table (`tables`, default: read from
    the database), the content of the clinic, membership and user tables, and the mail and SMS
    folders."""
    tables = tables if tables is not None else table_names(db)
    with db.engine.connect() as conn:
        # one round trip for every count (a snapshot is taken twice per refused request)
        union = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)  # noqa: S608
        counts: dict[str, Any] = dict(conn.execute(sa.text(union)).all())
        for t in ("core_clinic_plugin", "core_membership", "core_user"):
            if t in tables:
                counts[f"{t}:rows"] = sorted(map(str, conn.execute(sa.text(f'SELECT * FROM "{t}"')).all()))  # noqa: S608
    counts.pop("core_session", None)
    counts.pop("core_login_attempt", None)
    sent = {}
    for name in ("mail_dir", "sms_dir"):
        folder = getattr(settings, name, None)
        sent[name] = sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder and folder.exists() else []
    return {"db": counts, "sent": sent}


def fill_path(template: str, params: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise KeyError(f"{template}: no sample value for path parameter {name!r} (add it to the row)")
        return str(params[name])

    return re.sub(r"\{([a-z_]+):[a-z]+\}", value, template)


def denied(response: Any, anonymous: bool, api: bool) -> bool:
    if anonymous:
        if api:
            return response.status_code == 401 and response.headers["content-type"].startswith("application/json")
        return response.status_code == 303 and response.headers["location"].startswith("/login")
    return response.status_code in (403, 404)


class AuthorizationMatrix:
    """Clinic A (owner, practitioner, secretary), clinic B (one member with every role) and an
    anonymous visitor, each with a logged-in client; `check()` walks the routes."""

    def __init__(self, app: Any, db: Any, settings: Any, clients: dict[str, Any], tokens: dict[str, str],
                 ctx: dict[str, Any], clinics: dict[str, Any], users: dict[str, Any]) -> None:
        self.app = app
        self.users = users
        self._tables: list[str] | None = None
        self.db = db
        self.settings = settings
        self.clients = clients
        self.tokens = tokens
        self.ctx = ctx
        self.clinics = clinics

    # --- helpers a test may use too ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        if self._tables is None:
            self._tables = table_names(self.db)
        return snapshot(self.db, self.settings, self._tables)

    def call(self, who: str, method: str, path: str, body: dict[str, Any] | None = None,
             csrf: str | None = "session") -> Any:
        """A request as `who`; `csrf` is "session" (the client's own token), None or a token."""
        client = self.clients[who]
        headers = {}
        token = self.tokens.get(who) if csrf == "session" else csrf
        if token and method not in SAFE:
            headers["X-CSRF-Token"] = token
        if method in SAFE:
            return client.request(method, path, headers=headers, follow_redirects=False)
        return client.request(method, path, data=body or {}, headers=headers, follow_redirects=False)

    def resolve(self, values: dict[str, Any] | None) -> dict[str, Any] | None:
        if values is None:
            return None
        return {k: self.ctx.get(v, v) if isinstance(v, str) else v for k, v in values.items()}

    # --- the contract -----------------------------------------------------------------------------

    def routes_under_test(self, plugins: Iterable[str]) -> dict[str, Any]:
        chosen = set(plugins)
        installed = self.app.state["carnet"].host.names
        return {k: h for k, h in route_keys(self.app).items() if plugin_of(k, installed) in chosen}

    def coverage(self, rows: dict[str, Row], public: set[str], plugins: Iterable[str]) -> list[str]:
        """Every route of the plugins under test has a row (or is public), every row a route, and
        PUBLIC agrees with each route's declared permission."""
        from carnet_core.contrib import PUBLIC as PUBLIC_PERMISSION

        keys = self.routes_under_test(plugins)
        problems = []
        missing = sorted(k for k in keys if k not in rows and k not in public)
        if missing:
            problems.append(f"routes without an authorization row (add them to the rows or to PUBLIC): {missing}")
        sockets = sorted(k for k in keys if k.startswith(f"{WS} ") and k in public and k not in rows)
        if sockets:
            problems.append(f"public WebSocket routes without a row naming who opens them: {sockets}")
        stale = sorted(k for k in [*rows, *public] if k not in keys)
        if stale:
            problems.append(f"rows for routes that do not exist (or belong to no plugin under test): {stale}")
        for key, handler in keys.items():
            if (handler.opt.get("permission") == PUBLIC_PERMISSION) != (key in public):
                problems.append(f"{key}: PUBLIC and the route's permission disagree")
        return problems

    def check(self, rows: dict[str, Row], public: Iterable[str] = (), plugins: Iterable[str] = (CORE,)) -> None:
        plugins = list(plugins)
        public = set(public)
        failures = self.coverage(rows, public, plugins)
        state = self.app.state["carnet"]
        for key, handler in sorted(self.routes_under_test(plugins).items()):
            method, template = key.split(" ", 1)
            if method == WS and key in rows:
                failures += self._socket(key, template, rows[key], state.permissions.get(handler.opt.get("permission")),
                                         key in public)
                continue
            if key in public:
                if method not in SAFE:
                    failures += self._public_unsafe(key, method, template)
                continue
            if key not in rows:
                continue
            row = rows[key]
            perm = state.permissions.get(handler.opt.get("permission"))
            holders = set(perm.roles) if perm else set(ROLES)
            if row.allowed != ANY_MEMBER and set(row.allowed) != holders:
                failures.append(f"{key}: row roles {sorted(row.allowed)} differ from the permission's "
                                f"{sorted(holders)}")
                continue
            failures += self._route(key, method, template, row, holders)
        assert not failures, "\n".join(failures)

    def _unchanged(self, key: str, who: str, call: Any, expect: Any) -> list[str]:
        before = self.snapshot()
        response = call()
        problems = []
        if not expect(response):
            got = "opened" if response is True else response.status_code
            problems.append(f"{key} as {who}: {got}, expected a refusal")
        if self.snapshot() != before:
            problems.append(f"{key} as {who}: refused but something changed (a row, the outbox, mail or SMS)")
        return problems

    def _route(self, key: str, method: str, template: str, row: Row, holders: set[str]) -> list[str]:
        params, body = self.resolve(row.params) or {}, self.resolve(row.body)
        path = fill_path(template, params)
        api = template.startswith("/api/")
        failures = []
        for who in ["anonymous", *(r for r in ROLES if r not in holders)]:
            anonymous = who == "anonymous"
            failures += self._unchanged(key, who, lambda w=who: self.call(w, method, path, body),
                                        lambda r, a=anonymous: denied(r, a, api))

        # a member of clinic B: never A's data; A's objects are out of reach, also for writes
        foreign = self.resolve(row.foreign) if row.foreign is not None else params
        foreign_path = fill_path(template, foreign)
        if method in SAFE:
            response = self.call("other-clinic", method, foreign_path, body)
            if SECRET_NAME in response.text:
                failures.append(f"{key}: clinic A's data shown to a member of clinic B")
            if row.foreign is not None and response.status_code not in (403, 404):
                failures.append(f"{key} as other-clinic on clinic A's object: {response.status_code}")
        elif row.foreign is not None:
            failures += self._unchanged(key, "other-clinic on clinic A's object",
                                        lambda: self.call("other-clinic", method, foreign_path, body),
                                        # 400: the sample body was refused first (an API
                                        # expecting JSON); nothing changed either way
                                        lambda r: r.status_code in (400, 403, 404) and SECRET_NAME not in r.text)

        allowed_role = next(r for r in ROLES if r in holders)
        if method not in SAFE:  # CSRF: missing, forged, another session's
            for label, token in (("no CSRF token", None), ("a forged CSRF token", secrets.token_urlsafe(32)),
                                 ("another session's CSRF token", self.tokens["other-clinic"])):
                failures += self._unchanged(key, f"{allowed_role} with {label}",
                                            lambda t=token: self.call(allowed_role, method, path, body, csrf=t),
                                            lambda r: r.status_code == 403)
        response = self.call(allowed_role, method, path, body)
        if response.status_code not in row.ok:
            failures.append(f"{key} as {allowed_role}: {response.status_code}, expected one of {row.ok}")
        return failures

    # --- WebSocket routes -------------------------------------------------------------------------

    def add_client(self, name: str) -> Any:
        """A new participant beyond the members (e.g. "patient-link", to be given a patient's link
        and the cookies its page sets), for the WebSocket rows that name it in `Row.allowed`; the
        client is returned, closed with the others."""
        from litestar.testing import TestClient

        client = TestClient(app=self.app, base_url=BASE_URL)
        client.__enter__()
        self.clients[name] = client
        return client

    def handshake(self, who: str, path: str, origin: str | None = None) -> bool:
        """Whether `who`'s WebSocket handshake on `path` opens (sent from the app's own origin, as a
        browser on our page does, unless `origin` is given). A socket closed before it is accepted
        is refused; one that opened is closed at once, and this returns once its handler finished
        (what it writes on leaving is written before the next snapshot)."""
        from litestar.exceptions import WebSocketDisconnect
        from litestar.testing import TestClient

        client = self.clients[who]
        # a client of its own, not entered: its portal, closed with the socket, waits for the handler
        transient = TestClient(app=self.app, base_url=BASE_URL, cookies=client.cookies)
        try:
            with transient.websocket_connect(path, headers={"origin": origin or BASE_URL}):
                return True
        except WebSocketDisconnect:
            return False

    def _socket(self, key: str, template: str, row: Row, perm: Any, public: bool) -> list[str]:
        holders = set() if public else set(perm.roles) if perm else set(ROLES)
        roles = set(ROLES) if row.allowed == ANY_MEMBER else set(row.allowed) & set(ROLES)
        if roles != holders:
            return [f"{key}: row roles {sorted(roles)} differ from the permission's {sorted(holders)}"]
        extra = [w for w in self.clients if w not in ROLES and w not in ("anonymous", "other-clinic")]
        unknown = set(row.allowed) - set(ROLES) - set(extra) - set(ANY_MEMBER)
        if unknown:
            return [f"{key}: no client for {sorted(unknown)} (register it with add_client)"]
        path = fill_path(template, self.resolve(row.params) or {})
        allowed = set(row.opens) if row.opens is not None else roles | (set(row.allowed) - set(ROLES))
        failures = []
        for who in ["anonymous", *ROLES, *extra]:  # refusals first: an open socket may write on leaving
            if who not in allowed:
                failures += self._unchanged(key, who, lambda w=who: self.handshake(w, path), lambda opened: not opened)
        if row.foreign is not None:  # clinic B's member on clinic A's object (elsewhere, their own clinic)
            foreign = fill_path(template, self.resolve(row.foreign) or {})
            failures += self._unchanged(key, "other-clinic on clinic A's object",
                                        lambda: self.handshake("other-clinic", foreign), lambda opened: not opened)
        for who in [*ROLES, *extra]:
            if who in allowed:
                failures += self._unchanged(key, f"{who} from another site's page",
                                            lambda w=who: self.handshake(w, path, FOREIGN_ORIGIN),
                                            lambda opened: not opened)
                if not self.handshake(who, path):
                    failures.append(f"{key} as {who}: the socket did not open, and the row allows it")
        return failures

    def _public_unsafe(self, key: str, method: str, template: str) -> list[str]:
        params = {name: self.ctx.get(f"__{name}__", 999999 if kind == "int" else "x" * 43)
                  for name, kind in re.findall(r"\{([a-z_]+):([a-z]+)\}", template)}
        path = fill_path(template, params)
        return self._unchanged(key, "anonymous without a CSRF token",
                               lambda: self.call("anonymous", method, path, {}, csrf=None),
                               lambda r: r.status_code == 403)


@pytest.fixture
def authorization_matrix(app: Any, make_clinic: Any, staff: Any, carnet_db: Any, carnet_settings: Any,
                         plugin_host: Any) -> Iterator[AuthorizationMatrix]:
    """Clinic A ("alpha", named SECRET_NAME) with an owner, a practitioner and a secretary;
    clinic B ("beta") with one member holding every role; an anonymous client. Every plugin is
    enabled in both clinics."""
    from litestar.testing import TestClient

    from carnet_core.testing.identity import login_as

    clinic_a = make_clinic("alpha", SECRET_NAME)
    clinic_b = make_clinic("beta", "Cabinet Beta")
    users = {role: staff(role, clinic=clinic_a) for role in ROLES}
    users["other-clinic"] = staff(",".join(ROLES), clinic=clinic_b)
    clients: dict[str, Any] = {}
    tokens: dict[str, str] = {}
    for name in ["anonymous", *users]:
        clients[name] = TestClient(app=app, base_url=BASE_URL)
        clients[name].__enter__()
        if name in users:
            tokens[name] = login_as(clients[name], carnet_db, users[name], send_csrf=False)
    ctx: dict[str, Any] = {
        "__clinic_a__": str(clinic_a.id), "__clinic_slug__": clinic_a.slug,
        "__first_plugin__": (plugin_host.names or ["none"])[0],
    }
    yield AuthorizationMatrix(app, carnet_db, carnet_settings, clients, tokens, ctx,
                              {"a": clinic_a, "b": clinic_b}, users)
    for client in reversed(list(clients.values())):  # last entered, first left (each ran the lifespan)
        client.__exit__(None, None, None)
