"""Account lockout is not a weapon (issue 14, item 8): strangers who know a practitioner's e-mail
can slow down new devices, not lock the owner out of the devices they logged in from before;
refusals grow with each failure; the owner is told, once per window."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from carnet_core.identity import services
from carnet_core.identity.keys import IdentityKeys
from carnet_core.identity.mail import ALERT_ACTOR
from carnet_core.identity.models import LoginAttempt, User
from carnet_core.identity.policy import IdentityPolicy
from carnet_core.jobs.models import OutboxMessage
from carnet_core.jobs.testing import wait_for_jobs
from carnet_core.testing.identity import csrf_token

BASE = "http://127.0.0.1:8000"


def _password_step(client, email_address, password):
    token = csrf_token(client, "/login")
    return client.post(
        "/login", data={"email": email_address, "password": password, "_csrf_token": token}, follow_redirects=False,
    )


def _stranger_fails(app, email_address, times):
    """Another browser (no cookie of the owner) types wrong passwords."""
    with TestClient(app=app, base_url=BASE) as stranger:
        return [_password_step(stranger, email_address, f"wrong guess number {i}") for i in range(times)]


def _alerts(carnet_db):
    with carnet_db.session(unscoped=True) as db:
        return db.execute(
            sa.select(sa.func.count()).select_from(OutboxMessage).where(OutboxMessage.actor == ALERT_ACTOR)
        ).scalar()


def _rewind_failures(carnet_db, by):
    """As if the failures (and the notice) had happened `by` earlier."""
    with carnet_db.session(unscoped=True) as db:
        for row in db.execute(sa.select(LoginAttempt)).scalars():
            row.at = row.at - by
            db.add(row)


def test_strangers_failures_do_not_block_a_known_device_but_block_a_new_one(app, client, staff, login_as, carnet_db):
    user = staff("practitioner")
    login_as(client, user)  # this browser logs in once: it becomes a known device
    device_cookie = client.cookies.get("carnet_device")
    assert device_cookie and device_cookie.startswith(f"{user.id}.")
    client.post("/logout")
    statuses = [r.status_code for r in _stranger_fails(app, user.email, services.ACCOUNT_LIMIT + 2)]
    assert statuses == [400] * services.ACCOUNT_LIMIT + [429, 429]
    # a new device with the right password is refused, and told when to come back
    with TestClient(app=app, base_url=BASE) as new_device:
        refused = _password_step(new_device, user.email, user.password)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    # the known device logs in: right password, then a valid second factor
    client.headers.pop("X-CSRF-Token", None)
    login_as(client, user)
    assert client.get("/api/v1/me").json()["email"] == user.email


def test_the_known_device_still_needs_the_password_and_the_second_factor(app, client, staff, login_as, carnet_db):
    user = staff("owner")
    login_as(client, user)
    client.post("/logout")
    _stranger_fails(app, user.email, services.ACCOUNT_LIMIT)
    assert _password_step(client, user.email, "not my password").status_code == 400
    first = _password_step(client, user.email, user.password)
    assert first.status_code == 303 and first.headers["location"] == "/login/totp"
    assert client.get("/api/v1/me").status_code == 401  # a correct password alone is no session
    token = csrf_token(client, "/login/totp")
    wrong = client.post("/login/totp", data={"code": "000000", "_csrf_token": token}, follow_redirects=False)
    assert wrong.status_code == 400


def test_a_stolen_or_forged_device_cookie_does_not_lift_the_limit(app, client, staff, login_as, carnet_db):
    owner, other = staff("owner"), staff("practitioner")
    login_as(client, other)  # a real known-device cookie, but for another account
    other_cookie = client.cookies.get("carnet_device")
    client.post("/logout")
    _stranger_fails(app, owner.email, services.ACCOUNT_LIMIT)
    forged = f"{owner.id}." + other_cookie.split(".", 1)[1]  # the other's entry relabelled
    for cookie in (other_cookie, forged, f"{owner.id}.abcdefgh12345678.1.00"):
        with TestClient(app=app, base_url=BASE, cookies={"carnet_device": cookie}) as attacker:
            assert _password_step(attacker, owner.email, owner.password).status_code == 429


def test_a_password_change_forgets_every_known_device(app, client, staff, login_as, carnet_db, carnet_settings):
    user = staff("owner")
    login_as(client, user)
    keys = IdentityKeys.from_settings(carnet_settings)
    cookie = client.cookies.get("carnet_device")
    with carnet_db.session(unscoped=True) as db:
        row = db.get(User, user.id)
        assert services.known_device(keys, cookie, row) is not None
        services.set_password(db, row, "une toute nouvelle phrase secrète", IdentityPolicy.from_settings(carnet_settings))
    with carnet_db.session(unscoped=True) as db:
        assert services.known_device(keys, cookie, db.get(User, user.id)) is None


def test_refusals_grow_with_each_failure(carnet_db, carnet_settings, staff):
    user = staff("owner")
    keys = IdentityKeys.from_settings(carnet_settings)
    policy = IdentityPolicy.from_settings(carnet_settings)
    waits = []
    with carnet_db.session(unscoped=True) as db:
        for _ in range(policy.account_limit - 1):
            services.record_failure(db, keys, user.email, "203.0.113.9", policy)
        assert services.refusal(db, keys, user.email, "203.0.113.9", policy) is None  # typos are free
    for _ in range(5):
        with carnet_db.session(unscoped=True) as db:
            services.record_failure(db, keys, user.email, "203.0.113.9", policy)
            wait = services.refusal(db, keys, user.email, "203.0.113.9", policy)
        waits.append(wait)
        _rewind_failures(carnet_db, wait + timedelta(seconds=1))  # the caller waited it out
        with carnet_db.session(unscoped=True) as db:
            assert services.refusal(db, keys, user.email, "203.0.113.9", policy) is None
    seconds = [round(w.total_seconds()) for w in waits]
    assert all(60 * 2**i - 2 <= s <= 60 * 2**i for i, s in enumerate(seconds)), seconds
    # never longer than the window in which failures count
    assert policy.refusal(1000, policy.account_limit) == policy.window


def test_the_owner_is_told_once_per_window_without_secrets(app, staff, carnet_db, carnet_settings, jobs_worker):
    user = staff("practitioner")
    _stranger_fails(app, user.email, services.ACCOUNT_LIMIT - 1)
    assert _alerts(carnet_db) == 0  # a few typos tell nobody
    _stranger_fails(app, user.email, 1)
    assert _alerts(carnet_db) == 1
    # more failures once each refusal has passed: still one message in the window
    for _ in range(3):
        _rewind_failures(carnet_db, timedelta(minutes=30))
        _stranger_fails(app, user.email, 1)
    assert _alerts(carnet_db) == 1
    # an unknown address is never "told" (and answers the same)
    _stranger_fails(app, "nobody@cabinet.test", services.ACCOUNT_LIMIT)
    assert _alerts(carnet_db) == 1
    wait_for_jobs(jobs_worker)
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in carnet_settings.mail_dir.glob("*.eml")
    ]
    assert [m["To"] for m in mails] == [user.email]
    body = mails[0].get_body(("plain",)).get_content()
    assert "wrong guess" not in body and "testclient" not in body and "http" in body.lower()
    assert "Carnet" in mails[0]["Subject"]
    # after the window, a new attack is told again
    before = _alerts(carnet_db)
    _rewind_failures(carnet_db, timedelta(days=1, minutes=1))
    _stranger_fails(app, user.email, services.ACCOUNT_LIMIT)
    assert _alerts(carnet_db) == before + 1


@pytest.mark.parametrize(
    "carnet_env", [{"CARNET_LOGIN_BACKOFF_SECONDS": "1", "CARNET_LOGIN_FAILURE_WINDOW_MINUTES": "5"}], indirect=True,
)
def test_throttling_settings_are_read_from_the_environment(carnet_settings):
    policy = IdentityPolicy.from_settings(carnet_settings)
    assert policy.backoff == timedelta(seconds=1) and policy.window == timedelta(minutes=5)
    assert policy.refusal(policy.account_limit + 2, policy.account_limit) == timedelta(seconds=4)


def test_strangers_failures_do_not_stop_the_owner_from_resetting_by_mail(
    app, staff, carnet_db, carnet_settings, jobs_worker
):
    import re
    import time

    user = staff("secretary")
    _stranger_fails(app, user.email, services.ACCOUNT_LIMIT + 1)
    with TestClient(app=app, base_url=BASE) as owner:  # a new device: its login is refused
        assert _password_step(owner, user.email, user.password).status_code == 429
        token = csrf_token(owner, "/password/forgot")
        assert owner.post("/password/forgot", data={"email": user.email, "_csrf_token": token}).status_code == 200
        wait_for_jobs(jobs_worker)
        texts = [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default).get_body(("plain",)).get_content()
            for p in carnet_settings.mail_dir.glob("*.eml")
        ]
        link = next(m.group(1) for t in texts if (m := re.search(r"8000(/password/reset/[\w-]+)", t)))
        new_password = "la glycine fleurit en avril"
        token = csrf_token(owner, link)
        done = owner.post(link, data={"password": new_password, "confirm": new_password,
                                      "code": user.totp().at(time.time() + 30), "_csrf_token": token},
                          follow_redirects=False)
        assert done.status_code == 303, done.text
