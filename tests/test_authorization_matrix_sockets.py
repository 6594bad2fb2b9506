"""The authorization matrix checks WebSocket routes too (issue 11): a socket without a row fails
it, and so does one that opens for a participant the row does not allow or from another site's
page (cross-site WebSocket hijacking); a socket that checks its caller passes. A plugin defined
here, with one careful and one careless socket, is run through the same contract every plugin's
suite runs."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import WebSocket, websocket

from carnet_core.plugin_api import Permission, hookimpl, principal_of
from carnet_core.testing.matrix import Row

CAREFUL = "WS /sockets/careful"
CARELESS = "WS /sockets/careless"


class Sockets:
    CARNET_CORE_REQUIRES = ">=0.1,<1"

    @hookimpl
    def register_permissions(self) -> list[Permission]:
        return [Permission("sockets.use", "Use the sockets", roles=("practitioner",))]

    @hookimpl
    def register_routes(self) -> list[Any]:
        @websocket("/careful", opt={"permission": "sockets.use"})
        async def careful(socket: WebSocket[Any, Any, Any]) -> None:
            origin = socket.headers.get("origin", "")
            if origin.split("://", 1)[-1] != socket.headers.get("host") or principal_of(socket).clinic_id is None:
                await socket.close(code=4403)
                return
            await socket.accept()
            await socket.close()

        @websocket("/careless", opt={"permission": "sockets.use"})
        async def careless(socket: WebSocket[Any, Any, Any]) -> None:  # no origin check
            await socket.accept()
            await socket.close()

        return [careful, careless]


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("sockets", Sockets())
    return inline_plugins


def test_a_socket_opening_from_another_sites_page_fails_and_a_careful_one_passes(inline_plugins, authorization_matrix):
    rows = {CAREFUL: Row(("practitioner",)), CARELESS: Row(("practitioner",))}
    with pytest.raises(AssertionError) as failed:
        authorization_matrix.check(rows, plugins=["sockets"])
    problems = str(failed.value)
    assert CAREFUL not in problems
    assert f"{CARELESS} as practitioner from another site's page: opened, expected a refusal" in problems


def test_a_socket_without_a_row_or_with_wrong_roles_fails(inline_plugins, authorization_matrix):
    with pytest.raises(AssertionError) as failed:
        authorization_matrix.check({CAREFUL: Row(("practitioner", "secretary"))}, plugins=["sockets"])
    problems = str(failed.value)
    assert "routes without an authorization row" in problems and CARELESS in problems
    assert f"{CAREFUL}: row roles ['practitioner', 'secretary'] differ from the permission's ['practitioner']" \
        in problems


def test_a_socket_opening_for_whom_the_row_refuses_fails(inline_plugins, authorization_matrix):
    # the row says nobody opens it with these params (as for another patient's session): it does
    rows = {CAREFUL: Row(("practitioner",), opens=()), CARELESS: Row(("practitioner",), opens=())}
    with pytest.raises(AssertionError) as failed:
        authorization_matrix.check(rows, plugins=["sockets"])
    problems = str(failed.value)
    assert f"{CAREFUL} as practitioner: opened, expected a refusal" in problems
    assert f"{CARELESS} as practitioner: opened, expected a refusal" in problems
    assert f"{CAREFUL} as anonymous" not in problems and f"{CAREFUL} as secretary" not in problems  # the guard


def test_a_row_naming_a_participant_nobody_registered_fails(inline_plugins, authorization_matrix):
    with pytest.raises(AssertionError, match=r"no client for \['patient-link'\]"):
        authorization_matrix.check({CAREFUL: Row(("practitioner", "patient-link")),
                                    CARELESS: Row(("practitioner",))}, plugins=["sockets"])
