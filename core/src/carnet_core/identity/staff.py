"""Staff management by a clinic's owners: invite, change roles, remove, disable, re-invite.

Every function takes a session bound to the owner's clinic (`db.session(clinic_id=...)` or the
request's `db`), so memberships of other clinics are out of reach by construction. Each change
is recorded in the clinic's audit trail in the same transaction; invitations are e-mailed by a
job enqueued in that transaction too. A clinic always keeps at least one enabled owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import select

from carnet_core import audit
from carnet_core.db.session import CarnetSession
from carnet_core.identity import services
from carnet_core.identity.mail import enqueue_account_link
from carnet_core.identity.models import Membership, User
from carnet_core.identity.passwords import N_


class StaffError(services.IdentityError):
    """A staff change is refused; the message (an msgid) says what to do instead."""


class MemberNotFound(StaffError):
    """No such member in this clinic (an answer that says nothing about other clinics)."""


@dataclass(frozen=True)
class Member:
    user_id: int
    email: str
    display_name: str
    roles: tuple[str, ...]
    status: str  # "active", "invited" (not enrolled yet) or "disabled"


def _clinic(db: CarnetSession) -> int:
    if db.clinic_id is None:
        raise StaffError("staff changes need a session bound to the clinic")
    return db.clinic_id


def _status(user: User) -> str:
    if user.disabled:
        return "disabled"
    return "active" if user.enrolled else "invited"


def list_members(db: CarnetSession) -> list[Member]:
    """The clinic's current members, by e-mail."""
    rows = db.exec(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.active == True)  # noqa: E712
        .order_by(User.email)
    )
    return [
        Member(u.id, u.email, u.display_name, tuple(sorted(m.role_set)), _status(u)) for m, u in rows
    ]


def get_member(db: CarnetSession, user_id: int) -> tuple[Membership, User]:
    row = services.membership(db, user_id, _clinic(db))
    user = db.get(User, user_id) if row is not None else None
    if row is None or user is None:
        raise MemberNotFound(N_("This person is not a member of the clinic."))
    return row, user


def _other_enabled_owners(db: CarnetSession, user_id: int) -> int:
    rows = db.exec(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.active == True, Membership.user_id != user_id)  # noqa: E712
    )
    return sum(1 for m, u in rows if "owner" in m.role_set and not u.disabled)


def _keep_an_owner(db: CarnetSession, row: Membership, user: User) -> None:
    if "owner" in row.role_set and not user.disabled and _other_enabled_owners(db, user.id) == 0:
        raise StaffError(N_("A clinic keeps at least one owner: make someone else owner first."))


def invite(db: CarnetSession, email: str, roles: Any, display_name: str = "") -> User:
    """Add a member with `roles`; a person who has not enrolled yet gets an invitation e-mail."""
    clinic_id = _clinic(db)
    parsed = services.parse_roles(roles)
    normalised = services.normalise_email(email)
    existing = db.exec(select(User).where(User.email == normalised)).first()
    if existing is not None and services.membership(db, existing.id, clinic_id) is not None:
        raise StaffError(N_("This person is already a member: change their roles instead."))
    user = services.create_or_get_user(db, normalised, display_name)
    row = services.set_membership(db, clinic_id, user.id, parsed)
    mailed = not user.enrolled and not user.disabled
    if mailed:
        enqueue_account_link(db, user.id, "enroll", clinic_id=clinic_id)
    audit.record(
        db, action="create", resource_type="membership", resource_id=row.id,
        details={"user": user.id, "roles": list(parsed), "invitation": mailed},
    )
    return user


def change_roles(db: CarnetSession, user_id: int, roles: Any) -> Membership:
    row, user = get_member(db, user_id)
    parsed = services.parse_roles(roles)
    before = sorted(row.role_set)
    if "owner" not in parsed:
        _keep_an_owner(db, row, user)
    row = services.set_membership(db, _clinic(db), user.id, parsed)
    audit.record(
        db, action="update", resource_type="membership", resource_id=row.id,
        details={"user": user.id, "roles": list(parsed), "before": before},
    )
    return row


def remove(db: CarnetSession, user_id: int) -> None:
    """Take the person out of this clinic: their sessions and tokens here end at once."""
    row, user = get_member(db, user_id)
    _keep_an_owner(db, row, user)
    services.remove_member(db, _clinic(db), user.id)
    audit.record(db, action="delete", resource_type="membership", resource_id=row.id, details={"user": user.id})


def disable(db: CarnetSession, user_id: int, acting_user_id: int | None, other_clinics: int) -> None:
    """Disable the account itself (it can no longer log in anywhere). Only for people who work
    in this clinic alone (`other_clinics`, counted by the caller with an unscoped read): the
    owners of one clinic do not lock someone out of another."""
    row, user = get_member(db, user_id)
    if user_id == acting_user_id:
        raise StaffError(N_("You cannot disable your own account."))
    if other_clinics:
        raise StaffError(N_("This person also works in another clinic: remove them from this clinic instead."))
    if user.disabled:
        return
    _keep_an_owner(db, row, user)
    services.disable_user(db, user)  # recorded in the clinic's trail, actor from the request


def resend_invitation(db: CarnetSession, user_id: int) -> None:
    """A new enrollment e-mail (the previous link stops working when the job makes the new one)."""
    row, user = get_member(db, user_id)
    if user.enrolled or user.disabled:
        raise StaffError(N_("This person has already set up their account."))
    enqueue_account_link(db, user.id, "enroll", clinic_id=_clinic(db))
    audit.record(db, action="send", resource_type="invitation", resource_id=row.id, details={"user": user.id})
