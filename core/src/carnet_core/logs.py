"""Structured logs: one JSON object per line, UTC times, the request id, and no patient data.

Messages are written by our own code, which logs ids and counts, never names or contact details;
as a second line of defence a filter masks anything shaped like an e-mail address, a phone number
or a link token, and SQLAlchemy is told to keep statement parameters out of its error messages.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from carnet_core.settings import Settings

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w/])(?:\+|00)?\d(?:[ .-]?\d){8,13}(?![\w/])")
_TOKEN = re.compile(r"\b[A-Za-z0-9_-]{32,}\b")


def scrub(text: str) -> str:
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    return _TOKEN.sub("[secret]", text)


class ScrubFilter(logging.Filter):
    """Masks e-mail addresses, phone numbers and long tokens in every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        from carnet_core.web.middleware import request_id_var

        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key in ("route", "status", "duration_ms", "method", "job", "clinic_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception's type only: its text may quote data (SQL parameters, field values).
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    converter = None  # set below: UTC

    def __init__(self) -> None:
        super().__init__("%(asctime)sZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's API)
        return f"{ei[0].__name__} (details withheld from logs)"


TextFormatter.converter = staticmethod(__import__("time").gmtime)  # type: ignore[assignment]


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Install the process's single log handler (called once by each entry point)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(ScrubFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_carnet", False):
            root.removeHandler(old)
    handler._carnet = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
