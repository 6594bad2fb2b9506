"""Outgoing SMS: the first plugin implementing `send_sms` delivers it; without one, messages are
written to CARNET_HOME/sms/ (one file per message, like the mail folder).

Bodies must never carry health data: a time, a place, a link. Callers send from jobs.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from carnet_core.mail import key_digest, write_file_atomically
from carnet_core.settings import Settings

log = logging.getLogger("carnet.sms")

MAX_BODY = 640  # four concatenated SMS segments


def sms_transport(host: Any) -> str | None:
    """The name of the plugin that delivers SMS (the first `send_sms` implementation pluggy calls),
    or None when none is installed: messages are then only written to the SMS folder, and pages
    that plan SMS must say so ("SMS non configuré") rather than show them as active."""
    if host is None:
        return None
    impls = host.hook.send_sms.get_hookimpls()
    return impls[-1].plugin_name if impls else None  # pluggy calls the last registered first


def send_sms(host: Any, settings: Settings, to: str, body: str, key: str | None = None) -> str:
    """Send one SMS and return the transport's message id. Raises on failure (the job retries).

    `key` makes a repeated delivery harmless for the folder transport (one file per key)."""
    if not to or not body:
        raise ValueError("an SMS needs a recipient and a body")
    if len(body) > MAX_BODY:
        raise ValueError(f"an SMS body holds {MAX_BODY} characters at most")
    result = host.hook.send_sms(to=to, body=body, settings=settings) if host is not None else None
    if result is not None:
        return str(result)
    name = f"{key_digest(key) if key else uuid.uuid4().hex}.sms"
    text = f"To: {to}\n\n{body}\n"
    path = write_file_atomically(settings.sms_dir, name, text.encode("utf-8"))
    log.info("sms written to %s", path.name)
    return path.stem
