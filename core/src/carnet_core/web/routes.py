"""Core pages that are not part of a domain area: home, language, health."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from carnet_core.contrib import PUBLIC
from carnet_core.db.session import CarnetSession
from carnet_core.i18n import LOCALES
from carnet_core.web.guards import principal_of
from carnet_core.web.render import LANG_COOKIE, contributed, page, rendered_panels
from carnet_core.web.state import carnet_state


@get("/", name="core.home", opt={"permission": PUBLIC}, sync_to_thread=True)
def home(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    """Visitors: what Carnet is. Members: today's work, a panel per module the clinic enabled
    (`home_panels`: today's appointments, forms to sign, unpaid notes…) and the shortcuts."""
    principal = principal_of(request)
    if not principal.is_authenticated:
        return page(request, "core/home.html")
    panels = contributed(request, "home_panels", "home panel", clinic=principal.clinic, user=principal, db=db)
    zone = ZoneInfo(getattr(principal.clinic, "timezone", None) or "Europe/Paris")
    return page(request, "core/home.html", {"panels": rendered_panels(request, panels),
                                            "today": datetime.now(zone).date()})


@post("/lang", name="core.lang", opt={"permission": PUBLIC}, sync_to_thread=True)
def set_language(
    request: Request[Any, Any, Any],
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    locale = str(data.get("locale", ""))
    target = str(data.get("next") or "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = Redirect(target, status_code=303)
    if locale in LOCALES:
        secure = carnet_state(request).settings.secure_cookies
        response.set_cookie(
            LANG_COOKIE, locale, max_age=365 * 24 * 3600, httponly=True, secure=secure, samesite="lax", path="/"
        )
    return response


@get("/healthz", name="core.health", opt={"permission": PUBLIC}, include_in_schema=False, sync_to_thread=True)
def health(request: Request[Any, Any, Any]) -> dict[str, str]:
    state = carnet_state(request)
    with state.db.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    return {"status": "ok"}
