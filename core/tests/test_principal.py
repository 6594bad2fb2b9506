"""Who may do what: `Principal.can`, the check behind every permission guard.

Only a logged-in user or an API token with a user is authenticated; "public" is open to anyone,
"authenticated" to any authenticated party; any other permission needs the role's permission and,
for a scoped API token, the scope too (a scope never adds a permission the roles lack).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from carnet_core.contrib import AUTHENTICATED, PUBLIC
from carnet_core.web.principal import ANONYMOUS, Principal

NAMES = st.sampled_from(["core.patients.view", "core.patients.edit", "core.audit.view", "billing.invoices.edit"])
KINDS = st.sampled_from(["anonymous", "user", "token", "patient_link"])


def test_the_anonymous_principal_reaches_public_routes_only():
    assert ANONYMOUS.kind == "anonymous" and not ANONYMOUS.is_authenticated
    assert ANONYMOUS.can(PUBLIC)
    assert not ANONYMOUS.can(AUTHENTICATED)
    assert not ANONYMOUS.can("core.patients.view")


def test_users_and_tokens_with_a_user_are_authenticated_nobody_else():
    for kind in ("user", "token"):
        assert Principal(kind=kind, user_id=7).is_authenticated
        assert not Principal(kind=kind, user_id=None).is_authenticated
    for kind in ("anonymous", "patient_link", "", "users"):
        assert not Principal(kind=kind, user_id=7).is_authenticated


@given(kind=KINDS, user_id=st.one_of(st.none(), st.integers(1, 10**6)),
       permissions=st.frozensets(NAMES), scopes=st.one_of(st.none(), st.frozensets(NAMES)))
def test_who_is_not_authenticated_holds_no_permission_whatever_it_carries(kind, user_id, permissions, scopes):
    principal = Principal(kind=kind, user_id=user_id, permissions=permissions, scopes=scopes)
    if kind in ("user", "token") and user_id is not None:
        return
    assert principal.can(PUBLIC)
    assert not principal.can(AUTHENTICATED)
    for name in permissions | (scopes or frozenset()):
        assert not principal.can(name), (kind, user_id, name)


def test_an_authenticated_user_needs_the_permission_of_its_roles():
    user = Principal(kind="user", user_id=1, permissions=frozenset({"core.patients.view"}))
    assert user.can(PUBLIC) and user.can(AUTHENTICATED)
    assert user.can("core.patients.view")
    assert not user.can("core.patients.edit")
    assert Principal(kind="user", user_id=1).can(AUTHENTICATED)  # no role at all: still a member


@given(permissions=st.frozensets(NAMES), scopes=st.one_of(st.none(), st.frozensets(NAMES)), wanted=NAMES)
def test_a_token_needs_both_the_permission_and_the_scope(permissions, scopes, wanted):
    token = Principal(kind="token", user_id=3, permissions=permissions, scopes=scopes)
    in_scope = scopes is None or wanted in scopes  # None: every scope
    assert token.can(wanted) == (wanted in permissions and in_scope)
    # "public" and "authenticated" are not scoped: a token scoped to nothing is still a member
    assert token.can(PUBLIC) and token.can(AUTHENTICATED)


def test_an_empty_scope_set_grants_nothing_unlike_no_scope_at_all():
    every = frozenset({"core.patients.view", "core.patients.edit"})
    assert not Principal(kind="token", user_id=3, permissions=every, scopes=frozenset()).can("core.patients.view")
    assert Principal(kind="token", user_id=3, permissions=every, scopes=None).can("core.patients.view")


def test_a_principals_roles_refuse_a_role_that_does_not_exist():
    """Whatever set the roles come as, asking for a misspelt role raises instead of answering False."""
    import pytest

    from carnet_core.contrib import Roles, UnknownRole

    for roles in (frozenset({"owner"}), {"owner"}, Roles({"owner"})):
        principal = Principal(kind="user", user_id=1, roles=roles)
        assert isinstance(principal.roles, Roles) and principal.roles == {"owner"}
        assert "owner" in principal.roles and "secretary" not in principal.roles
        with pytest.raises(UnknownRole):
            assert "praticien" in principal.roles
    assert ANONYMOUS.roles == frozenset() and isinstance(ANONYMOUS.roles, Roles)
