"""The video room's signalling sockets: the practitioner's (/telecare/sessions/{id}/signal, behind
their staff session and the clinical gate) and the patient's (/p/{clinic}/telecare/j/{token}/signal,
their join link and the seat cookie of the browser that entered the waiting room). A handshake from
another origin, for a session that is over or from a second browser is closed before it opens; a
message of the wrong shape or size closes the socket with a reason (1008, 1009). Thin handlers: the
rules are in services/sessions.py, the relay in services/signalling.py."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import anyio
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath

from carnet_core.plugin_api import (
    PUBLIC,
    Id,
    InvalidInput,
    NotFound,
    client_address,
    connection_db,
    links,
    plugin_settings,
    principal_of,
)

from carnet_telecare import permissions as perm
from carnet_telecare.services import sessions, signalling

log = logging.getLogger("carnet.telecare.video")
CLOSE_SHAPE, CLOSE_SIZE, CLOSE_REFUSED = 1008, 1009, 4403
CLOSE_TEXT = {"shape": "message of an unknown shape", "size": "message too large"}


def _same_origin(socket: WebSocket[Any, Any, Any]) -> bool:
    """Browsers send the page's origin with a WebSocket handshake: only our own pages may open one."""
    origin = socket.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc == socket.headers.get("host")


async def _refuse(socket: WebSocket[Any, Any, Any], why: str) -> None:
    log.info("signal refused", extra={"route": socket.scope.get("path_template"), "error": why})
    await socket.close(code=CLOSE_REFUSED, reason=why)


def _write(socket: WebSocket[Any, Any, Any], key: tuple[int, int], event: str, by: str) -> None:
    with signalling.hub_of(socket.app).lock(key), connection_db(socket) as db:
        sessions.video_event(db, key[1], event, by)


async def _record(socket: WebSocket[Any, Any, Any], key: tuple[int, int], event: str, by: str) -> None:
    await anyio.to_thread.run_sync(_write, socket, key, event, by)


async def _run(socket: WebSocket[Any, Any, Any], key: tuple[int, int], side: str, started: bool, by: str,
               seconds: int, recording: bool) -> None:
    hub = signalling.hub_of(socket.app)
    ice = signalling.ice_servers(plugin_settings(socket, "telecare"), seconds)
    await socket.accept()
    await _record(socket, key, f"{side}_connected", by)
    await hub.enter(key, side, socket, started, ice, recording)
    try:
        while True:
            try:
                message = signalling.decode(await socket.receive_data(mode="text"))
            except signalling.Refused as refused:
                await socket.send_text(json.dumps({"type": "error", "error": refused.code}))
                await socket.close(code=CLOSE_SIZE if refused.code == "size" else CLOSE_SHAPE,
                                   reason=CLOSE_TEXT[refused.code])
                return
            if isinstance(message, signalling.State):
                await _record(socket, key, f"video_{message.state}", by)
            elif not await hub.relay(key, side, message):
                await socket.send_text(json.dumps({"type": "error", "error": "not_ready"}))
    except WebSocketDisconnect:
        return
    finally:
        await hub.leave(key, side, socket, lambda: _record(socket, key, f"{side}_left", by))


def _staff_session(socket: WebSocket[Any, Any, Any], session_id: int) -> tuple[int, str, int, bool] | str:
    try:
        with connection_db(socket) as db:
            found = sessions.for_staff_signal(db, principal_of(socket), session_id)
            return found.clinic_id, found.status, _seconds(found), sessions.is_recording(db, found)
    except NotFound:
        return "not_found"
    except InvalidInput as exc:
        return next(iter(exc.errors.values())).code


@websocket("/sessions/{session_id:int}/signal", name="telecare.signal", opt={"permission": perm.CLINICAL})
async def practitioner_signal(socket: WebSocket[Any, Any, Any], session_id: FromPath[Id]) -> None:
    if not _same_origin(socket):
        return await _refuse(socket, "origin")
    found = await anyio.to_thread.run_sync(_staff_session, socket, session_id)
    if isinstance(found, str):
        return await _refuse(socket, found)
    clinic_id, status, seconds, recording = found
    user = f"user:{principal_of(socket).user_id}"
    await _run(socket, (clinic_id, session_id), "practitioner", status == "started", user, seconds, recording)
    return None


def _patient_session(socket: WebSocket[Any, Any, Any], token: str) -> tuple[int, int, str, int, str, bool] | str:
    try:
        with connection_db(socket) as db:
            link = links.open_link(db, token, sessions.JOIN, client_address(socket))  # type: ignore[arg-type]
            found = sessions.for_patient_signal(db, link, socket.cookies.get(signalling.SEAT_COOKIE))
            links.audit_access(db, link, action="video", resource_type="telecare_session")
            return (found.clinic_id, found.id, found.status, _seconds(found),  # type: ignore[return-value]
                    f"patient_link:{link.id}", sessions.is_recording(db, found))
    except links.LinkRefused as refused:
        return f"link_{refused.reason}"
    except NotFound:
        return "not_found"
    except InvalidInput as exc:
        return next(iter(exc.errors.values())).code


@websocket("/j/{token:str}/signal", name="telecare.public.signal", opt={"permission": PUBLIC})
async def patient_signal(socket: WebSocket[Any, Any, Any], token: FromPath[str]) -> None:
    if not _same_origin(socket):
        return await _refuse(socket, "origin")
    found = await anyio.to_thread.run_sync(_patient_session, socket, token)
    if isinstance(found, str):
        return await _refuse(socket, found)
    clinic_id, session_id, status, seconds, by, recording = found
    await _run(socket, (clinic_id, session_id), "patient", status == "started", by, seconds, recording)
    return None


def _seconds(session: Any) -> int:
    """How long TURN credentials last: the rest of the session and its margin."""
    left = (session.ends_at + sessions.MARGIN - sessions.utcnow()).total_seconds()
    return max(600, int(left))


VIDEO_HANDLERS = [practitioner_signal]
PUBLIC_VIDEO_HANDLERS = [patient_signal]
