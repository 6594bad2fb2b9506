"""The antivirus hook of attachments: when the practice runs ClamAV's daemon
(`CARNET_TELECARE_CLAMD_SOCKET`: a Unix socket path or host:port), every attachment is streamed to
it with clamd's INSTREAM command before it is stored; a file it finds infected is refused, and so is
every file while clamd cannot be reached or answers something else (fail closed: an unscanned file
never passes for a scanned one). Without it, attachments are stored as "not scanned"."""

from __future__ import annotations

import socket
import struct

from carnet_core.plugin_api import N_, FieldError, InvalidInput

CHUNK = 64 * 1024
TIMEOUT = 30.0
INFECTED = N_("the antivirus found a threat in this file: it was refused")
UNAVAILABLE = N_("attachments cannot be checked by the antivirus at the moment: send the message without it, "
                 "or try again later")


def _connect(address: str) -> socket.socket:
    if address.startswith("/"):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(TIMEOUT)
        conn.connect(address)
        return conn
    host, _, port = address.rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT)


def _instream(address: str, data: bytes) -> bytes:
    with _connect(address) as conn:
        conn.sendall(b"zINSTREAM\0")
        for start in range(0, len(data), CHUNK):
            piece = data[start:start + CHUNK]
            conn.sendall(struct.pack("!L", len(piece)) + piece)
        conn.sendall(struct.pack("!L", 0))
        reply = b""
        while not reply.endswith(b"\0"):
            got = conn.recv(4096)
            if not got:
                break
            reply += got
    return reply.rstrip(b"\0").strip()


def scan(address: str, data: bytes) -> str:
    """"clean" when clamd found nothing, "not_scanned" without clamd; refuses the file otherwise."""
    if not address:
        return "not_scanned"
    try:
        reply = _instream(address, data)
    except (OSError, ValueError):
        raise InvalidInput({"attachment": FieldError("antivirus_unavailable", UNAVAILABLE)}) from None
    if reply.endswith(b"FOUND"):
        raise InvalidInput({"attachment": FieldError("infected", INFECTED)})
    if reply != b"stream: OK":
        raise InvalidInput({"attachment": FieldError("antivirus_unavailable", UNAVAILABLE)})
    return "clean"
