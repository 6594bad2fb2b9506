"""Outgoing e-mail: SMTP when CARNET_SMTP_URL is set, else `.eml` files in CARNET_HOME/mail/.

Bodies must never carry health data: say that there is something to see, and give a link.
Callers send from jobs (through the outbox), not from request handlers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import uuid
from dataclasses import dataclass, field
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from carnet_core.settings import Settings

log = logging.getLogger("carnet.mail")


@dataclass
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


def build_message(settings: Settings, mail: Mail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = mail.to
    _set_subject(msg, mail.subject)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=urlsplit(settings.base_url).hostname or "localhost")
    for name, value in mail.headers.items():
        msg[name] = value
    msg.set_content(mail.text)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
    for att in mail.attachments:
        maintype, _, subtype = att.mime_type.partition("/")
        msg.add_attachment(att.content, maintype=maintype, subtype=subtype or "octet-stream", filename=att.filename)
    return msg


def _set_subject(msg: EmailMessage, subject: str) -> None:
    """A French subject is folded by `email.header.Header`, each space inside an encoded word.
    Python 3.11's default policy drops the space between two encoded words when it folds a long
    subject ("du mardi 1er décembre" arrived as "du mardi1er décembre"); the folded value is stored
    as is (`set_raw`): the generator keeps a source whose lines fit, rejoined with its line ending."""
    if subject.isascii():
        msg["Subject"] = subject
    else:
        msg.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())


def send_mail(settings: Settings, mail: Mail, key: str | None = None) -> str:
    """Deliver one message and return its Message-ID. Raises on failure (the job retries).

    `key` (an idempotency key built from ids) makes a repeated delivery of the same message
    harmless where the transport allows it: the mail folder keeps one file per key (written
    atomically, a second delivery replaces the first), and SMTP gets a Message-ID derived from
    the key, so a receiving server or client can recognise a duplicate.
    """
    msg = build_message(settings, mail)
    if key is not None:
        domain = urlsplit(settings.base_url).hostname or "localhost"
        del msg["Message-ID"]
        msg["Message-ID"] = f"<{key_digest(key)}@{domain}>"
    if settings.smtp_url:
        _send_smtp(settings.smtp_url, msg)
    else:
        path = write_to_folder(settings.mail_dir, msg, name=None if key is None else f"{key_digest(key)}.eml")
        # The console line names the file only: addresses and subjects can identify a patient.
        log.info("mail written to %s", path.name)
    return str(msg["Message-ID"])


def key_digest(key: str) -> str:
    """A file-name-safe digest of an idempotency key (keys hold ids only, but stay opaque)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def write_to_folder(folder: Path, msg: EmailMessage, name: str | None = None) -> Path:
    """Atomically write a message as an .eml file (a reader never sees a half-written file).

    With `name`, writing the same message again replaces the file instead of adding one."""
    return write_file_atomically(folder, name or f"{uuid.uuid4().hex}.eml", bytes(msg))


def write_file_atomically(folder: Path, name: str, data: bytes) -> Path:
    """Write `data` to folder/name through a hidden temporary file, fsync, then rename. The folder
    is 0700 and the file 0600 (messages name patients and carry their links)."""
    from carnet_core.statefiles import PRIVATE_FILE, private_dir

    if not folder.is_dir():
        private_dir(folder)
    tmp = folder / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # whatever the umask
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / name)
    return folder / name


def _send_smtp(url: str, msg: EmailMessage) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps", "smtp+starttls"):
        raise ValueError("CARNET_SMTP_URL must start with smtp://, smtps:// or smtp+starttls://")
    host = parts.hostname or "localhost"
    if parts.scheme == "smtps":
        server: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=30)
    else:
        server = smtplib.SMTP(host, parts.port or 25, timeout=30)
    with server:
        if parts.scheme == "smtp+starttls":
            server.starttls()
        if parts.username:
            server.login(unquote(parts.username), unquote(parts.password or ""))
        server.send_message(msg)
