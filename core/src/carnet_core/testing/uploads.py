"""Uploads as a browser sends them, against a real web process, and what they cost the server.

`stream_upload` sends a multipart form whose file part is generated on the fly (a file's first
bytes, then filler: nothing of its size is ever held by the test), over a plain socket, and reads
the answer as soon as the server gives one, as a browser does (a server refusing a body at its
limit answers before the client has sent it all). `peak_rss_growth` runs a call and returns how far
a process's peak resident memory (Linux's VmHWM, reset first through /proc/PID/clear_refs) rose
above its resident size at the start. Together they show a refused 100 MB upload leaves the
server's memory flat (telecare's acceptance 4); a memory bound, never a timing."""

from __future__ import annotations

import http.client
import secrets
import select
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

MB = 1024 * 1024
CHUNK = 64 * 1024
PDF_START = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"
T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # bytes of the request body sent before the answer came

    @property
    def text(self) -> str:
        from html import unescape

        return unescape(self.body.decode("utf-8", "replace"))


def _status_kib(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status").read().splitlines():  # noqa: SIM115, PTH123
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def peak_rss_growth(pid: int, call: Callable[[], T]) -> tuple[T, int]:
    """`call()`'s result and how many bytes process `pid`'s peak resident memory rose above its
    resident size when the call began (Linux only)."""
    with open(f"/proc/{pid}/clear_refs", "w") as refs:  # noqa: PTH123
        refs.write("5")  # resets the peak (VmHWM) to the current resident size
    start = _status_kib(pid, "VmRSS")
    result = call()
    return result, max(0, _status_kib(pid, "VmHWM") - start) * 1024


def _multipart(fields: Mapping[str, str], size: int, name: str, filename: str,
               head: bytes) -> tuple[str, int, Iterator[bytes]]:
    boundary = "carnet" + secrets.token_hex(12)
    before = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items())
    before += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
               "Content-Type: application/pdf\r\n\r\n").encode()
    after = f"\r\n--{boundary}--\r\n".encode()

    def parts() -> Iterator[bytes]:
        yield before + head
        left = size - len(head)
        filler = b"0" * CHUNK
        while left > 0:
            yield filler[: min(CHUNK, left)]
            left -= CHUNK
        yield after

    return f"multipart/form-data; boundary={boundary}", len(before) + size + len(after), parts()


def stream_upload(base: str, path: str, cookies: Any, fields: Mapping[str, str], *, size: int,
                  announce: bool = True, name: str = "attachment", filename: str = "bilan.pdf",
                  head: bytes = PDF_START, timeout: float = 120.0) -> Answer:
    """POST a multipart form to `base + path` with a generated file of `size` bytes: with its
    Content-Length (`announce`, as browsers do) or chunked; stops sending when the answer comes."""
    url = urlsplit(base)
    content_type, length, parts = _multipart(fields, size, name, filename, head)
    cookie = "; ".join(f"{k}={v}" for k, v in dict(cookies).items())
    framing = f"Content-Length: {length}" if announce else "Transfer-Encoding: chunked"
    request = (f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nCookie: {cookie}\r\nOrigin: {base}\r\n"
               f"Content-Type: {content_type}\r\n{framing}\r\nConnection: close\r\n\r\n").encode()
    sock = socket.create_connection((url.hostname, url.port or 80), timeout=timeout)
    sent = 0
    try:
        sock.sendall(request)
        for part in parts:
            data = part if announce else b"%x\r\n%s\r\n" % (len(part), part)
            if not _send(sock, data, timeout):
                break  # the server answered (or closed): read what it said
            sent += len(part)
        else:
            if not announce:
                _send(sock, b"0\r\n\r\n", timeout)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body, sent)
    finally:
        sock.close()


def _send(sock: socket.socket, data: bytes, timeout: float) -> bool:
    """Send all of `data` unless the server answers first; False when it did (or closed)."""
    view = memoryview(data)
    while view:
        readable, writable, _ = select.select([sock], [sock], [], timeout)
        if readable:
            return False
        if writable:
            try:
                view = view[sock.send(view):]
            except (BrokenPipeError, ConnectionResetError):
                return False
    return True
