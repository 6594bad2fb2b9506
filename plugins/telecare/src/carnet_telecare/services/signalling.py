"""Télésoin video signalling: the two browsers of a session exchange their WebRTC offer, answer and
ICE candidates through a WebSocket on our own origin; the media then flows between them (DTLS-SRTP),
through the practice's own STUN/TURN servers when configured, never through a third party and never
recorded here (the server sees no media at all). The practitioner's browser may record the session
on their own device, only with the patient's consent (sessions.set_recording); the server then tells
both sockets (`{"type": "recording", "on": true}`), so the patient's page shows it, also to a
browser that connects while it lasts. Browsers never send that message: it is the server's word.

What the server relays is only what WebRTC needs, validated against a closed set of shapes
(`decode`): a session description, a candidate, the browser's connection state or a goodbye. The
relayed message is re-encoded from the validated fields, so nothing else (no name, no free text)
crosses; a message of another shape or size is refused and closes the socket. Each socket is
authenticated for one session and one side: the practitioner by their staff session (the
clinical gate of the patient), the patient by their join link and the seat cookie given to the
browser that entered the waiting room. Media is relayed only once the practitioner admitted the
patient. Connections, reconnections and the browsers' reports (connected, interrupted, failed) are
events of the session (sealed), which pre-fill the technical incidents of its report.

The rooms live in the web process: a deployment with several web processes sends a session's two
sockets to the same one (docs/OPERATIONS.md, "Several web processes")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec

MAX_MESSAGE = 64 * 1024  # characters of one WebSocket message (an SDP with many codecs is ~10 KB)
SDP_LIMIT = 60_000
CANDIDATE_LIMIT = 1024
SIDES = ("practitioner", "patient")
SEAT_COOKIE = "carnet_tc_seat"

Sdp = Annotated[str, msgspec.Meta(min_length=3, max_length=SDP_LIMIT, pattern=r"^v=0\r?\n")]
CandidateLine = Annotated[str, msgspec.Meta(max_length=CANDIDATE_LIMIT, pattern=r"^(candidate:[ -~]*)?\Z")]
Mid = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[A-Za-z0-9_-]*\Z")]
LineIndex = Annotated[int, msgspec.Meta(ge=0, le=64)]


class Offer(msgspec.Struct, tag="offer", tag_field="type", forbid_unknown_fields=True):
    sdp: Sdp


class Answer(msgspec.Struct, tag="answer", tag_field="type", forbid_unknown_fields=True):
    sdp: Sdp


class Candidate(msgspec.Struct, tag="candidate", tag_field="type", forbid_unknown_fields=True):
    candidate: CandidateLine
    sdpMid: Mid | None = None  # noqa: N815 - WebRTC's own names, as the browser sends them
    sdpMLineIndex: LineIndex | None = None  # noqa: N815


class State(msgspec.Struct, tag="state", tag_field="type", forbid_unknown_fields=True):
    state: Literal["connected", "interrupted", "failed"]


class Bye(msgspec.Struct, tag="bye", tag_field="type", forbid_unknown_fields=True):
    pass


Message = Offer | Answer | Candidate | State | Bye
_decoder = msgspec.json.Decoder(Message)
RELAYED = (Offer, Answer, Candidate, Bye)


class Refused(Exception):
    """A message of the wrong shape (`code` "shape") or size ("size"); the socket is closed."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def decode(raw: str | bytes | None) -> Message:
    if raw is None or isinstance(raw, bytes):
        raise Refused("shape")
    if len(raw) > MAX_MESSAGE:
        raise Refused("size")
    try:
        return _decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise Refused("shape") from None


def encode(message: Message) -> str:
    return msgspec.json.encode(message).decode()


def ice_servers(settings: Any, seconds: int, now: float | None = None) -> list[dict[str, Any]]:
    """The practice's STUN/TURN servers for one browser; with coturn's shared secret, TURN
    credentials that expire with the session (coturn's REST API scheme: `expiry:name` signed with
    HMAC-SHA1)."""
    urls = settings.ice_url_list()
    if not urls:
        return []
    stun = [u for u in urls if u.startswith("stun:")]
    turn = [u for u in urls if not u.startswith("stun:")]
    servers: list[dict[str, Any]] = [{"urls": stun}] if stun else []
    if turn:
        entry: dict[str, Any] = {"urls": turn}
        if settings.turn_secret is not None:
            username = f"{int((now or time.time()) + seconds)}:carnet"
            digest = hmac.new(settings.turn_secret.get_secret_value().encode(), username.encode(), hashlib.sha1)
            entry.update(username=username, credential=base64.b64encode(digest.digest()).decode())
        servers.append(entry)
    return servers


def new_seat() -> tuple[str, str]:
    """A seat for the browser that enters the waiting room: the cookie value and its stored hash."""
    value = secrets.token_urlsafe(32)
    return value, seat_hash(value)


def seat_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def seat_matches(stored: str | None, cookie: str | None) -> bool:
    return bool(stored and cookie) and hmac.compare_digest(stored, seat_hash(cookie))  # type: ignore[arg-type]


# --- the rooms of this web process ----------------------------------------------------------------


@dataclass
class Room:
    sockets: dict[str, Any] = field(default_factory=dict)
    ice: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # each side's STUN/TURN servers
    started: bool = False
    recording: bool = False  # the practitioner's browser records (the session's events say so)


class Hub:
    """One room per (clinic, session): at most one socket per side (a newer one replaces the older,
    which is closed), relays between the two sides only once the session started."""

    def __init__(self) -> None:
        self.rooms: dict[tuple[int, int], Room] = {}
        self.writing: dict[tuple[int, int], threading.Lock] = {}

    def lock(self, key: tuple[int, int]) -> threading.Lock:
        """Serialises the writes of a session's events by its sockets (each rewrites the sealed list),
        taken in the worker thread that writes."""
        return self.writing.setdefault(key, threading.Lock())

    async def enter(self, key: tuple[int, int], side: str, socket: Any, started: bool,
                    ice: list[dict[str, Any]], recording: bool = False) -> None:
        """`recording`: what the session's events said when this socket was let in."""
        room = self.rooms.setdefault(key, Room())
        room.started = room.started or started
        room.recording = recording
        previous = room.sockets.get(side)
        room.sockets[side] = socket
        room.ice[side] = ice
        if previous is not None and previous is not socket:
            await _quietly(previous.close(code=4409, reason="replaced"))
        other = room.sockets.get(_other(side))
        await _quietly(socket.send_text(json.dumps({"type": "peer", "present": other is not None})))
        if other is not None:
            await _quietly(other.send_text(json.dumps({"type": "peer", "present": True})))
        if room.recording:
            await _quietly(socket.send_text(json.dumps({"type": "recording", "on": True})))
        await self.ready_if_both(key)

    async def recording(self, key: tuple[int, int], on: bool) -> None:
        """The practitioner's browser starts or stops recording (written and audited): both sides
        are told, the patient's page shows it."""
        room = self.rooms.get(key)
        if room is None:
            return
        room.recording = on
        for socket in list(room.sockets.values()):
            await _quietly(socket.send_text(json.dumps({"type": "recording", "on": on})))

    async def ready_if_both(self, key: tuple[int, int]) -> None:
        room = self.rooms.get(key)
        if room is None or not room.started or len(room.sockets) < 2:
            return
        for side, socket in room.sockets.items():
            await _quietly(socket.send_text(json.dumps({"type": "ready", "initiator": side == "practitioner",
                                                        "iceServers": room.ice.get(side, [])})))

    def ready(self, key: tuple[int, int]) -> bool:
        room = self.rooms.get(key)
        return room is not None and room.started and len(room.sockets) == 2

    async def relay(self, key: tuple[int, int], side: str, message: Message) -> bool:
        room = self.rooms.get(key)
        if room is None or not self.ready(key):
            return False
        await _quietly(room.sockets[_other(side)].send_text(encode(message)))
        return True

    async def leave(self, key: tuple[int, int], side: str, socket: Any,
                    before_telling: Callable[[], Awaitable[None]] | None = None) -> bool:
        """Returns whether this socket was the side's current one (a replaced socket leaves quietly).
        `before_telling` (recording the leaving) is awaited before the other side is told, so the
        session's events keep the order of what happened: the other side can only leave after."""
        room = self.rooms.get(key)
        if room is None or room.sockets.get(side) is not socket:
            return False
        del room.sockets[side]
        other = room.sockets.get(_other(side))
        if not room.sockets:
            del self.rooms[key]
        if before_telling is not None:
            await before_telling()
        if other is not None:
            await _quietly(other.send_text(json.dumps({"type": "peer", "present": False})))
        return True


def _other(side: str) -> str:
    return "patient" if side == "practitioner" else "practitioner"


async def _quietly(awaitable: Any) -> None:
    """A socket that went away meanwhile: its own handler notices and leaves the room."""
    try:
        await awaitable
    except Exception:  # noqa: BLE001 - any transport error means the same: that peer is gone
        return


def hub_of(app: Any) -> Hub:
    hub = app.state.get("telecare_hub")
    if hub is None:
        hub = app.state["telecare_hub"] = Hub()
    return hub
