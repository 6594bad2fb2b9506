"""Identity fixtures: staff accounts per role and a REAL login (password, then a TOTP code)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest

STAFF_PASSWORD = "cheval batterie agrafe correcte"  # noqa: S105 (test accounts only)
_META_RE = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


@dataclass
class StaffUser:
    id: int
    email: str
    password: str
    totp_secret: str
    clinic_id: int
    roles: tuple[str, ...]
    recovery_codes: list[str] = field(default_factory=list)

    def totp(self) -> pyotp.TOTP:
        return pyotp.TOTP(self.totp_secret)


def make_staff(
    db: Any,
    settings: Any,
    roles: str | tuple[str, ...] | list[str],
    clinic: Any,
    email: str | None = None,
    name: str = "",
    password: str = STAFF_PASSWORD,
) -> StaffUser:
    """Create an enrolled staff member (password set, TOTP confirmed) through the services."""
    from carnet_core.identity import services

    email = email or f"staff-{uuid.uuid4().hex[:8]}@cabinet.test"
    with db.session(unscoped=True) as session:
        user, _ = services.invite(session, clinic.id, email, roles, name or email.split("@")[0])
        secret, codes = enroll(session, settings, user, password)
        parsed = services.parse_roles(roles)
        return StaffUser(user.id, user.email, password, secret, clinic.id, parsed, codes)


def enroll(session: Any, settings: Any, user: Any, password: str = STAFF_PASSWORD) -> tuple[str, list[str]]:
    """Finish an account's enrollment through the services (password, then a confirmed TOTP
    secret); returns the secret and the recovery codes."""
    from carnet_core.identity import services
    from carnet_core.identity.keys import IdentityKeys
    from carnet_core.identity.policy import IdentityPolicy

    keys = IdentityKeys.from_settings(settings)
    services.set_password(session, user, password, IdentityPolicy.from_settings(settings))
    secret = services.start_totp_enrollment(session, keys, user)
    # Confirm with the previous step's code, so the current and next ones stay usable to log in.
    codes = services.confirm_totp_enrollment(session, keys, user, pyotp.TOTP(secret).at(time.time() - 30))
    return secret, codes or []


def csrf_token(client: Any, path: str = "/") -> str:
    """The CSRF token a page of `path` carries in its <meta name="csrf-token">."""
    response = client.get(path)
    match = _META_RE.search(response.text)
    assert match and match.group(1), f"no CSRF token on {path} (status {response.status_code})"
    return match.group(1)


def csrf_headers(client: Any) -> dict[str, str]:
    return {"X-CSRF-Token": csrf_token(client)}


def _second_factor(db: Any, user: StaffUser) -> str:
    """A TOTP code whose step was not used yet, else an unused recovery code."""
    from carnet_core.identity.models import User

    with db.session(unscoped=True) as session:
        last = session.get(User, user.id).totp_last_step
    now = time.time()
    for offset in (0, 30):
        step = int((now + offset) // 30)
        if last is None or step > last:
            return user.totp().at(now + offset)
    return user.recovery_codes.pop()


def login_as(client: Any, db: Any, user: StaffUser, *, send_csrf: bool = True) -> str:
    """Log in through the real pages; the client then holds the session cookie and (by default)
    sends the session's CSRF token on every request. Returns the token."""
    client.headers.pop("X-CSRF-Token", None)
    anonymous = csrf_token(client, "/login")
    first = client.post(
        "/login",
        data={"email": user.email, "password": user.password, "_csrf_token": anonymous},
        follow_redirects=False,
    )
    assert first.status_code == 303, f"password step failed: {first.status_code}"
    second = client.post(
        "/login/totp",
        data={"code": _second_factor(db, user), "_csrf_token": anonymous},
        follow_redirects=False,
    )
    assert second.status_code == 303, f"second factor step failed: {second.status_code}"
    token = csrf_token(client, "/account")
    if send_csrf:
        client.headers["X-CSRF-Token"] = token
    return token


@pytest.fixture
def staff(carnet_db: Any, carnet_settings: Any, clinic: Any) -> Callable[..., StaffUser]:
    """`staff("owner,practitioner", clinic=..., email=...)`: an enrolled member of a clinic."""

    def make(
        roles: str | tuple[str, ...] | list[str] = "owner",
        clinic: Any = clinic,
        email: str | None = None,
        name: str = "",
    ) -> StaffUser:
        return make_staff(carnet_db, carnet_settings, roles, clinic, email=email, name=name)

    return make


@pytest.fixture(name="login_as")
def login_as_fixture(carnet_db: Any) -> Callable[..., str]:
    """`login_as(client, user)`: a real login (password + TOTP) giving a session and CSRF token."""

    def do(client: Any, user: StaffUser, send_csrf: bool = True) -> str:
        return login_as(client, carnet_db, user, send_csrf=send_csrf)

    return do


@pytest.fixture(name="csrf_headers")
def csrf_headers_fixture() -> Callable[[Any], dict[str, str]]:
    """`csrf_headers(client)`: the X-CSRF-Token header for the client's current session."""
    return csrf_headers


def browser_login(page: Any, base_url: str, user: StaffUser) -> None:
    """Log in through the real pages in a Playwright page (French labels): password, then the TOTP
    code; returns once the browser has left the login pages."""
    page.goto(f"{base_url}/login")
    page.locator("#email").fill(user.email)
    page.locator("#password").fill(user.password)
    page.get_by_role("button", name="Continuer").click()
    page.locator("#code").fill(user.totp().now())
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: "/login" not in url)
