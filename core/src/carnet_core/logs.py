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
import threading
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from carnet_core.settings import Settings

# The request being served (set by carnet_core.web.middleware.AccessLog). Defined here, not in the
# web layer, so that formatting a line never imports anything (a line may be written from a signal
# handler or a thread while that module is being imported).
request_id_var: ContextVar[str | None] = ContextVar("carnet_request_id", default=None)

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


def exception_place(tb: Any) -> str | None:
    """Where an exception was raised, as `file:line in function` of its innermost frame: enough to
    find the bug, and no values (a message or a local may quote data)."""
    frames = traceback.extract_tb(tb) if tb is not None else []
    if not frames:
        return None
    last = frames[-1]
    parts = last.filename.replace("\\", "/").split("/")
    return f"{'/'.join(parts[-2:])}:{last.lineno} in {last.name}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key in ("method", "route", "handler", "status", "duration_ms", "error", "job", "clinic_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception's type only: its text may quote data (SQL parameters, field values).
            entry["exception"] = record.exc_info[0].__name__
            where = exception_place(record.exc_info[2])
            if where:
                entry["exception_at"] = where
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    converter = None  # set below: UTC

    def __init__(self) -> None:
        super().__init__("%(asctime)sZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's API)
        where = exception_place(ei[2])
        return f"{ei[0].__name__} at {where or '?'} (details withheld from logs)"


TextFormatter.converter = staticmethod(__import__("time").gmtime)  # type: ignore[assignment]


# Access lines are Carnet's own (route template, status, duration, request id); uvicorn's carry
# the raw path with its query string, so they never reach the handler.
_DROPPED_LOGGERS = ("uvicorn.access",)
# Libraries whose information lines are step-by-step chatter (a PDF's layout steps, font
# subsetting): only their warnings and errors reach the log, whatever level they set themselves.
_WARNINGS_ONLY = ("weasyprint", "fontTools")


class _DropFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in _DROPPED_LOGGERS:
            return False
        return record.levelno >= logging.WARNING or record.name.split(".", 1)[0] not in _WARNINGS_ONLY


def _is_test_capture(handler: logging.Handler) -> bool:
    """pytest's capture handlers (caplog, live logs) stay: they are the test run's, not ours."""
    return type(handler).__module__.startswith("_pytest")


def carnet_handler() -> logging.Handler | None:
    """The handler installed by `configure_logging` in this process, if any."""
    return next((h for h in logging.getLogger().handlers if getattr(h, "_carnet", False)), None)


def own_loggers() -> None:
    """Take back every logger a framework configured: Litestar, uvicorn (`--factory` configures
    its loggers before calling us), Dramatiq. Their handlers go; their records propagate to the
    root logger, hence through Carnet's handler (JSON, request id, scrubbing)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if not getattr(old, "_carnet", False) and not _is_test_capture(old):
            root.removeHandler(old)
    for logger in list(logging.root.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger):
            continue
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
        logger.disabled = False


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("carnet").critical("uncaught exception", exc_info=(exc_type, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    logging.getLogger("carnet").error(
        "uncaught exception in thread %s", args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Install the process's single log handler and own the logging configuration (called by
    every entry point: the `carnet` command for serve, worker, scheduler and the CLI, and
    `carnet_core.web.asgi:build` for other ASGI servers). Safe to call again: the previous
    Carnet handler is replaced.

    Everything that writes a line goes through this handler: framework loggers are taken back
    (`own_loggers`), warnings are logged, and uncaught exceptions (main thread and others) are
    logged by type and place instead of a traceback whose text may quote data.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(_DropFilter())
    handler.addFilter(ScrubFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_carnet", False):
            root.removeHandler(old)
    handler._carnet = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    own_loggers()
    root.setLevel(settings.log_level.upper())
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    return handler
