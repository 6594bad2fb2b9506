"""Login with a mandatory second factor, sessions, cookies and CSRF (issue 3, acceptance 1 and 2)."""

import re
import time
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from carnet_core.identity import services
from carnet_core.identity.models import LoginSession, User
from carnet_core.testing.identity import csrf_token
from carnet_core.testing.plugin import make_settings
from carnet_core.web.app import create_app


def _password_step(client, email, password):
    token = csrf_token(client, "/login")
    return client.post(
        "/login", data={"email": email, "password": password, "_csrf_token": token}, follow_redirects=False
    )


def _sessions(carnet_db, stage=None):
    with carnet_db.session(unscoped=True) as db:
        query = sa.select(LoginSession)
        if stage:
            query = query.where(LoginSession.stage == stage)
        return db.execute(query).scalars().all()


def test_correct_password_alone_never_yields_a_session(client, staff, carnet_db):
    user = staff("practitioner")
    response = _password_step(client, user.email, user.password)
    assert response.status_code == 303 and response.headers["location"] == "/login/totp"
    # the cookie now names a pending second-factor step, which authenticates nothing
    assert client.get("/account", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me").status_code == 401
    assert [s.stage for s in _sessions(carnet_db)] == ["mfa"]


def test_wrong_totp_code_gives_no_session_and_pending_step_dies_after_five_failures(client, staff, carnet_db):
    user = staff("owner")
    _password_step(client, user.email, user.password)
    token = csrf_token(client, "/login/totp")
    for _ in range(5):
        r = client.post("/login/totp", data={"code": "000000", "_csrf_token": token}, follow_redirects=False)
        assert r.status_code == 400
    assert _sessions(carnet_db) == []
    r = client.post("/login/totp", data={"code": user.totp().now(), "_csrf_token": token}, follow_redirects=False)
    assert r.headers["location"] == "/login"
    assert client.get("/api/v1/me").status_code == 401


def test_full_login_gives_a_new_session_id_and_me_answers(client, staff, login_as, carnet_db, clinic):
    user = staff("owner,practitioner", name="Marie Curie")
    _password_step(client, user.email, user.password)
    pending_cookie = client.cookies.get("carnet_session")
    login_as(client, user)
    assert client.cookies.get("carnet_session") != pending_cookie
    assert [s.stage for s in _sessions(carnet_db)] == ["full"]
    me = client.get("/api/v1/me").json()
    assert me["email"] == user.email and me["roles"] == ["owner", "practitioner"]
    assert me["clinic"] == {"id": clinic.id, "slug": clinic.slug, "name": clinic.name}


def test_totp_code_cannot_be_replayed(client, staff, carnet_db):
    user = staff("owner")
    code = user.totp().now()
    for expected in (303, 400):
        _password_step(client, user.email, user.password)
        token = csrf_token(client, "/login/totp")
        r = client.post("/login/totp", data={"code": code, "_csrf_token": token}, follow_redirects=False)
        assert r.status_code == expected


def test_recovery_code_logs_in_once(client, staff):
    user = staff("secretary")
    code = user.recovery_codes[0]
    for expected in (303, 400):
        client.cookies.clear()
        _password_step(client, user.email, user.password)
        token = csrf_token(client, "/login/totp")
        r = client.post("/login/totp", data={"code": code, "_csrf_token": token}, follow_redirects=False)
        assert r.status_code == expected


def _age_sessions(carnet_db, **fields):
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.update(LoginSession).values(**fields))


def test_idle_session_expires_after_30_minutes(client, staff, login_as, carnet_db):
    login_as(client, staff("owner"))
    now = services.utcnow()
    _age_sessions(carnet_db, last_seen_at=now - timedelta(minutes=29))
    assert client.get("/api/v1/me").status_code == 200
    _age_sessions(carnet_db, last_seen_at=now - timedelta(minutes=31))
    assert client.get("/api/v1/me").status_code == 401
    assert _sessions(carnet_db) == []


def test_absolute_session_lifetime_is_12_hours_even_when_active(client, staff, login_as, carnet_db):
    login_as(client, staff("owner"))
    now = services.utcnow()
    _age_sessions(carnet_db, created_at=now - timedelta(hours=11, minutes=59), last_seen_at=now)
    assert client.get("/api/v1/me").status_code == 200
    _age_sessions(carnet_db, created_at=now - timedelta(hours=12, minutes=1), last_seen_at=now)
    assert client.get("/api/v1/me").status_code == 401


def test_logout_invalidates_the_session_server_side(client, staff, login_as):
    login_as(client, staff("owner"))
    stolen = client.cookies.get("carnet_session")
    assert client.post("/logout", follow_redirects=False).status_code == 303
    client.cookies.set("carnet_session", stolen)
    assert client.get("/api/v1/me").status_code == 401


def test_password_change_ends_other_sessions_and_renews_this_one(app, staff, login_as):
    user = staff("owner")
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as a, \
         TestClient(app=app, base_url="http://127.0.0.1:8000") as b:
        login_as(a, user)
        login_as(b, user)
        old = a.cookies.get("carnet_session")
        r = a.post("/account/password", data={
            "current": user.password, "password": "nouvelle phrase secrète du cabinet", "confirm":
            "nouvelle phrase secrète du cabinet",
        })
        assert r.status_code == 200
        assert a.cookies.get("carnet_session") != old
        assert a.get("/api/v1/me").status_code == 200
        assert b.get("/api/v1/me").status_code == 401


def test_disabling_an_account_ends_its_sessions(client, staff, login_as, carnet_db):
    user = staff("owner")
    login_as(client, user)
    with carnet_db.session(unscoped=True) as db:
        services.disable_user(db, db.get(User, user.id), actor="system:test")
    assert client.get("/api/v1/me").status_code == 401
    client.cookies.clear()
    assert _password_step(client, user.email, user.password).status_code == 400


def test_factor_change_ends_sessions(client, staff, login_as, carnet_db, carnet_settings):
    from carnet_core.identity.keys import IdentityKeys

    user = staff("owner")
    login_as(client, user)
    keys = IdentityKeys.from_settings(carnet_settings)
    with carnet_db.session(unscoped=True) as db:
        row = db.get(User, user.id)
        secret = services.start_totp_enrollment(db, keys, row)
        import pyotp

        assert services.confirm_totp_enrollment(db, keys, row, pyotp.TOTP(secret).now())
    assert client.get("/api/v1/me").status_code == 401


def test_session_cookie_attributes_on_plain_http_localhost(client, staff, login_as):
    user = staff("owner")
    _password_step(client, user.email, user.password)
    token = csrf_token(client, "/login/totp")
    r = client.post("/login/totp", data={"code": user.totp().now(), "_csrf_token": token}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("carnet_session=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/" in cookie
    assert "Max-Age" not in cookie and "Domain" not in cookie


@pytest.fixture
def https_app(tmp_path, plugin_host, carnet_db):
    settings = make_settings(
        tmp_path / "https-home", carnet_db.url, env={"CARNET_BASE_URL": "https://carnet.example.fr"}
    )
    return create_app(settings, host=plugin_host, db=carnet_db)


def test_session_cookie_is_host_prefixed_and_secure_over_https(https_app, carnet_db, carnet_settings, clinic):
    from carnet_core.testing.identity import make_staff

    user = make_staff(carnet_db, https_app.state["carnet"].settings, "owner", clinic)
    with TestClient(app=https_app, base_url="https://carnet.example.fr") as c:
        login_page = c.get("/login")
        assert "__Host-carnet_csrf=" in login_page.headers["set-cookie"]
        assert "Secure" in login_page.headers["set-cookie"]
        r = _password_step(c, user.email, user.password)
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("__Host-carnet_session=")
        for attribute in ("secure", "httponly", "samesite=lax", "path=/"):
            assert attribute in cookie.lower()
        assert "Domain" not in cookie


def test_csrf_token_is_required_for_a_form_post(client, staff, login_as, carnet_db):
    user = staff("owner")
    token = login_as(client, user, send_csrf=False)
    with carnet_db.session(unscoped=True) as db:
        before = db.get(User, user.id)
        stored = (before.password_hash, before.password_changed_at)
    data = {"current": user.password, "password": "nouvelle phrase secrète", "confirm": "nouvelle phrase secrète"}
    assert client.post("/account/password", data=data).status_code == 403
    assert client.post("/account/password", data={**data, "_csrf_token": "forged"}).status_code == 403
    # the password did NOT change: same hash, same date, the session kept, the old password still valid
    with carnet_db.session(unscoped=True) as db:
        after = db.get(User, user.id)
        assert (after.password_hash, after.password_changed_at) == stored
        assert len(_sessions(carnet_db)) == 1
    assert client.get("/api/v1/me").status_code == 200
    with TestClient(app=client.app, base_url="http://127.0.0.1:8000") as other:
        assert _password_step(other, user.email, user.password).status_code == 303
    # and the same request with the session's token does change it (the refusals were the CSRF check)
    assert client.post("/account/password", data={**data, "_csrf_token": token}).status_code in (200, 303)
    with carnet_db.session(unscoped=True) as db:
        assert db.get(User, user.id).password_hash != stored[0]


def test_csrf_token_is_required_for_an_htmx_post(client, staff, login_as):
    user = staff("owner")
    token = login_as(client, user, send_csrf=False)
    htmx = {"HX-Request": "true"}
    assert client.post("/logout", headers=htmx, follow_redirects=False).status_code == 403
    assert client.get("/api/v1/me").status_code == 200
    r = client.post("/logout", headers={**htmx, "X-CSRF-Token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_anonymous_login_form_needs_its_signed_token(client, staff):
    user = staff("owner")
    r = client.post("/login", data={"email": user.email, "password": user.password}, follow_redirects=False)
    assert r.status_code == 403
    csrf_token(client, "/login")  # sets the cookie
    r = client.post(
        "/login", data={"email": user.email, "password": user.password, "_csrf_token": "x" * 64},
        follow_redirects=False,
    )
    assert r.status_code == 403


# Production hashing cost (64 MiB): the timing comparison is only meaningful at the real cost.
@pytest.mark.parametrize("carnet_env", [{"CARNET_PASSWORD_HASH_MEMORY_KIB": "65536"}], indirect=True)
def test_login_answers_identically_for_unknown_and_known_accounts(client, staff, carnet_settings):
    assert carnet_settings.password_hash_memory_kib == 64 * 1024
    user = staff("owner")
    with client.app.state["carnet"].db.session(unscoped=True) as db:
        stored = db.get(User, user.id).password_hash
    assert "$m=65536," in stored
    known = _password_step(client, user.email, "not the right password at all")
    unknown = _password_step(client, "nobody@cabinet.test", "not the right password at all")
    assert known.status_code == unknown.status_code == 400
    assert known.text.replace(user.email, "E") == unknown.text.replace("nobody@cabinet.test", "E")
    assert set(known.headers) == set(unknown.headers)

    def timed(email):
        start = time.perf_counter()
        _password_step(client, email, "not the right password at all")
        return time.perf_counter() - start

    # Interleaved pairs, median ratio: robust to a busy machine. Skipping the hash for unknown
    # accounts would make the ratio 10x or more; both paths pay one argon2 verification.
    ratios = sorted(timed(user.email) / timed(f"nobody{i}@cabinet.test") for i in range(3))
    assert 1 / 3 < ratios[1] < 3


def test_rate_limit_per_account_holds_even_with_the_right_password(client, staff):
    user = staff("owner")
    for _ in range(services.ACCOUNT_LIMIT):
        assert _password_step(client, user.email, "wrong password again and again").status_code == 400
    assert _password_step(client, user.email, user.password).status_code == 429
    # an unknown account is limited the same way: nothing tells them apart
    for _ in range(services.ACCOUNT_LIMIT):
        _password_step(client, "ghost@cabinet.test", "wrong password again and again")
    limited = _password_step(client, "ghost@cabinet.test", "x")
    assert limited.status_code == 429


def test_rate_limit_per_address_holds_across_accounts(client, staff, carnet_db):
    user = staff("owner")
    for i in range(services.ADDRESS_LIMIT):
        _password_step(client, f"guess{i}@cabinet.test", "wrong password again and again")
    assert _password_step(client, user.email, user.password).status_code == 429
    # the limit lives in the database: a fresh app (another process) sees it too
    with carnet_db.session(unscoped=True) as db:
        assert db.execute(sa.text("SELECT count(*) FROM core_login_attempt")).scalar() >= 2 * services.ADDRESS_LIMIT


def _set_cookies(response) -> dict[str, dict]:
    """Every Set-Cookie of a response: name -> {"value", and each attribute lower-cased}."""
    from http.cookies import SimpleCookie

    found = {}
    for header in response.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            found[name] = {"value": morsel.value, "flags": {part.strip().lower() for part in header.split(";")[1:]},
                           **{k: v for k, v in morsel.items() if v}}
    return found


def _full_login_and_logout(client, user):
    """The cookies of the login page (the anonymous CSRF cookie), of the second-factor step
    (session and known-device cookies) and of logout."""
    page = _set_cookies(client.get("/login"))
    _password_step(client, user.email, user.password)
    token = csrf_token(client, "/login/totp")
    login = client.post("/login/totp", data={"code": user.totp().now(), "_csrf_token": token}, follow_redirects=False)
    assert login.status_code == 303, login.text
    token = csrf_token(client, "/account")
    logout = client.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert logout.status_code == 303
    return page, _set_cookies(login), _set_cookies(logout)


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_every_identity_cookie_is_http_only_same_site_and_secure_over_https(
    https, client, https_app, carnet_db, clinic, staff
):
    """The CSRF, session, known-device and logout cookies, attribute by attribute: a browser session
    cookie (no lifetime) HttpOnly SameSite=Lax, the known-device cookie HttpOnly SameSite=Strict
    kept for the policy's days, the logout cookie emptied at once; `__Host-` and Secure over HTTPS,
    neither on plain-HTTP localhost, never a Domain."""
    from carnet_core.identity.policy import KNOWN_DEVICE_DAYS
    from carnet_core.testing.identity import make_staff

    if https:
        user = make_staff(carnet_db, https_app.state["carnet"].settings, "owner", clinic)
        with TestClient(app=https_app, base_url="https://carnet.example.fr") as c:
            page, login, logout = _full_login_and_logout(c, user)
        prefix = "__Host-"
    else:
        page, login, logout = _full_login_and_logout(client, staff("owner"))
        prefix = ""
    session, device, cleared = login[f"{prefix}carnet_session"], login[f"{prefix}carnet_device"], \
        logout[f"{prefix}carnet_session"]
    csrf = page[f"{prefix}carnet_csrf"]
    for cookie, same_site in ((session, "lax"), (device, "strict"), (cleared, "lax"), (csrf, "lax")):
        assert cookie["path"] == "/" and "httponly" in cookie["flags"], cookie
        assert cookie["samesite"].lower() == same_site, cookie
        assert ("secure" in cookie["flags"]) is https, cookie
        assert "domain" not in cookie, cookie
    assert session["value"] and "max-age" not in session and "expires" not in session
    # the anonymous CSRF cookie: a browser-session cookie of at least 256 random bits, URL-safe
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,64}", csrf["value"]) and "max-age" not in csrf and "expires" not in csrf
    assert device["value"] and "max-age" not in device
    expires = parsedate_to_datetime(device["expires"]).timestamp()
    assert abs(expires - (time.time() + KNOWN_DEVICE_DAYS * 86400)) < 120, device["expires"]
    assert cleared["value"] == "" and cleared["max-age"] == "0"


# --- API tokens: the bearer authenticator ------------------------------------------------------


def _token(carnet_db, app, user, clinic, scopes=None):
    from carnet_core.identity.services import create_token

    with carnet_db.session(clinic_id=clinic.id) as db:
        raw, row = create_token(db, clinic.id, db.get(User, user.id), scopes=scopes, name="t",
                                permissions=app.state["carnet"].permissions)
        return raw, row.id


def test_an_api_token_acts_as_its_member_in_its_clinic_and_every_use_is_recorded(
    app, client, staff, carnet_db, clinic, make_clinic
):
    import json

    from carnet_core.audit.models import AuditRecord
    from carnet_core.identity.models import ApiToken, Membership

    user = staff("owner,practitioner", name="Marie Curie")
    other = make_clinic("autre-cabinet")
    with carnet_db.session(unscoped=True) as db:  # a member of another clinic too, as secretary
        db.add(Membership(clinic_id=other.id, user_id=user.id, roles="secretary"))
    raw, token_id = _token(carnet_db, app, user, clinic, scopes=["core.patients.view"])
    for header in (f"Bearer {raw}", f"bearer {raw}", f"BEARER   {raw}  "):
        me = client.get("/api/v1/me", headers={"Authorization": header})
        assert me.status_code == 200, (header, me.text)
        assert me.json() == {
            "id": user.id, "email": user.email, "display_name": "Marie Curie", "roles": ["owner", "practitioner"],
            "clinic": {"id": clinic.id, "slug": clinic.slug, "name": clinic.name}, "scopes": ["core.patients.view"],
        }
    for header in (f"Basic {raw}", "Bearer ", "Bearer", raw, f"Bearer {raw}x", f"Token {raw}"):
        assert client.get("/api/v1/me", headers={"Authorization": header}).status_code == 401, header
    with carnet_db.session(unscoped=True) as db:
        uses = db.exec(sa.select(AuditRecord).where(AuditRecord.resource_type == "api_token")).scalars().all()
        row = db.get(ApiToken, token_id)
        assert row.last_used_address == "testclient" and row.last_used_at is not None
    assert len(uses) == 3  # the refused headers authenticate nothing and record nothing
    for use in uses:
        assert (use.clinic_id, use.action, use.resource_id, use.actor_kind, use.actor_id, use.actor_user_id) == (
            clinic.id, "use", str(token_id), "token", str(token_id), user.id)
        assert json.loads(use.details) == {"method": "GET", "route": "/api/v1/me"}


def test_an_unscoped_token_holds_its_roles_permissions_and_writes_without_a_csrf_token(
    app, client, staff, login_as, carnet_db, clinic
):
    """A bearer token carries no cookie, so no CSRF token is asked; a session cookie without its
    CSRF token is refused on the same route."""
    writer = staff("owner,practitioner")
    raw, _ = _token(carnet_db, app, writer, clinic)
    bearer = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/me", headers=bearer).json()["scopes"] is None
    created = client.post("/api/v1/patients", headers=bearer, json={"last_name": "Martin", "first_name": "Léa"})
    assert created.status_code == 201, created.text
    # the same write from the member's logged-in browser without the session's CSRF token: refused
    login_as(client, writer, send_csrf=False)
    refused = client.post("/api/v1/patients", json={"last_name": "Martin", "first_name": "Léa"})
    assert refused.status_code == 403


def test_a_session_follows_its_member_to_another_clinic_when_removed_from_its_own(
    client, staff, login_as, carnet_db, clinic, make_clinic
):
    from carnet_core.identity.models import Membership

    user = staff("owner", name="Marie Curie")
    other = make_clinic("autre-cabinet")
    login_as(client, user)
    assert client.get("/api/v1/me").json()["clinic"]["id"] == clinic.id
    with carnet_db.session(unscoped=True) as db:
        db.add(Membership(clinic_id=other.id, user_id=user.id, roles="secretary"))
        db.exec(sa.update(Membership).where(Membership.user_id == user.id, Membership.clinic_id == clinic.id)
                .values(active=False))
    me = client.get("/api/v1/me").json()
    assert me["clinic"] == {"id": other.id, "slug": other.slug, "name": other.name}
    assert me["roles"] == ["secretary"] and me["display_name"] == "Marie Curie"
    assert [s.clinic_id for s in _sessions(carnet_db, "full")] == [other.id]  # the session moved for good
    # removed from every clinic: the session stays, in no clinic, and a member's route refuses it
    with carnet_db.session(unscoped=True) as db:
        db.exec(sa.update(Membership).where(Membership.user_id == user.id).values(active=False))
    assert client.get("/api/v1/me").status_code == 403
    assert [s.clinic_id for s in _sessions(carnet_db, "full")] == [None]


def test_a_session_stays_in_the_clinic_it_switched_to_not_the_members_first(
    client, staff, login_as, carnet_db, clinic, make_clinic
):
    # a member of two clinics whose session is in the one listed second (by name): each request
    # keeps it there, never moving it back to the first
    user = staff("owner")
    other = make_clinic("zz-cabinet", "Zz Cabinet")
    login_as(client, user)
    with carnet_db.session(unscoped=True) as db:
        services.set_membership(db, other.id, user.id, ("secretary",))
        assert [c.id for _, c in services.memberships_of(db, user.id)] == [clinic.id, other.id]
        assert services.switch_clinic(db, db.get(LoginSession, _sessions(carnet_db, "full")[0].id), other.id)
    for _ in range(2):
        me = client.get("/api/v1/me").json()
        assert (me["clinic"]["id"], me["roles"]) == (other.id, ["secretary"])
    assert [s.clinic_id for s in _sessions(carnet_db, "full")] == [other.id]
