"""Input bounds applied to every route before any handler runs (see `carnet_core.inputs`).

- `path_params_guard`: an integer path parameter beyond MAX_ID names nothing (404), and a file path
  parameter carrying a NUL byte (`/static/core/%00`) names no file (404); text parameters are left
  to their handlers (a patient link answers its own "invalid link" page). Without it such values
  reach the database or the file system and come back as a 500.
- `OptionalIdParam`: the id bound for an optional query parameter.
- `CarnetRequest`: the request class of the app; its JSON decoding refuses bodies nested deeper than
  MAX_JSON_DEPTH (400) instead of exhausting the recursion limit of the decoder (500).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException, NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter
from litestar.types import Empty

from carnet_core.inputs import MAX_ID, MAX_JSON_DEPTH, json_depth_exceeds

OptionalIdParam = Annotated[int | None, Parameter(ge=1, le=MAX_ID)]
"""A query parameter holding an optional id (`Id | None` documents the bound, but Litestar does not
check constraints inside an optional type): `practitioner_id: OptionalIdParam = None`."""


def path_params_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    for value in connection.path_params.values():
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not -MAX_ID <= value <= MAX_ID:
            raise NotFoundException()
        if (isinstance(value, PurePath) or _serves_files(handler)) and "\x00" in str(value):
            raise NotFoundException()


def _serves_files(handler: BaseRouteHandler) -> bool:
    return (handler.name or "").startswith("static.")  # the routers of app.static_routers


class CarnetRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        if self._json is Empty and self._connection_state.json is Empty:
            body = await self.body()
            if json_depth_exceeds(body):
                raise ClientException(f"the JSON body nests arrays or objects more than {MAX_JSON_DEPTH} deep")
        return await super().json()

