"""Identity pages: login with a mandatory second factor, enrollment, password reset, account,
clinic switcher, logout; and GET /api/v1/me. Thin: parse, call services, render."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from carnet_core.contrib import AUTHENTICATED, PUBLIC
from carnet_core.identity import passwords, services, totp
from carnet_core.identity.keys import IdentityKeys
from carnet_core.identity.mail import enqueue_account_link
from carnet_core.identity.models import User
from carnet_core.identity.passwords import N_
from carnet_core.identity.policy import IdentityPolicy
from carnet_core.identity.sessions import (
    clear_session_cookie,
    cookie_name,
    device_cookie_name,
    lifetimes,
    set_device_cookie,
    set_session_cookie,
)
from carnet_core.identity.trail import record_account_event, record_failed_login
from carnet_core.web.guards import principal_of
from carnet_core.web.render import page, translate
from carnet_core.web.state import CarnetState, carnet_state

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
RESET_ADDRESS_LIMIT = 5


def _keys(state: CarnetState) -> IdentityKeys:
    return state.extras["identity_keys"]


def _policy(state: CarnetState) -> IdentityPolicy:
    return state.extras["identity_policy"]


@contextmanager
def _unit(request: Request[Any, Any, Any]) -> Iterator[Any]:
    """An unscoped unit of work (identity rows span clinics) that the audit trail can attribute:
    request id, address and principal, like the request's own `db`."""
    state = carnet_state(request)
    with state.db.session(unscoped=True) as db:
        db.info["principal"] = principal_of(request)
        db.info["request_id"] = request.scope.get("state", {}).get("request_id")
        db.info["address"] = _address(request)
        yield db


def _too_many(request: Request[Any, Any, Any], wait: timedelta | None) -> str:
    minutes = max(1, math.ceil((wait or timedelta(minutes=1)).total_seconds() / 60))
    return translate(request, N_("Too many attempts. Wait %(minutes)s minutes, then try again."), minutes=minutes)


def _retry_after(wait: timedelta | None) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait.total_seconds())))} if wait else {}


def _device_cookie(request: Request[Any, Any, Any]) -> str | None:
    return request.cookies.get(device_cookie_name(carnet_state(request).settings))


def _device_value(request: Request[Any, Any, Any], user: User, device: str | None) -> str:
    """After a full login: the cookie that makes this browser (or keeps it) a known device."""
    return services.remember_device(_keys(carnet_state(request)), _device_cookie(request), user, device)


def _set_device(request: Request[Any, Any, Any], response: Any, value: str) -> None:
    state = carnet_state(request)
    set_device_cookie(response, state.settings, value, _policy(state).known_device)


def _address(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def _field(data: dict[str, Any], name: str, limit: int = 500) -> str:
    value = data.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _safe_next(target: str | None) -> str:
    """Only local paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target[:500]


# --- login --------------------------------------------------------------------------------


@get("/login", name="identity.login", opt={"permission": PUBLIC}, sync_to_thread=True)
def login_form(request: Request[Any, Any, Any]) -> Template:
    context = {
        "next": _safe_next(request.query_params.get("next")),
        "email": "",
        "reset": request.query_params.get("reset") == "1",
    }
    return page(request, "core/identity/login.html", context)


@post("/login", name="identity.login.submit", opt={"permission": PUBLIC}, sync_to_thread=True)
def login_submit(request: Request[Any, Any, Any], data: Form) -> Template | Redirect:
    state = carnet_state(request)
    email, password = _field(data, "email", 254), _field(data, "password", 1000)
    next_url = _safe_next(_field(data, "next"))
    with _unit(request) as db:
        check = services.check_password(
            db, _keys(state), email, password, _address(request), _policy(state),
            device_cookie=_device_cookie(request),
        )
        if check.user is not None:
            # Whatever session this browser had (pending or full) ends: the new one gets a new id.
            services.revoke_session_by_cookie(db, request.cookies.get(cookie_name(state.settings)))
            raw, _ = services.create_session(
                db,
                check.user,
                stage="mfa",
                address=_address(request),
                user_agent=request.headers.get("user-agent"),
                next_url=next_url,
            )
    if check.user is None:
        # Same body and status whether or not the account exists (the e-mail is echoed as typed).
        if check.limited:
            message = _too_many(request, check.retry_after)
        else:
            message = translate(request, N_("Incorrect e-mail or password."))
        return page(
            request,
            "core/identity/login.html",
            {"next": next_url, "email": email, "error": message},
            status_code=429 if check.limited else 400,
            headers=_retry_after(check.retry_after),
        )
    response = Redirect("/login/totp", status_code=303)
    set_session_cookie(response, state.settings, raw)
    return response


def _pending(request: Request[Any, Any, Any], db: Any) -> tuple[Any, User] | None:
    state = carnet_state(request)
    idle, absolute = lifetimes(state.settings)
    return services.load_session(
        db, request.cookies.get(cookie_name(state.settings)), idle=idle, absolute=absolute, stage="mfa"
    )


@get("/login/totp", name="identity.totp", opt={"permission": PUBLIC}, sync_to_thread=True)
def totp_form(request: Request[Any, Any, Any]) -> Template | Redirect:
    with _unit(request) as db:
        if _pending(request, db) is None:
            return Redirect("/login", status_code=303)
    return page(request, "core/identity/totp.html")


@post("/login/totp", name="identity.totp.submit", opt={"permission": PUBLIC}, sync_to_thread=True)
def totp_submit(request: Request[Any, Any, Any], data: Form) -> Template | Redirect:
    state = carnet_state(request)
    keys, address, policy = _keys(state), _address(request), _policy(state)
    code = _field(data, "code", 40)
    error = None
    raw = None
    with _unit(request) as db:
        found = _pending(request, db)
        if found is None:
            return Redirect("/login", status_code=303)
        pending, user = found
        device = services.known_device(keys, _device_cookie(request), user, policy)
        wait = services.refusal(db, keys, user.email, address, policy, device=device)
        if wait is not None:
            services.revoke_session(db, pending.id)
            record_failed_login(db, keys, user.email, user.id, step="second_factor", reason="rate_limited")
            error, status = _too_many(request, wait), 429
        elif services.verify_second_factor(db, keys, user, code):
            if services.default_clinic(db, user.id) is None:
                services.revoke_session(db, pending.id)
                message = N_("Your account has no access to any clinic. Ask the clinic owner.")
                error, status = translate(request, message), 403
            else:
                raw, full = services.complete_login(db, pending, user, address, request.headers.get("user-agent"))
                services.clear_account_failures(db, keys, user.email, device=device)
                target = _safe_next(full.next_url)
                device_value = _device_value(request, user, device)
        else:
            services.record_failure(db, keys, user.email, address, policy, device=device)
            record_failed_login(db, keys, user.email, user.id, step="second_factor", reason="invalid")
            pending.mfa_failures += 1
            db.add(pending)
            if pending.mfa_failures >= services.MFA_STAGE_MAX_FAILURES:
                services.revoke_session(db, pending.id)
            error, status = translate(request, N_("This code is not valid. Enter the current code from your app.")), 400
    if raw is None:
        # The refusal is recorded: keep it even though the page answers with an error status.
        headers = _retry_after(wait) if status == 429 else None
        return page(request, "core/identity/totp.html", {"error": error}, status_code=status, headers=headers)
    response = Redirect(target, status_code=303)
    set_session_cookie(response, state.settings, raw)
    _set_device(request, response, device_value)
    return response


@post("/logout", name="identity.logout", opt={"permission": PUBLIC}, sync_to_thread=True)
def logout(request: Request[Any, Any, Any]) -> Redirect:
    state = carnet_state(request)
    principal = principal_of(request)
    if principal.kind == "user" and principal.session_id:
        with _unit(request) as db:
            services.logout(db, principal.user_id, int(principal.session_id))
    response = Redirect("/login", status_code=303)
    clear_session_cookie(response, state.settings)
    return response


# --- enrollment ---------------------------------------------------------------------------


def _invalid_link(request: Request[Any, Any, Any]) -> Template:
    return page(request, "core/identity/link_invalid.html", status_code=404)


def _totp_step(
    request: Request[Any, Any, Any],
    token: str,
    user: User,
    secret: str,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    uri = totp.provisioning_uri(secret, user.email)
    context = {
        "token": token,
        "qr": totp.qr_svg_data_uri(uri),
        "secret": secret,
        "error": translate(request, error) if error else None,
    }
    return page(request, "core/identity/enroll_totp.html", context, status_code=status_code)


@get("/enroll/{token:str}", name="identity.enroll", opt={"permission": PUBLIC}, sync_to_thread=True)
def enroll_form(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    with _unit(request) as db:
        found = services.find_link(db, token, "enroll")
    if found is None:
        return _invalid_link(request)
    return page(request, "core/identity/enroll.html", {"token": token, "email": found[1].email})


@post("/enroll/{token:str}", name="identity.enroll.password", opt={"permission": PUBLIC}, sync_to_thread=True)
def enroll_password(request: Request[Any, Any, Any], token: FromPath[str], data: Form) -> Template:
    state = carnet_state(request)
    password, confirm = _field(data, "password", 1000), _field(data, "confirm", 1000)
    with _unit(request) as db:
        found = services.find_link(db, token, "enroll")
        if found is None:
            return _invalid_link(request)
        _, user = found
        error = None
        if password != confirm:
            error = N_("The two passwords differ.")
        else:
            try:
                services.set_password(db, user, password, _policy(state), via="enroll")
            except passwords.PasswordPolicyError as exc:
                error = str(exc)
        if error is None:
            secret = services.start_totp_enrollment(db, _keys(state), user)
    if error is not None:
        context = {"token": token, "email": user.email, "error": translate(request, error)}
        return page(request, "core/identity/enroll.html", context, status_code=400)
    return _totp_step(request, token, user, secret)


@post("/enroll/{token:str}/confirm", name="identity.enroll.confirm", opt={"permission": PUBLIC}, sync_to_thread=True)
def enroll_confirm(request: Request[Any, Any, Any], token: FromPath[str], data: Form) -> Template:
    state = carnet_state(request)
    keys = _keys(state)
    with _unit(request) as db:
        found = services.find_link(db, token, "enroll")
        if found is None:
            return _invalid_link(request)
        link, user = found
        secret = services.totp_secret(keys, user)
        if secret is None or user.password_hash is None:
            return page(request, "core/identity/enroll.html", {"token": token, "email": user.email})
        codes = services.confirm_totp_enrollment(db, keys, user, _field(data, "code", 40))
        if codes is not None:
            services.use_link(db, link)
            raw, row = services.create_session(
                db,
                user,
                stage="full",
                clinic_id=services.default_clinic(db, user.id),
                address=_address(request),
                user_agent=request.headers.get("user-agent"),
            )
            services.record_login(db, user, row, via="enroll")
            device_value = _device_value(request, user, None)
    if codes is None:
        return _totp_step(
            request, token, user, secret, N_("This code is not valid. Enter the current code from your app."), 400
        )
    response = page(request, "core/identity/recovery_codes.html", {"codes": codes, "first": True})
    set_session_cookie(response, state.settings, raw)
    _set_device(request, response, device_value)
    return response


# --- password reset -----------------------------------------------------------------------


@get("/password/forgot", name="identity.forgot", opt={"permission": PUBLIC}, sync_to_thread=True)
def forgot_form(request: Request[Any, Any, Any]) -> Template:
    return page(request, "core/identity/forgot.html")


@post("/password/forgot", name="identity.forgot.submit", opt={"permission": PUBLIC}, sync_to_thread=True)
def forgot_submit(request: Request[Any, Any, Any], data: Form) -> Template:
    state = carnet_state(request)
    keys, policy = _keys(state), _policy(state)
    email = _field(data, "email", 254)
    address = _address(request)
    with _unit(request) as db:
        wait = services.refusal(db, keys, f"reset:{email}", f"reset:{address}", policy)
        if wait is not None:
            return page(
                request, "core/identity/forgot.html", {"error": _too_many(request, wait)}, status_code=429,
                headers=_retry_after(wait),
            )
        # Each request counts, so links cannot be used to flood a mailbox.
        services.record_failure(db, keys, f"reset:{email}", f"reset:{address}", policy)
        user = services.get_user_by_email(db, email)
        if user is not None and user.enrolled and not user.disabled:
            # Sent by a job once this transaction commits: a mail outage never fails the page,
            # and the answer is the same whether or not the account exists.
            enqueue_account_link(db, user.id, "reset", clinic_id=services.default_clinic(db, user.id))
    return page(request, "core/identity/forgot.html", {"sent": True})


@get("/password/reset/{token:str}", name="identity.reset", opt={"permission": PUBLIC}, sync_to_thread=True)
def reset_form(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    with _unit(request) as db:
        if services.find_link(db, token, "reset") is None:
            return _invalid_link(request)
    return page(request, "core/identity/reset.html", {"token": token})


@post("/password/reset/{token:str}", name="identity.reset.submit", opt={"permission": PUBLIC}, sync_to_thread=True)
def reset_submit(request: Request[Any, Any, Any], token: FromPath[str], data: Form) -> Template | Redirect:
    state = carnet_state(request)
    keys, address, policy = _keys(state), _address(request), _policy(state)
    password, confirm = _field(data, "password", 1000), _field(data, "confirm", 1000)
    error, status = None, 400
    with _unit(request) as db:
        found = services.find_link(db, token, "reset")
        if found is None:
            return _invalid_link(request)
        link, user = found
        # The link came to the owner's mailbox: its attempts count on their own (like a known
        # device), so strangers' failures on the account never stop its owner from resetting.
        # Each link allows the account limit of second-factor tries; links are rate-limited too.
        holder = f"reset-link:{link.id}"
        wait = services.refusal(db, keys, user.email, address, policy, device=holder)
        if wait is not None:
            record_failed_login(db, keys, user.email, user.id, step="reset", reason="rate_limited")
            error, status = _too_many(request, wait), 429
        elif password != confirm:
            error = translate(request, N_("The two passwords differ."))
        else:
            try:
                passwords.check_policy(password, [user.email, user.display_name])
            except passwords.PasswordPolicyError as exc:
                error = translate(request, str(exc))
        # The second factor is checked last, so a typo in the password does not spend a code.
        if error is None and not services.verify_second_factor(db, keys, user, _field(data, "code", 40)):
            services.record_failure(db, keys, user.email, address, policy, device=holder)
            record_failed_login(db, keys, user.email, user.id, step="reset", reason="invalid")
            error = translate(request, N_("This code is not valid. Enter the current code from your app."))
        if error is None:
            services.set_password(db, user, password, policy, via="reset")  # ends every session
            services.use_link(db, link)
    if error is not None:
        return page(request, "core/identity/reset.html", {"token": token, "error": error}, status_code=status)
    return Redirect("/login?reset=1", status_code=303)


# --- account ------------------------------------------------------------------------------


def _account_context(request: Request[Any, Any, Any], **extra: Any) -> dict[str, Any]:
    principal = principal_of(request)
    with _unit(request) as db:
        remaining = services.remaining_recovery_codes(db, principal.user_id)
        clinics = [c for _, c in services.memberships_of(db, principal.user_id)]
    return {"remaining": remaining, "clinics": clinics, **extra}


@get("/account", name="identity.account", opt={"permission": AUTHENTICATED}, sync_to_thread=True)
def account(request: Request[Any, Any, Any]) -> Template:
    _require_user(request)
    return page(request, "core/identity/account.html", _account_context(request))


def _require_user(request: Request[Any, Any, Any]) -> Any:
    principal = principal_of(request)
    if principal.kind != "user":
        raise NotAuthorizedException("log in with your password and second factor")
    return principal


@post("/account/password", name="identity.account.password", opt={"permission": AUTHENTICATED}, sync_to_thread=True)
def change_password(request: Request[Any, Any, Any], data: Form) -> Template:
    state = carnet_state(request)
    principal = _require_user(request)
    current, new, confirm = (_field(data, k, 1000) for k in ("current", "password", "confirm"))
    error = None
    policy = _policy(state)
    with _unit(request) as db:
        user = db.get(User, principal.user_id)
        if not passwords.verify_password(user.password_hash, current, policy.hasher):
            services.record_failure(db, _keys(state), user.email, _address(request), policy)
            record_account_event(db, user.id, action="password_change", outcome="failure", actor=principal)
            error = N_("Your current password is not correct.")
        elif new != confirm:
            error = N_("The two passwords differ.")
        else:
            try:
                services.set_password(db, user, new, policy, via="account")  # ends every session
            except passwords.PasswordPolicyError as exc:
                error = str(exc)
        if error is None:
            raw, _ = services.create_session(
                db,
                user,
                stage="full",
                clinic_id=principal.clinic_id,
                address=_address(request),
                user_agent=request.headers.get("user-agent"),
            )
    if error is not None:
        return page(
            request,
            "core/identity/account.html",
            _account_context(request, password_error=translate(request, error)),
            status_code=400,
        )
    response = page(request, "core/identity/account.html", _account_context(request, password_changed=True))
    set_session_cookie(response, state.settings, raw)
    return response


@post(
    "/account/recovery-codes", name="identity.account.recovery", opt={"permission": AUTHENTICATED}, sync_to_thread=True
)
def regenerate_codes(request: Request[Any, Any, Any], data: Form) -> Template:
    state = carnet_state(request)
    principal = _require_user(request)
    keys = _keys(state)
    codes = None
    with _unit(request) as db:
        user = db.get(User, principal.user_id)
        code = totp.normalise_code(_field(data, "code", 40))
        if code.isdigit() and services.verify_second_factor(db, keys, user, code):
            codes = services.regenerate_recovery_codes(db, keys, user)
        else:
            services.record_failure(db, keys, user.email, _address(request), _policy(state))
    if codes is None:
        error = translate(request, ("This code is not valid. Enter the current code from your app."))
        return page(
            request, "core/identity/account.html", _account_context(request, codes_error=error), status_code=400
        )
    return page(request, "core/identity/recovery_codes.html", {"codes": codes, "first": False})


# --- clinic switcher ----------------------------------------------------------------------


@get("/clinic/switch", name="identity.clinic_switch", opt={"permission": AUTHENTICATED}, sync_to_thread=True)
def clinic_switch_form(request: Request[Any, Any, Any]) -> Template:
    _require_user(request)
    return page(request, "core/identity/clinic_switch.html", _account_context(request))


@post("/clinic/switch", name="identity.clinic_switch.submit", opt={"permission": AUTHENTICATED}, sync_to_thread=True)
def clinic_switch(request: Request[Any, Any, Any], data: Form) -> Template | Redirect:
    principal = _require_user(request)
    raw = _field(data, "clinic_id", 12)
    with _unit(request) as db:
        from carnet_core.identity.models import LoginSession

        row = db.get(LoginSession, int(principal.session_id))
        ok = raw.isdigit() and row is not None and services.switch_clinic(db, row, int(raw))
    if not ok:
        context = _account_context(request, error=translate(request, ("Choose one of your clinics.")))
        return page(request, "core/identity/clinic_switch.html", context, status_code=400)
    return Redirect("/", status_code=303)


# --- API ----------------------------------------------------------------------------------


@get("/api/v1/me", name="identity.api.me", opt={"permission": AUTHENTICATED}, sync_to_thread=True)
def api_me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    principal = principal_of(request)
    clinic = principal.clinic
    return {
        "id": principal.user_id,
        "email": principal.email,
        "display_name": principal.display_name,
        "roles": sorted(principal.roles),
        "clinic": {"id": clinic.id, "slug": clinic.slug, "name": clinic.name} if clinic else None,
        "scopes": sorted(principal.scopes) if principal.scopes is not None else None,
    }


HANDLERS = [
    login_form,
    login_submit,
    totp_form,
    totp_submit,
    logout,
    enroll_form,
    enroll_password,
    enroll_confirm,
    forgot_form,
    forgot_submit,
    reset_form,
    reset_submit,
    account,
    change_password,
    regenerate_codes,
    clinic_switch_form,
    clinic_switch,
    api_me,
]
