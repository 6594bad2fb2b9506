"""The private calendar feed: /p/{clinic_slug}/scheduling/feed/{token}.ics. The token in the path
is the secret (stored hashed); a wrong or revoked token is a plain 404."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from carnet_core.plugin_api import PUBLIC, CarnetSession, settings_of
from carnet_scheduling.services import feeds, people


@get("/feed/{token:str}", opt={"permission": PUBLIC}, sync_to_thread=True, include_in_schema=False)
def calendar_feed(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str],
) -> Response[bytes]:
    token = token.removesuffix(".ics")
    feed = feeds.find_feed(db, token)
    if feed is None:
        raise NotFoundException()
    clinic = request.scope["state"]["public_clinic"]
    body = feeds.render_feed(db, feed, clinic_name=clinic.name, base_url=settings_of(request).base_url,
                             patient_names=lambda ids: people.feed_names(db, feed, ids))
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"})


PUBLIC_HANDLERS = [calendar_feed]
