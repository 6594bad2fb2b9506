"""CSRF for anonymous visitors: the token is bound to the visitor's own cookie (issue 16, class 5).

On the login form, the password-reset forms and a public patient form: two visitors get different
tokens, and one visitor's token is refused with another visitor's cookie, changing nothing;
the visitor's own token is accepted (so the refusals are the binding, not a broken form).
"""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from litestar.testing import TestClient

from carnet_core.identity.csrf import anonymous_token
from carnet_core.identity.keys import IdentityKeys
from carnet_core.identity.models import User
from carnet_core.testing.identity import csrf_token
from carnet_core.testing.matrix import snapshot

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def visitors(app):
    """Two anonymous browsers with cookie jars of their own."""
    with TestClient(app=app, base_url=BASE) as one, TestClient(app=app, base_url=BASE) as two:
        yield one, two


def _cookie(client) -> str:
    (value,) = [v for k, v in client.cookies.items() if k.endswith("carnet_csrf")]
    return value


def _tokens(visitors, path):
    one, two = visitors
    first, second = csrf_token(one, path), csrf_token(two, path)
    assert _cookie(one) != _cookie(two)
    assert first != second, f"two visitors of {path} got the same CSRF token"
    # a reload keeps the visitor's token (it is their cookie's, not the page's)
    assert csrf_token(one, path) == first
    return first, second


def _post_with_foreign_token(visitors, path, data, foreign_token, carnet_db, carnet_settings):
    """Visitor two posts visitor one's token: refused, nothing changed, still anonymous."""
    _, two = visitors
    before = snapshot(carnet_db, carnet_settings)
    response = two.post(path, data={**data, "_csrf_token": foreign_token}, follow_redirects=False)
    assert response.status_code == 403, f"{path}: {response.status_code} with another visitor's token"
    response = two.post(path, data=data, headers={"X-CSRF-Token": foreign_token}, follow_redirects=False)
    assert response.status_code == 403, f"{path}: {response.status_code} with another visitor's token (header)"
    assert snapshot(carnet_db, carnet_settings) == before
    assert not [k for k in two.cookies if k.endswith("carnet_session")]


def test_login_tokens_are_per_visitor(visitors, staff, carnet_db, carnet_settings):
    user = staff("owner")
    first, second = _tokens(visitors, "/login")
    data = {"email": user.email, "password": user.password}
    _post_with_foreign_token(visitors, "/login", data, first, carnet_db, carnet_settings)
    # the visitor's own token passes (the password step answers with the second-factor page)
    own = visitors[1].post("/login", data={**data, "_csrf_token": second}, follow_redirects=False)
    assert own.status_code == 303 and own.headers["location"].startswith("/login/totp")


def test_a_token_without_its_cookie_or_with_a_malformed_cookie_is_refused(app, visitors, staff):
    user = staff("owner")
    one, _ = visitors
    token = csrf_token(one, "/login")
    data = {"email": user.email, "password": user.password, "_csrf_token": token}
    with TestClient(app=app, base_url=BASE) as fresh:  # no cookie at all
        assert fresh.post("/login", data=data, follow_redirects=False).status_code == 403
    with TestClient(app=app, base_url=BASE) as odd:  # a cookie the server never made (too short)
        refused = odd.post("/login", data=data, headers={"Cookie": "carnet_csrf=abc"}, follow_redirects=False)
        assert refused.status_code == 403
        # a malformed cookie is replaced by a fresh one, with a token of its own
        replaced = odd.get("/login", headers={"Cookie": "carnet_csrf=abc"})
        assert re.search(r"carnet_csrf=[A-Za-z0-9_-]{32,}", replaced.headers.get("set-cookie", ""))


def test_password_forgot_tokens_are_per_visitor(visitors, staff, carnet_db, carnet_settings):
    user = staff("owner")
    first, second = _tokens(visitors, "/password/forgot")
    _post_with_foreign_token(visitors, "/password/forgot", {"email": user.email}, first, carnet_db, carnet_settings)
    own = visitors[1].post("/password/forgot", data={"email": user.email, "_csrf_token": second})
    assert own.status_code == 200


def test_password_reset_tokens_are_per_visitor_and_the_password_stays(visitors, staff, carnet_db, carnet_settings):
    from carnet_core.identity import services

    user = staff("owner")
    with carnet_db.session(unscoped=True) as db:
        raw = services.create_link(db, user.id, "reset")
        before = db.get(User, user.id)
        hashed, changed_at = before.password_hash, before.password_changed_at
    path = f"/password/reset/{raw}"
    first, _ = _tokens(visitors, path)
    new = "la glycine fleurit en avril"
    data = {"password": new, "confirm": new, "code": user.totp().now()}
    _post_with_foreign_token(visitors, path, data, first, carnet_db, carnet_settings)
    with carnet_db.session(unscoped=True) as db:
        after = db.get(User, user.id)
        assert (after.password_hash, after.password_changed_at) == (hashed, changed_at)
    assert visitors[1].get(path).status_code == 200  # the link was not spent


def test_a_public_patient_form_token_is_per_visitor(visitors, make_clinic, carnet_db, carnet_settings):
    clinic = make_clinic("cabinet-public")  # every installed plugin enabled
    path = f"/p/{clinic.slug}/scheduling/waitlist"
    if visitors[0].get(path).status_code == 404:
        pytest.skip("the scheduling plugin is not installed")
    first, second = _tokens(visitors, path)
    _post_with_foreign_token(visitors, path, {"last_name": "Martin", "email": "lea@example.org"}, first,
                             carnet_db, carnet_settings)
    own = visitors[1].post(path, data={"_csrf_token": second}, follow_redirects=False)
    assert own.status_code != 403  # the form itself answers (its own validation)
    assert re.search(r"<form", own.text)


# --- where the token is read from, and whose it is ---------------------------------------------


def test_the_token_is_found_in_a_multipart_form_and_the_cookie_among_others(app, visitors, staff):
    """A multipart form (file uploads) carries the token like a urlencoded one; the CSRF cookie is
    found wherever it stands in the Cookie header, next to other cookies."""
    user = staff("owner")
    one, _ = visitors
    token = csrf_token(one, "/login")
    value = _cookie(one)
    data = {"email": user.email, "password": user.password}
    refused = one.post("/login", data=data, files={"attachment": ("note.txt", b"x")}, follow_redirects=False)
    assert refused.status_code == 403
    passed = one.post("/login", data={**data, "_csrf_token": token}, files={"attachment": ("note.txt", b"x")},
                      follow_redirects=False)
    assert passed.status_code != 403, passed.text
    for header in (f"carnet_csrf={value}", f"theme=dark; carnet_csrf={value}; lang=fr", f"lang=fr;carnet_csrf={value}",
                   f"x_carnet_csrf=abcdefghijklmnopqrstuvwxyz0123456789AB; carnet_csrf={value}"):
        with TestClient(app=app, base_url=BASE) as bare:
            answer = bare.post("/login", data={**data, "_csrf_token": token}, headers={"Cookie": header},
                               follow_redirects=False)
            assert answer.status_code == 303, (header, answer.status_code)
    with TestClient(app=app, base_url=BASE) as bare:  # only the cookie of that exact name counts
        answer = bare.post("/login", data={**data, "_csrf_token": token}, headers={"Cookie": f"x_carnet_csrf={value}"},
                           follow_redirects=False)
        assert answer.status_code == 403


def test_a_logged_in_member_uses_the_sessions_token_never_a_cookie_bound_one(client, staff, login_as):
    """Once logged in, the token is the server-side session's: the anonymous token of the login
    page is refused, and the session's token works without any CSRF cookie."""
    anonymous = csrf_token(client, "/login")
    session_token = login_as(client, staff("owner"), send_csrf=False)
    assert session_token != anonymous
    assert client.post("/logout", headers={"X-CSRF-Token": anonymous}, follow_redirects=False).status_code == 403
    assert client.get("/api/v1/me").status_code == 200
    for name in [k for k in client.cookies if k.endswith("carnet_csrf")]:
        client.cookies.delete(name)
    assert client.post("/logout", headers={"X-CSRF-Token": session_token}, follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_a_refused_api_call_says_why_and_static_files_set_no_cookie(client, staff, login_as):
    login_as(client, staff("owner"), send_csrf=False)
    refused = client.post("/api/v1/patients", json={"last_name": "Martin", "first_name": "Léa"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "CSRF token missing or invalid; reload the page and try again"
    with TestClient(app=client.app, base_url=BASE) as fresh:
        asset = fresh.get("/static/vendor/htmx.min.js")
        assert asset.status_code == 200 and "set-cookie" not in asset.headers
        assert "set-cookie" in fresh.get("/login").headers


def test_the_anonymous_token_is_the_identity_key_mac_of_the_cookie_under_the_csrf_label():
    # pinned: HMAC-SHA256 under the identity MAC key of "csrf", NUL, the cookie; the label keeps a
    # CSRF token from ever equalling the MAC the same key makes of the same value for another use
    keys = IdentityKeys(mac_key=b"k" * 32, seal_key=b"s" * 32)
    cookie = "c" * 43
    expected = hmac.new(b"k" * 32, b"csrf\x00" + cookie.encode(), hashlib.sha256).hexdigest()
    assert anonymous_token(keys, cookie) == expected
    assert anonymous_token(keys, cookie) not in {keys.mac(label, cookie) for label in ("device", "CSRF", "")}
