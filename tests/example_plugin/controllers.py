"""Example handlers: an HTML page, a JSON endpoint and a public page."""

from typing import Any

from litestar import Request, get

from carnet_core.contrib import PUBLIC
from carnet_core.web.render import page


@get("/", name="example.index", opt={"permission": "example.view"}, sync_to_thread=True)
def index(request: Request[Any, Any, Any]) -> Any:
    return page(request, "example/index.html", {"message": "Bonjour depuis l'exemple"})


@get("/ping", name="example.api.ping", opt={"permission": "example.view"})
async def api_ping(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {"pong": "example"}


@get("/hello", name="example.public.hello", opt={"permission": PUBLIC})
async def public_hello(request: Request[Any, Any, Any]) -> dict[str, str]:
    clinic = request.scope["state"]["public_clinic"]
    return {"clinic": clinic.slug}
