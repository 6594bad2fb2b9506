"""`/settings/users`: the owners' staff page (list, invite, roles, remove, disable, re-invite).

Thin: parse the form, call `identity.staff`, render the page or, for htmx, the list partial.
The request's `db` is bound to the owner's clinic and commits with the handler; a refused
change answers 400 (404 for a person who is not a member) and rolls everything back.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from carnet_core.db.session import CarnetSession
from carnet_core.i18n import N_
from carnet_core.identity import services, staff
from carnet_core.identity.models import ROLES
from carnet_core.web.guards import principal_of
from carnet_core.web.render import is_htmx, page, translate
from carnet_core.web.state import carnet_state

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
DONE = {
    "invited": N_("Invitation sent."),
    "roles": N_("Roles changed."),
    "removed": N_("Removed from the clinic."),
    "disabled": N_("Account disabled."),
    "resent": N_("Invitation sent again."),
}


def _text(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value.strip()[:limit] if isinstance(value, str) else ""


def _roles(data: dict[str, Any]) -> list[str]:
    """Checkboxes named `roles` (repeated) or one comma-separated value."""
    value = data.get("roles", [])
    items = value if isinstance(value, list) else [value]
    return [part for item in items if isinstance(item, str) for part in item.split(",")][:10]


class StaffController(Controller):
    path = "/settings/users"
    opt = {"permission": "core.manage_users"}

    def _render(
        self,
        request: Request[Any, Any, Any],
        db: CarnetSession,
        *,
        flash: str | None = None,
        error: str | None = None,
        status_code: int = 200,
        form: dict[str, Any] | None = None,
    ) -> Template:
        if status_code >= 400:
            db.rollback()  # nothing of a refused change stays, the list shows the real state
        context = {
            "members": staff.list_members(db),
            "roles": ROLES,
            "me": principal_of(request).user_id,
            "flash": flash,
            "error": error,
            "form": form or {},
        }
        return page(
            request, "core/identity/staff.html", context,
            partial="core/identity/_staff_list.html", status_code=status_code,
        )

    def _done(self, request: Request[Any, Any, Any], db: CarnetSession, what: str) -> Template | Redirect:
        if is_htmx(request):
            return self._render(request, db, flash=translate(request, DONE[what]))
        return Redirect(f"/settings/users?done={what}", status_code=303)

    def _refused(self, request: Request[Any, Any, Any], db: CarnetSession, exc: Exception,
                 form: dict[str, Any] | None = None) -> Template:
        status = 404 if isinstance(exc, staff.MemberNotFound) else 400
        return self._render(request, db, error=translate(request, str(exc)), status_code=status, form=form)

    @get("/", name="identity.staff", sync_to_thread=True)
    def show(self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
        done = request.query_params.get("done")
        flash = translate(request, DONE[done]) if done in DONE else None
        return self._render(request, db, flash=flash)

    @post("/", name="identity.staff.invite", sync_to_thread=True)
    def invite(
        self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form,
    ) -> Template | Redirect:
        form = {"email": _text(data, "email", 254), "name": _text(data, "name", 200), "roles": _roles(data)}
        try:
            staff.invite(db, form["email"], form["roles"], form["name"])
        except services.IdentityError as exc:
            return self._refused(request, db, _translatable(exc), form)
        return self._done(request, db, "invited")

    @post("/{user_id:int}/roles", name="identity.staff.roles", sync_to_thread=True)
    def roles(
        self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], user_id: FromPath[int], data: Form,
    ) -> Any:
        try:
            staff.change_roles(db, user_id, _roles(data))
        except services.IdentityError as exc:
            return self._refused(request, db, _translatable(exc))
        return self._done(request, db, "roles")

    @post("/{user_id:int}/remove", name="identity.staff.remove", sync_to_thread=True)
    def remove(
        self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], user_id: FromPath[int],
    ) -> Any:
        try:
            staff.remove(db, user_id)
        except services.IdentityError as exc:
            return self._refused(request, db, exc)
        return self._done(request, db, "removed")

    @post("/{user_id:int}/disable", name="identity.staff.disable", sync_to_thread=True)
    def disable(
        self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], user_id: FromPath[int],
    ) -> Any:
        principal = principal_of(request)
        # Other clinics are out of this session's scope by design: count them with a read of
        # their own, and only to refuse (their names are never shown).
        with carnet_state(request).db.session(unscoped=True) as unscoped:
            others = [m for m, _ in services.memberships_of(unscoped, user_id) if m.clinic_id != principal.clinic_id]
        try:
            staff.disable(db, user_id, principal.user_id, other_clinics=len(others))
        except services.IdentityError as exc:
            return self._refused(request, db, exc)
        return self._done(request, db, "disabled")

    @post("/{user_id:int}/resend", name="identity.staff.resend", sync_to_thread=True)
    def resend(
        self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], user_id: FromPath[int],
    ) -> Any:
        try:
            staff.resend_invitation(db, user_id)
        except services.IdentityError as exc:
            return self._refused(request, db, exc)
        return self._done(request, db, "resent")


def _translatable(exc: Exception) -> Exception:
    """Service messages about e-mail and roles are English for the CLI: give the page's own."""
    text = str(exc)
    if text.startswith("email:"):
        return staff.StaffError(N_("Give a valid e-mail address such as marie@cabinet.fr."))
    if text.startswith("roles:"):
        return staff.StaffError(N_("Choose at least one role."))
    if text.startswith("name:"):
        return staff.StaffError(N_("Use at most 200 characters for the name."))
    return exc
