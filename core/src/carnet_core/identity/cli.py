"""`carnet user …` and `carnet token …`: staff accounts and API tokens from the command line."""

from __future__ import annotations

import json
from typing import Any

import click

from carnet_core.cli import Runtime, fail, pass_runtime


def _clinic(rt: Runtime, slug: str) -> Any:
    from carnet_core.clinics.services import get_clinic_by_slug

    with rt.db.session(unscoped=True) as db:
        found = get_clinic_by_slug(db, slug)
    if found is None:
        fail(f"no clinic '{slug}'; see `carnet clinic list`")
    return found


@click.group()
def user() -> None:
    """Staff accounts: create (with an enrollment link), list, disable."""


@user.command("create")
@click.option("--clinic", "slug", required=True, help="Clinic slug.")
@click.option("--email", required=True, help="The person's e-mail address.")
@click.option("--role", "roles", required=True, help="owner, practitioner, secretary (comma-separated).")
@click.option("--name", default="", help="Display name, e.g. 'Marie Curie'.")
@pass_runtime
def user_create(rt: Runtime, slug: str, email: str, roles: str, name: str) -> None:
    """Add a staff member to a clinic and print their single-use enrollment link."""
    from carnet_core.identity import services

    clinic = _clinic(rt, slug)
    try:
        with rt.db.session(unscoped=True) as db:
            created, token = services.invite(db, clinic.id, email, roles, name)
            address = created.email
    except services.IdentityError as exc:
        fail(str(exc))
    click.echo(f"{address} is {roles} in {slug}")
    if token:
        click.echo("enrollment link (single use, expires in 72 hours; they set a password and a second factor):")
        click.echo(f"{rt.settings.base_url}/enroll/{token}")
    else:
        click.echo("already enrolled: they log in with their existing password and second factor")


@user.command("list")
@click.option("--clinic", "slug", help="Only members of this clinic.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_runtime
def user_list(rt: Runtime, slug: str | None, as_json: bool) -> None:
    """List staff accounts with their clinics and roles."""
    from sqlmodel import select

    from carnet_core.identity import services
    from carnet_core.identity.models import User

    wanted = _clinic(rt, slug).id if slug else None
    rows = []
    with rt.db.session(unscoped=True) as db:
        for u in db.exec(select(User).order_by(User.email)):
            clinics = {c.slug: sorted(m.role_set) for m, c in services.memberships_of(db, u.id)}
            if wanted is not None and not any(m.clinic_id == wanted for m, _ in services.memberships_of(db, u.id)):
                continue
            rows.append(
                {
                    "id": u.id,
                    "email": u.email,
                    "name": u.display_name,
                    "enrolled": u.enrolled,
                    "disabled": u.disabled,
                    "clinics": clinics,
                }
            )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        state = "disabled" if r["disabled"] else ("enrolled" if r["enrolled"] else "invited")
        clinics = "; ".join(f"{k}: {','.join(v)}" for k, v in r["clinics"].items())
        click.echo(f"{r['id']:>4} {r['email']:<32} {state:<9} {clinics}")


@user.command("disable")
@click.argument("email")
@pass_runtime
def user_disable(rt: Runtime, email: str) -> None:
    """Disable an account: its sessions and API tokens stop working at once."""
    from carnet_core.identity import services

    with rt.db.session(unscoped=True) as db:
        found = services.get_user_by_email(db, email)
        if found is None:
            fail(f"no account for {email}; see `carnet user list`")
        services.disable_user(db, found, actor="system:cli")
    click.echo(f"{email} disabled; sessions and tokens revoked")


@click.group()
def token() -> None:
    """API tokens for integrations: create (shown once), list, revoke."""


@token.command("create")
@click.option("--clinic", "slug", required=True, help="Clinic slug.")
@click.option("--user", "email", required=True, help="E-mail of the member the token acts as.")
@click.option("--scopes", default="", help="Permission names, comma-separated (default: all of the user's).")
@click.option("--expires", default="", help="Lifetime such as 30d, 12h (default: no expiry).")
@click.option("--name", default="", help="A label to recognise the token later.")
@pass_runtime
def token_create(rt: Runtime, slug: str, email: str, scopes: str, expires: str, name: str) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from carnet_core.identity import services
    from carnet_core.web.app import collect_permissions

    clinic = _clinic(rt, slug)
    known = collect_permissions(rt.host)
    try:
        lifetime = services.parse_duration(expires) if expires else None
        with rt.db.session(unscoped=True) as db:
            found = services.get_user_by_email(db, email)
            if found is None:
                raise services.IdentityError(f"no account for {email}; create it with `carnet user create`")
            raw, row = services.create_token(
                db,
                clinic.id,
                found,
                scopes=scopes.split(",") if scopes else None,
                expires_in=lifetime,
                name=name,
                permissions=known,
            )
            token_id = row.id
    except services.IdentityError as exc:
        fail(str(exc))
    click.echo(f"token {token_id} created; copy it now, it will not be shown again:")
    click.echo(raw)


@token.command("list")
@click.option("--clinic", "slug", help="Only tokens of this clinic.")
@pass_runtime
def token_list(rt: Runtime, slug: str | None) -> None:
    """List tokens (never their value)."""
    from carnet_core.identity import services

    clinic_id = _clinic(rt, slug).id if slug else None
    with rt.db.session(unscoped=True) as db:
        rows = services.list_tokens(db, clinic_id)
    for t, u in rows:
        state = "revoked" if t.revoked_at else "active"
        last = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
        click.echo(f"{t.id:>4} {t.prefix}… {u.email:<28} {state:<8} scopes={t.scopes or '*'} last used {last}")


@token.command("revoke")
@click.argument("token_id", type=int)
@pass_runtime
def token_revoke(rt: Runtime, token_id: int) -> None:
    """Revoke token TOKEN_ID (see `carnet token list`); it stops working at once."""
    from carnet_core.identity import services

    with rt.db.session(unscoped=True) as db:
        if not services.revoke_token(db, token_id):
            fail(f"no token {token_id}; see `carnet token list`")
    click.echo(f"token {token_id} revoked")


COMMANDS = [user, token]
