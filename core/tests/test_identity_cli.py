"""`carnet user create` prints a working enrollment link; `carnet token` creates, lists, revokes."""

import pyotp
from click.testing import CliRunner

from carnet_core.cli import main
from carnet_core.testing.identity import csrf_token


def _run(carnet_settings, *args):
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result


def test_user_create_prints_an_enrollment_link_that_enrolls(carnet_settings, clinic, client):
    result = _run(carnet_settings, "user", "create", "--clinic", clinic.slug, "--email", "Marie@Cabinet.fr",
                  "--role", "owner,practitioner", "--name", "Marie Curie")
    assert result.exit_code == 0, result.output
    link = next(line for line in result.output.splitlines() if "/enroll/" in line)
    path = link.split("8000", 1)[1]
    token = csrf_token(client, path)
    r = client.post(path, data={"password": "une phrase longue et secrète", "confirm": "une phrase longue et secrète",
                                "_csrf_token": token})
    assert r.status_code == 200 and "data:image/svg+xml" in r.text
    secret = r.text.split("<code>")[1].split("</code>")[0]
    r = client.post(path + "/confirm", data={"code": pyotp.TOTP(secret).now(), "_csrf_token": token})
    assert r.status_code == 200 and r.text.count("<li><code>") == 10
    me = client.get("/api/v1/me").json()
    assert me["email"] == "marie@cabinet.fr" and me["roles"] == ["owner", "practitioner"]
    # the link worked once
    assert client.get(path).status_code == 404


def test_user_create_refuses_unknown_roles(carnet_settings, clinic):
    result = _run(carnet_settings, "user", "create", "--clinic", clinic.slug, "--email", "a@b.fr", "--role", "admin")
    assert result.exit_code == 2 and "roles" in result.output


def test_token_create_use_list_revoke(carnet_settings, clinic, staff, client, carnet_db):
    user = staff("owner")
    result = _run(carnet_settings, "token", "create", "--clinic", clinic.slug, "--user", user.email,
                  "--scopes", "core.manage_modules", "--expires", "30d")
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip().splitlines()[-1]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).json()
    assert me["email"] == user.email and me["scopes"] == ["core.manage_modules"]
    import sqlalchemy as sa

    from carnet_core.audit.models import AuditRecord

    with carnet_db.session(unscoped=True) as db:
        uses = db.execute(sa.select(AuditRecord).where(AuditRecord.resource_type == "api_token")).scalars().all()
    assert [(u.action, u.clinic_id) for u in uses] == [("use", clinic.id)]
    listed = _run(carnet_settings, "token", "list").stdout
    assert raw not in listed and "last used 20" in listed
    token_id = listed.split()[0]
    assert _run(carnet_settings, "token", "revoke", token_id).exit_code == 0
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_token_scopes_must_be_permission_names(carnet_settings, clinic, staff):
    user = staff("owner")
    result = _run(carnet_settings, "token", "create", "--clinic", clinic.slug, "--user", user.email,
                  "--scopes", "everything")
    assert result.exit_code == 2 and "unknown scope" in result.output


def test_token_is_refused_to_an_invited_person_who_has_not_enrolled(carnet_settings, clinic, client):
    invited = _run(carnet_settings, "user", "create", "--clinic", clinic.slug, "--email", "new@cabinet.fr",
                   "--role", "owner")
    assert invited.exit_code == 0, invited.output
    result = _run(carnet_settings, "token", "create", "--clinic", clinic.slug, "--user", "new@cabinet.fr")
    assert result.exit_code == 2 and "has not finished enrolling" in result.output
    assert "carnet_" not in result.output
    assert "new@cabinet.fr" not in _run(carnet_settings, "token", "list").output


def test_token_scopes_cannot_go_beyond_the_users_roles(carnet_settings, clinic, staff):
    secretary = staff("secretary")
    result = _run(carnet_settings, "token", "create", "--clinic", clinic.slug, "--user", secretary.email,
                  "--scopes", "core.patients.view,core.audit.view")
    assert result.exit_code == 2
    assert "core.audit.view" in result.output and "go beyond" in result.output
    assert "core.patients.view go" not in result.output  # the scope the role grants is not blamed
    # within the role: issued
    allowed = _run(carnet_settings, "token", "create", "--clinic", clinic.slug, "--user", secretary.email,
                   "--scopes", "core.patients.view")
    assert allowed.exit_code == 0, allowed.output
