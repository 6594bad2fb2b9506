"""Identity services: accounts, enrollment, second factor, API tokens (no web layer)."""

import time

import pyotp
import pytest

from carnet_core.db import migrate
from carnet_core.identity import passwords, services
from carnet_core.identity.keys import IdentityKeys
from carnet_core.identity.models import User


@pytest.fixture
def keys(carnet_settings):
    return IdentityKeys.from_settings(carnet_settings)


def test_identity_tables_match_their_migration(carnet_db, plugin_host):
    assert migrate.drift(carnet_db, plugin_host) == []


def test_invite_enroll_and_second_factor(carnet_db, clinic, keys):
    with carnet_db.session(unscoped=True) as db:
        user, link = services.invite(db, clinic.id, " Marie@Cabinet.FR ", "practitioner,owner", "Marie")
        assert user.email == "marie@cabinet.fr"
        found = services.find_link(db, link, "enroll")
        assert found is not None and found[1].id == user.id
        services.set_password(db, user, "cheval batterie agrafe correcte")
        secret = services.start_totp_enrollment(db, keys, user)
        assert secret not in (user.totp_secret_sealed or "")
        codes = services.confirm_totp_enrollment(db, keys, user, pyotp.TOTP(secret).now())
        assert codes is not None and len(codes) == 10
        assert user.enrolled
        # the code that confirmed enrollment cannot be used again
        assert not services.verify_second_factor(db, keys, user, pyotp.TOTP(secret).now())
        # a recovery code works exactly once
        assert services.verify_second_factor(db, keys, user, codes[0].upper())
        assert not services.verify_second_factor(db, keys, user, codes[0])
        assert services.remaining_recovery_codes(db, user.id) == 9
        roles = services.membership(db, user.id, clinic.id).role_set
        assert roles == {"owner", "practitioner"}


def test_totp_code_from_next_step_is_accepted_once_then_older_ones_refused(carnet_db, clinic, keys):
    with carnet_db.session(unscoped=True) as db:
        user, _ = services.invite(db, clinic.id, "a@b.fr", "secretary")
        services.set_password(db, user, "cheval batterie agrafe correcte")
        secret = services.start_totp_enrollment(db, keys, user)
        now = time.time()
        services.confirm_totp_enrollment(db, keys, user, pyotp.TOTP(secret).at(now - 30))
        totp = pyotp.TOTP(secret)
        assert services.verify_second_factor(db, keys, user, totp.at(now + 30))
        assert not services.verify_second_factor(db, keys, user, totp.at(now))


@pytest.mark.parametrize(
    "password", ["short", "password1234", "qwertyuiopasdfgh", "marie@cabinet.fr!", "x" * 129]
)
def test_weak_or_oversized_passwords_are_refused(password):
    with pytest.raises(passwords.PasswordPolicyError):
        passwords.check_policy(password, ["marie@cabinet.fr", "Marie Curie"])


def test_password_hash_is_argon2id_at_or_above_owasp_minimum():
    stored = passwords.hash_password("cheval batterie agrafe correcte")
    assert stored.startswith("$argon2id$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2 and int(params["p"]) >= 1


def test_weaker_hash_is_upgraded_at_login(carnet_db, clinic, keys):
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    with carnet_db.session(unscoped=True) as db:
        user, _ = services.invite(db, clinic.id, "old@b.fr", "owner")
        services.set_password(db, user, "cheval batterie agrafe correcte")
        secret = services.start_totp_enrollment(db, keys, user)
        services.confirm_totp_enrollment(db, keys, user, pyotp.TOTP(secret).now())
        user.password_hash = weak.hash("cheval batterie agrafe correcte")
        db.add(user)
    with carnet_db.session(unscoped=True) as db:
        check = services.check_password(db, keys, "old@b.fr", "cheval batterie agrafe correcte", "1.2.3.4")
        assert check.user is not None
    with carnet_db.session(unscoped=True) as db:
        assert not passwords.needs_rehash(db.get(User, user.id).password_hash)


def test_token_is_stored_hashed_scoped_and_revocable(carnet_db, clinic, keys, staff, app):
    from carnet_core.web.state import carnet_state

    member = staff("owner")
    with carnet_db.session(unscoped=True) as db:
        user = db.get(User, member.id)
        permissions = carnet_state(app).permissions
        raw, row = services.create_token(
            db, clinic.id, user, scopes=["core.manage_modules"], permissions=permissions,
        )
        assert raw not in row.token_hash and raw.startswith("carnet_")
        found = services.authenticate_token(db, raw, "10.0.0.1")
        assert found is not None and found[0].last_used_at is not None
        assert services.revoke_token(db, row.id)
        assert services.authenticate_token(db, raw, "10.0.0.1") is None


def test_token_rules_hold_in_the_service_not_only_in_the_cli(carnet_db, clinic, staff, app):
    from carnet_core.web.state import carnet_state

    permissions = carnet_state(app).permissions
    secretary_id = staff("secretary").id
    with carnet_db.session(unscoped=True) as db:
        invited, _ = services.invite(db, clinic.id, "invited@b.fr", "owner")
        with pytest.raises(services.IdentityError, match="has not finished enrolling"):
            services.create_token(db, clinic.id, invited)
        secretary = db.get(User, secretary_id)
        with pytest.raises(services.IdentityError, match="go beyond"):
            services.create_token(db, clinic.id, secretary, scopes=["core.manage_modules"], permissions=permissions)
        with pytest.raises(ValueError, match="permission registry"):
            services.create_token(db, clinic.id, secretary, scopes=["core.patients.view"])
        # a token issued before these rules to someone who never enrolled does not authenticate
        from carnet_core.identity.keys import token_hash
        from carnet_core.identity.models import ApiToken

        raw = services.TOKEN_PREFIX + "x" * 43
        db.add(ApiToken(clinic_id=clinic.id, user_id=invited.id, token_hash=token_hash(raw), prefix=raw[:13]))
        db.flush()
        assert services.authenticate_token(db, raw, "10.0.0.1") is None


def test_sealed_totp_secret_does_not_open_for_another_user(keys):
    sealed = keys.seal("SECRET", "core_user.totp_secret:1")
    assert keys.open(sealed, "core_user.totp_secret:1") == "SECRET"
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):
        keys.open(sealed, "core_user.totp_secret:2")
