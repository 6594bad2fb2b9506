"""Answering a refused patient link with a clear page (404, 410 or 429), never an error."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from carnet_core.links.services import LinkRefused
from carnet_core.web.render import page


def client_address(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def keep_page(request: Request[Any, Any, Any], template: str, context: dict[str, Any] | None = None,
              status_code: int = 200) -> Template:
    """Render a page without rolling the request's transaction back, even for a 4xx: the
    attempts and refusals recorded while checking a link must count."""
    return page(request, template, context, status_code=status_code, keep=True)


def refusal_page(request: Request[Any, Any, Any], refused: LinkRefused) -> Template:
    """The page for a refused link: says what happened and what to do, in the patient's words."""
    return keep_page(request, "core/link_refused.html", {"reason": refused.reason}, refused.status)
