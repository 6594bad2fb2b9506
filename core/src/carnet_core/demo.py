"""`carnet demo`: a demo clinic with believable French sample data, and how to log in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from carnet_core.clinics.services import create_clinic, get_clinic_by_slug, list_clinics
from carnet_core.db.base import utcnow
from carnet_core.identity import services as identity
from carnet_core.identity.keys import IdentityKeys
from carnet_core.identity.policy import IdentityPolicy
from carnet_core.settings import Settings

DEMO_SLUG = "cabinet-des-tilleuls"
DEMO_NAME = "Cabinet des Tilleuls"
# (street, postcode, city): shown at the top of every patient page
DEMO_ADDRESS = ("12 rue des Tilleuls", "69003", "Lyon")  # as the demo place and billing profiles
# A demo on one's own machine: the password is printed on every `make run`, so it is fixed.
DEMO_PASSWORD = "tilleuls-demo-orthophonie-2026"  # noqa: S105 (demo only, printed to the user)
# Fixed demo TOTP secrets (base32) so the authenticator app set up once keeps working.
DEMO_STAFF = (
    ("claire.martin@cabinet-tilleuls.fr", "Claire Martin", ("owner", "practitioner"), "10003456789",
     "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"),
    ("julien.petit@cabinet-tilleuls.fr", "Julien Petit", ("practitioner",), "10009876543",
     "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"),
    ("sophie.bernard@cabinet-tilleuls.fr", "Sophie Bernard", ("secretary",), None,
     "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK"),
)


@dataclass
class DemoResult:
    created: bool
    clinic_slug: str
    logins: list[tuple[str, str, str]]  # (email, roles, totp secret)


def load_demo(settings: Settings, host: Any, db: Any, if_empty: bool = False) -> Iterator[str | DemoResult]:
    """Create the demo clinic unless it exists (or, with if_empty, unless any clinic exists)."""
    keys = IdentityKeys.from_settings(settings)  # the master key: `carnet init` made it
    policy = IdentityPolicy.from_settings(settings)
    with db.session(unscoped=True) as s:
        existing = get_clinic_by_slug(s, DEMO_SLUG)
        any_clinic = bool(list_clinics(s))
    logins = [(email, ",".join(roles), secret) for email, _, roles, _, secret in DEMO_STAFF]
    if existing is not None or (if_empty and any_clinic):
        yield "demo: already loaded" if existing else "demo: the database already has clinics, demo not loaded"
        yield DemoResult(False, DEMO_SLUG, logins if existing else [])
        return
    with db.session(unscoped=True) as s:
        clinic = create_clinic(s, DEMO_SLUG, DEMO_NAME, host.names)
        clinic.address, clinic.postcode, clinic.city = DEMO_ADDRESS
        s.add(clinic)
        clinic_id = clinic.id
    yield f"demo: clinic '{DEMO_SLUG}' created with modules {', '.join(host.names) or 'none'}"
    context: dict[str, Any] = {"practitioners": [], "secretaries": [], "owner": None, "patients": []}
    with db.session(clinic_id=clinic_id) as s:
        for email, name, roles, rpps, secret in DEMO_STAFF:
            user = identity.create_or_get_user(s, email, name, rpps=rpps)
            identity.set_membership(s, clinic_id, user.id, roles)
            identity.set_password(s, user, DEMO_PASSWORD, policy, via="demo", actor="system:demo")
            _enroll_known_secret(s, keys, user, secret)
            if "practitioner" in roles:
                context["practitioners"].append(user)
            if "secretary" in roles:
                context["secretaries"].append(user)
            if "owner" in roles:
                context["owner"] = user
        yield f"demo: {len(DEMO_STAFF)} staff accounts"
        for step_fn in demo_steps():
            yield from step_fn(s, clinic, context)
        host.for_clinic(set(host.names)).demo_data(clinic=clinic, db=s, context=context)
    yield "demo: sample data added by the modules"
    yield DemoResult(True, DEMO_SLUG, logins)


def _enroll_known_secret(s: Any, keys: IdentityKeys, user: Any, secret: str) -> None:
    """Enroll a demo account with a fixed TOTP secret (real accounts enroll through a link)."""
    user.totp_secret_sealed = keys.seal(secret, identity._totp_context(user))
    user.totp_confirmed_at = utcnow()
    user.totp_last_step = None
    s.add(user)
    s.flush()


def demo_steps() -> list[Any]:
    """Core areas that add demo rows (patients, …) before the plugins' demo_data hooks run."""
    from carnet_core.patients.demo import demo_patients

    return [demo_patients]


def current_code(secret: str) -> str:
    import pyotp

    from carnet_core.identity.totp import STEP

    return pyotp.TOTP(secret, interval=STEP).now()
