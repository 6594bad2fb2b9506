"""Attachments: what is accepted, decided from the content with the `filetype` library (magic
numbers; the name a file was given is never trusted), then checked for what a disguised file
hides: a second format inside (a PDF or an image that is also a ZIP archive, an executable or a
web page), a PDF that would run something (JavaScript, launch actions, embedded files), an office
document with macros or holding more than it shows (a ZIP bomb: members are decompressed by
stream up to a hard ceiling, never trusting the sizes the archive declares).

Accepted: PDF, JPEG, PNG, HEIC (phone photos), WebP, and the OOXML and OpenDocument formats."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import Any

import filetype

from carnet_core.plugin_api import N_, FieldError, InvalidInput

EXTENSIONS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/heic": "heic",
    "image/webp": "webp",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
}
ZIPPED = {m for m, ext in EXTENSIONS.items() if ext in ("docx", "xlsx", "pptx", "odt", "ods", "odp")}
MAX_MEMBERS = 2000
MAX_EXPANDED = 50 * 1024 * 1024  # what an office document may decompress to, in all
MAX_RATIO = 100  # decompressed / compressed
NAME_LIMIT = 120

# Signs of a second format inside the declared one (a polyglot).
ZIP_MARKERS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x01\x02")
EXECUTABLE = re.compile(rb"This program cannot be run in DOS mode|\x7fELF[\x01\x02]")
MARKUP = re.compile(rb"<\s*(?:script|html|svg|iframe|object|embed)\b|javascript:", re.IGNORECASE)
PDF_ACTIVE = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFile|RichMedia|XFA|OpenAction\s*<<[^>]*/S\s*/JavaScript)\b")

NOT_ACCEPTED = N_("this kind of file is not accepted: send a PDF, a photo (JPEG, PNG, HEIC, WebP) or an office "
                  "document (Word, Excel, PowerPoint, OpenDocument)")
DISGUISED = N_("this file is not what it claims to be (it hides another format): it was refused")
ACTIVE = N_("this document contains active content (scripts, macros or embedded files): save it as a plain PDF "
            "and send it again")
TOO_LARGE = N_("the file is larger than %(limit)s MB")
EMPTY = N_("the file is empty")
BOMB = N_("this archive expands far beyond its size: it was refused")


@dataclass(frozen=True)
class Checked:
    media_type: str
    filename: str  # a safe name ending with the extension of the detected type
    data: bytes
    scan: str = "not_scanned"  # models.SCANS: what the antivirus hook said


def _refuse(code: str, message: str, **params: Any) -> InvalidInput:
    return InvalidInput({"attachment": FieldError(code, message, **params)})


def read_limited(stream: Any, limit: int, chunk: int = 64 * 1024) -> bytes:
    """Read an upload in chunks, stopping as soon as it passes `limit` (never more in memory)."""
    parts: list[bytes] = []
    total = 0
    while True:
        block = stream.read(chunk)
        if not block:
            break
        total += len(block)
        if total > limit:
            raise _refuse("too_large", TOO_LARGE, limit=_mb(limit))
        parts.append(block)
    return b"".join(parts)


def _mb(limit: int) -> str:
    return f"{limit / (1024 * 1024):.0f}" if limit >= 1024 * 1024 else f"{limit / (1024 * 1024):.2f}"


def safe_name(name: str, extension: str) -> str:
    """The name shown and downloaded: letters, digits and a few signs, the detected extension."""
    base = unicodedata.normalize("NFC", (name or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = re.sub(r"[^\w\- ()]+", "_", stem, flags=re.UNICODE).strip(" ._")[:NAME_LIMIT - 6] or "document"
    return f"{stem}.{extension}"


def _check_zip(data: bytes, media_type: str) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _refuse("disguised", DISGUISED) from None
    if len(members) > MAX_MEMBERS:
        raise _refuse("bomb", BOMB)
    names = {m.filename for m in members}
    if any(n.lower().endswith(("vbaproject.bin", ".exe", ".dll", ".js", ".bat", ".cmd", ".vbs", ".ps1"))
           or "/macros/" in n.lower() or n.lower().startswith("basic/") for n in names):
        raise _refuse("active", ACTIVE)
    expected = "mimetype" if "opendocument" in media_type else "[Content_Types].xml"
    if expected not in names:
        raise _refuse("disguised", DISGUISED)
    ceiling = min(MAX_EXPANDED, max(len(data), 1) * MAX_RATIO)
    expanded = 0
    try:
        for member in members:
            with archive.open(member) as stream:
                while True:
                    block = stream.read(64 * 1024)
                    if not block:
                        break
                    expanded += len(block)
                    if expanded > ceiling:
                        raise _refuse("bomb", BOMB)
    except InvalidInput:
        raise
    # what zipfile raises on a member it cannot read: corrupt data or CRC (BadZipFile, zlib's error,
    # an OSError), an unknown compression method (NotImplementedError), an encrypted member
    # (RuntimeError), a truncated stream (EOFError): a document no one could open either
    except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError, RuntimeError, EOFError):
        raise _refuse("disguised", DISGUISED) from None


def check(name: str, data: bytes, limit: int) -> Checked:
    """The attachment as it will be stored, or `InvalidInput` on the field `attachment`."""
    if not data:
        raise _refuse("empty", EMPTY)
    if len(data) > limit:
        raise _refuse("too_large", TOO_LARGE, limit=_mb(limit))
    kind = filetype.guess(data)
    media_type = kind.mime if kind is not None else None
    if media_type not in EXTENSIONS:
        raise _refuse("type", NOT_ACCEPTED)
    if EXECUTABLE.search(data):
        raise _refuse("disguised", DISGUISED)
    if media_type in ZIPPED:
        _check_zip(data, media_type)
    else:
        if any(marker in data for marker in ZIP_MARKERS) or MARKUP.search(data):
            raise _refuse("disguised", DISGUISED)
        if media_type == "application/pdf" and PDF_ACTIVE.search(data):
            raise _refuse("active", ACTIVE)
    return Checked(media_type, safe_name(name, EXTENSIONS[media_type]), data)
