"""Identity as operated: one master key, account events in the audit trail, e-mails through the
outbox, the owners' staff page, password reset end to end, the clinic switcher."""

import email
import email.policy
import json
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from litestar.testing import TestClient

from carnet_core.audit.models import AuditRecord
from carnet_core.cli import main
from carnet_core.encryption.keyprovider import MasterKeyError
from carnet_core.identity import services
from carnet_core.identity.keys import IdentityKeys
from carnet_core.identity.mail import ACTOR, send_account_link
from carnet_core.identity.models import Membership, User
from carnet_core.jobs.context import JobContext
from carnet_core.jobs.models import OutboxMessage
from carnet_core.jobs.testing import wait_for_jobs
from carnet_core.settings import SettingsError, load_settings
from carnet_core.testing.identity import csrf_token
from carnet_core.testing.plugin import make_settings
from carnet_core.web.app import create_app

BASE = "http://127.0.0.1:8000"


def _trail(carnet_db, clinic_id):
    with carnet_db.session(unscoped=True) as db:
        rows = db.execute(
            sa.select(AuditRecord).where(AuditRecord.clinic_id == clinic_id).order_by(AuditRecord.seq)
        ).scalars().all()
        return [(r.action, r.outcome, r.actor_kind, r.resource_type, json.loads(r.details)) for r in rows]


def _mails(settings):
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(settings.mail_dir.glob("*.eml"))]


def _parts(message):
    text = html = None
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode()
        elif part.get_content_type() == "text/html":
            html = part.get_payload(decode=True).decode()
    return text, html


def _login(client, user, password, code):
    token = csrf_token(client, "/login")
    first = client.post("/login", data={"email": user.email, "password": password, "_csrf_token": token},
                        follow_redirects=False)
    if first.status_code != 303:
        return first
    return client.post("/login/totp", data={"code": code, "_csrf_token": token}, follow_redirects=False)


# --- one master key -------------------------------------------------------------------------


def test_totp_secrets_survive_carnet_init_run_after_accounts_exist(carnet_settings, carnet_db, plugin_host, staff):
    # given enrolled accounts (TOTP secrets sealed, recovery codes hashed)
    user = staff("owner")
    # when `carnet init` runs afterwards (as after an upgrade)
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    result = CliRunner().invoke(main, ["init"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert not (carnet_settings.keys_dir / "identity.key").exists()
    # then a new process (fresh settings, keys derived again) still opens the secrets
    fresh = make_settings(carnet_settings.home, carnet_settings.database_url)
    app = create_app(fresh, host=plugin_host, db=carnet_db)
    with TestClient(app=app, base_url=BASE) as client:
        assert _login(client, user, user.password, user.totp().now()).status_code == 303
        client.cookies.clear()
        assert _login(client, user, user.password, user.recovery_codes[0]).status_code == 303


def test_identity_keys_come_from_the_master_key_and_no_other_file(tmp_path):
    bare = load_settings({"CARNET_HOME": str(tmp_path / "empty")})
    with pytest.raises(MasterKeyError, match="carnet init"):
        IdentityKeys.from_settings(bare)
    assert not (tmp_path / "empty").exists()  # nothing made on the side
    given = load_settings({"CARNET_HOME": str(tmp_path / "a"), "CARNET_MASTER_KEY": "A" * 43 + "="})
    same = load_settings({"CARNET_HOME": str(tmp_path / "b"), "CARNET_MASTER_KEY": "A" * 43 + "="})
    other = make_settings(tmp_path / "c")
    sealed = IdentityKeys.from_settings(given).seal("JBSWY3DPEHPK3PXP", "core_user.totp_secret:1")
    assert IdentityKeys.from_settings(same).open(sealed, "core_user.totp_secret:1") == "JBSWY3DPEHPK3PXP"
    assert IdentityKeys.from_settings(other).mac("x", "y") != IdentityKeys.from_settings(given).mac("x", "y")


def test_password_hashing_below_owasp_minimum_needs_the_test_flag():
    with pytest.raises(SettingsError, match="CARNET_PASSWORD_HASH_MEMORY_KIB must be at least 19456"):
        load_settings({"CARNET_HOME": "/tmp/x", "CARNET_PASSWORD_HASH_MEMORY_KIB": "8192"})
    assert load_settings({"CARNET_HOME": "/tmp/x"}).password_hash_memory_kib == 65536
    limits = load_settings({"CARNET_HOME": "/tmp/x", "CARNET_LOGIN_MAX_FAILURES_PER_ACCOUNT": "3"})
    assert limits.login_max_failures_per_account == 3


@pytest.mark.parametrize("carnet_env", [{"CARNET_LOGIN_MAX_FAILURES_PER_ACCOUNT": "2"}], indirect=True)
def test_the_account_limit_is_the_configured_one(client, staff):
    user = staff("owner")
    for _ in range(2):
        assert _login(client, user, "wrong password again and again", "").status_code == 400
    assert _login(client, user, user.password, user.totp().now()).status_code == 429


# --- audit trail ----------------------------------------------------------------------------


def test_logins_failures_and_logouts_are_in_the_trail_of_each_clinic_of_the_account(
    client, staff, make_clinic, carnet_db
):
    alpha, beta = make_clinic("alpha"), make_clinic("beta")
    user = staff("practitioner", clinic=alpha)
    with carnet_db.session(unscoped=True) as db:
        services.set_membership(db, beta.id, user.id, ("secretary",))
    secret_password = "not the right password at all"
    before = {c.id: len(_trail(carnet_db, c.id)) for c in (alpha, beta)}
    # when: a wrong password, an unknown account, a login, a logout
    assert _login(client, user, secret_password, "").status_code == 400
    token = csrf_token(client, "/login")
    client.post("/login", data={"email": "inconnu@cabinet.test", "password": "x", "_csrf_token": token})
    assert _login(client, user, user.password, user.totp().now()).status_code == 303
    client.headers["X-CSRF-Token"] = csrf_token(client, "/account")
    assert client.post("/logout", follow_redirects=False).status_code == 303
    # then both clinics hold the same three events, the failure anonymous and without the address
    for clinic in (alpha, beta):
        events = _trail(carnet_db, clinic.id)[before[clinic.id]:]
        assert [(a, o, k, r) for a, o, k, r, _ in events] == [
            ("login_failed", "failure", "anonymous", "user"),
            ("login", "success", "user", "session"),
            ("logout", "success", "user", "session"),
        ]
        failed = events[0][4]
        assert failed["step"] == "password" and failed["reason"] == "invalid" and len(failed["email_hash"]) == 32
    with carnet_db.engine.connect() as conn:
        dump = " ".join(str(r) for r in conn.execute(sa.text("SELECT * FROM core_audit")).all())
    assert user.email not in dump and secret_password not in dump and "inconnu" not in dump


def test_password_factor_recovery_disable_and_expiry_are_traced(client, staff, login_as, carnet_db, clinic):
    user = staff("owner")
    login_as(client, user)
    new_password = "une autre phrase du cabinet"
    r = client.post("/account/password", data={"current": user.password, "password": new_password,
                                                "confirm": new_password})
    assert r.status_code == 200
    client.headers["X-CSRF-Token"] = csrf_token(client, "/account")  # the renewed session's token
    r = client.post("/account/recovery-codes", data={"code": user.totp().at(__import__("time").time() + 30)})
    assert r.status_code == 200
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)
    assert _login(client, user, new_password, user.recovery_codes[1]).status_code == 400  # regenerated: old ones died
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.update(services.LoginSession).values(last_seen_at=services.utcnow() - services.timedelta(hours=1)))
    with carnet_db.session(unscoped=True) as db:
        services.disable_user(db, db.get(User, user.id), actor="system:test")
    actions = [(a, d) for a, _, _, _, d in _trail(carnet_db, clinic.id)]
    assert ("password_change", {"via": "account"}) in actions
    assert ("factor_change", {"factor": "recovery_codes"}) in actions
    assert ("factor_change", {"factor": "totp"}) in actions  # at enrollment
    assert ("disable", {}) in actions


def test_an_expired_session_is_traced(client, staff, login_as, carnet_db, clinic):
    login_as(client, staff("owner"))
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.update(services.LoginSession).values(last_seen_at=services.utcnow() - services.timedelta(hours=1)))
    assert client.get("/api/v1/me").status_code == 401
    assert ("session_expired", {"reason": "idle"}) in [(a, d) for a, _, _, _, d in _trail(carnet_db, clinic.id)]


def test_a_used_recovery_code_is_traced_with_the_count_left(client, staff, carnet_db, clinic):
    user = staff("secretary")
    assert _login(client, user, user.password, user.recovery_codes[0]).status_code == 303
    assert ("use", "recovery_code", {"remaining": 9}) in [(a, r, d) for a, _, _, r, d in _trail(carnet_db, clinic.id)]


# --- password reset end to end ----------------------------------------------------------------


def test_password_reset_end_to_end_through_the_outbox(app, staff, login_as, jobs_worker, carnet_db, carnet_settings):
    user = staff("practitioner")
    with TestClient(app=app, base_url=BASE) as old, TestClient(app=app, base_url=BASE) as client:
        login_as(old, user)
        # forgot: the request only writes an outbox row, which carries no token
        token = csrf_token(client, "/password/forgot")
        r = client.post("/password/forgot", data={"email": user.email.upper(), "_csrf_token": token})
        assert r.status_code == 200
        assert _mails(carnet_settings) == []
        with carnet_db.session(unscoped=True) as db:
            (row,) = db.execute(sa.select(OutboxMessage).where(OutboxMessage.actor == ACTOR)).scalars().all()
        assert json.loads(row.args) == [user.id, "reset"]
        # the job sends one French e-mail, text and HTML, with the link and nothing else
        wait_for_jobs(jobs_worker)
        (message,) = _mails(carnet_settings)
        assert message["To"] == user.email and "mot de passe" in message["Subject"]
        text, html = _parts(message)
        link = re.search(r"http://127\.0\.0\.1:8000(/password/reset/[A-Za-z0-9_-]+)", text).group(1)
        assert link in html and "Bonjour" in text and "santé" in text
        # the reset page asks for the second factor
        page = client.get(link)
        assert page.status_code == 200
        new_password = "la glycine fleurit en avril"
        token = csrf_token(client, link)
        wrong = client.post(link, data={"password": new_password, "confirm": new_password, "code": "000000",
                                        "_csrf_token": token})
        assert wrong.status_code == 400
        # (the login above spent the current step's code: the next one is still unused)
        code = user.totp().at(__import__("time").time() + 30)
        done = client.post(link, data={"password": new_password, "confirm": new_password,
                                       "code": code, "_csrf_token": token}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/login?reset=1"
        # old sessions are gone, the old password fails, the new one works, the link is spent
        assert old.get("/api/v1/me").status_code == 401
        assert client.get(link).status_code == 404
        assert _login(client, user, user.password, "").status_code == 400
        last = _login(client, user, new_password, user.recovery_codes[0])
        assert last.status_code == 303, last.text


def test_forgot_password_for_an_unknown_address_answers_the_same_and_sends_nothing(client, staff, carnet_db):
    user = staff("owner")
    answers = []
    for address in (user.email, "personne@cabinet.test"):
        token = csrf_token(client, "/password/forgot")
        answers.append(client.post("/password/forgot", data={"email": address, "_csrf_token": token}))
    assert answers[0].status_code == answers[1].status_code == 200
    assert answers[0].text == answers[1].text
    with carnet_db.session(unscoped=True) as db:
        assert db.execute(sa.select(sa.func.count()).select_from(OutboxMessage)).scalar() == 1


def test_the_mail_job_sends_once_per_message(staff, carnet_db, carnet_settings, plugin_host):
    user = staff("owner")
    job = JobContext(message_id="m-1", actor=ACTOR, retries=0, clinic_id=None, outbox_id=None,
                     settings=plugin_host.settings, host=plugin_host, db=carnet_db)
    send_account_link(user.id, "reset", job=job)
    send_account_link(user.id, "reset", job=job)  # a second delivery of the same message
    assert len(_mails(carnet_settings)) == 1
    again = JobContext(**{**job.__dict__, "message_id": "m-2"})
    send_account_link(user.id, "enroll", job=again)  # enrolled already: no invitation
    assert len(_mails(carnet_settings)) == 1


# --- staff page -----------------------------------------------------------------------------


def test_owner_invites_changes_roles_and_the_invitation_is_mailed(client, staff, login_as, jobs_worker, carnet_db,
                                                                 carnet_settings, clinic):
    owner = staff("owner")
    login_as(client, owner)
    page = client.get("/settings/users")
    assert page.status_code == 200 and "Équipe" in page.text and owner.email in page.text
    r = client.post("/settings/users", data={"email": "Lea@Cabinet.test", "name": "Léa", "roles": ["practitioner"]},
                    follow_redirects=False)
    assert r.status_code == 303
    wait_for_jobs(jobs_worker)
    (message,) = _mails(carnet_settings)
    text, _ = _parts(message)
    assert message["To"] == "lea@cabinet.test" and clinic.name in text and "/enroll/" in text
    with carnet_db.session(unscoped=True) as db:
        lea = db.execute(sa.select(User).where(User.email == "lea@cabinet.test")).scalar_one()
    htmx = client.post(f"/settings/users/{lea.id}/roles", data={"roles": ["practitioner", "secretary"]},
                       headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and "<html" not in htmx.text and "Rôles modifiés" in htmx.text
    assert client.post(f"/settings/users/{lea.id}/resend").status_code == 200
    actions = [(a, r) for a, _, _, r, _ in _trail(carnet_db, clinic.id)]
    assert ("create", "membership") in actions and ("update", "membership") in actions
    assert ("send", "invitation") in actions


def test_the_last_owner_cannot_be_removed_demoted_or_disabled(client, staff, login_as, carnet_db, clinic):
    owner = staff("owner")
    other = staff("practitioner")
    login_as(client, owner)
    with carnet_db.session(unscoped=True) as db:
        before = sorted(map(str, db.execute(sa.select(Membership)).scalars().all()))
    first = client.post(f"/settings/users/{owner.id}/remove")
    assert first.status_code == 400, first.text
    refused = client.post(f"/settings/users/{owner.id}/roles", data={"roles": "practitioner"})
    assert refused.status_code == 400 and "au moins un titulaire" in refused.text
    assert client.post(f"/settings/users/{owner.id}/disable").status_code == 400
    assert client.post(f"/settings/users/{other.id}/roles", data={"roles": "pirate"}).status_code == 400
    assert client.post("/settings/users/999999/remove").status_code == 404
    with carnet_db.session(unscoped=True) as db:
        assert sorted(map(str, db.execute(sa.select(Membership)).scalars().all())) == before
    # with a second owner, the first may step down
    promoted = client.post(f"/settings/users/{other.id}/roles", data={"roles": "owner,practitioner"},
                           follow_redirects=False)
    assert promoted.status_code == 303
    stepped_down = client.post(f"/settings/users/{owner.id}/roles", data={"roles": "practitioner"},
                               follow_redirects=False)
    assert stepped_down.status_code == 303
    assert client.get("/settings/users").status_code == 403  # no longer an owner


def test_an_owner_cannot_disable_someone_who_works_in_another_clinic(client, staff, login_as, make_clinic,
                                                                     carnet_db):
    owner = staff("owner")
    both = staff("practitioner")
    with carnet_db.session(unscoped=True) as db:
        services.set_membership(db, make_clinic("ailleurs").id, both.id, ("practitioner",))
    login_as(client, owner)
    assert client.post(f"/settings/users/{both.id}/disable").status_code == 400
    assert client.post(f"/settings/users/{both.id}/remove").status_code == 200
    with carnet_db.session(unscoped=True) as db:
        assert db.get(User, both.id).disabled is False
        assert len(services.memberships_of(db, both.id)) == 1


# --- clinic switcher ------------------------------------------------------------------------


def test_a_member_of_two_clinics_switches_between_them(client, staff, login_as, make_clinic, carnet_db):
    alpha, beta = make_clinic("alpha", "Cabinet Alpha"), make_clinic("beta", "Cabinet Beta")
    user = staff("practitioner", clinic=alpha)
    with carnet_db.session(unscoped=True) as db:
        services.set_membership(db, beta.id, user.id, ("owner",))
    login_as(client, user)
    first = client.get("/api/v1/me").json()["clinic"]["slug"]
    form = client.get("/clinic/switch")
    assert "Cabinet Alpha" in form.text and "Cabinet Beta" in form.text
    target = beta if first == "alpha" else alpha
    r = client.post("/clinic/switch", data={"clinic_id": str(target.id)}, follow_redirects=False)
    assert r.status_code == 303
    me = client.get("/api/v1/me").json()
    assert me["clinic"]["slug"] == target.slug
    assert me["roles"] == (["owner"] if target is beta else ["practitioner"])
    # owner pages follow the clinic: only as beta's owner is the staff page open
    assert client.get("/settings/users").status_code == (200 if target is beta else 403)
    assert client.post("/clinic/switch", data={"clinic_id": "999999"}).status_code == 400
