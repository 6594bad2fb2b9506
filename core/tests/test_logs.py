"""Logs are structured JSON in UTC with the request id, and carry no patient data or secrets."""

import io
import json
import logging

from carnet_core.logs import configure_logging, scrub


def test_log_lines_are_json_with_utc_time_and_request_id(carnet_settings):
    from carnet_core.web.middleware import request_id_var

    stream = io.StringIO()
    handler = configure_logging(carnet_settings, stream)
    try:
        token = request_id_var.set("abcdef0123456789")
        logging.getLogger("carnet.test").warning("booked %s appointments", 3)
        request_id_var.reset(token)
    finally:
        logging.getLogger().removeHandler(handler)
    entry = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert entry["msg"] == "booked 3 appointments"
    assert entry["ts"].endswith("+00:00")
    assert entry["request_id"] == "abcdef0123456789"
    assert entry["level"] == "warning"


def test_scrubbing_masks_contact_details_and_tokens():
    text = "mail to jeanne.dupont@example.fr, phone +33 6 12 34 56 78, link /p/x/c/" + "A" * 40
    cleaned = scrub(text)
    assert "jeanne.dupont" not in cleaned and "6 12 34" not in cleaned and "A" * 40 not in cleaned
    assert scrub("clinic 12 booked 3 slots on 2026-11-28") == "clinic 12 booked 3 slots on 2026-11-28"


def test_exceptions_are_logged_by_type_only(carnet_settings):
    stream = io.StringIO()
    handler = configure_logging(carnet_settings, stream)
    try:
        try:
            raise ValueError("Dupont Jeanne born 1980-02-03")
        except ValueError:
            logging.getLogger("carnet.test").exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    out = stream.getvalue()
    assert "Dupont" not in out and '"exception": "ValueError"' in out


def test_requests_are_logged_by_route_name_not_path(client, carnet_settings):
    stream = io.StringIO()
    handler = configure_logging(carnet_settings, stream)
    try:
        client.get("/", headers={"X-Request-ID": "req-0123456789"})
    finally:
        logging.getLogger().removeHandler(handler)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [e for e in entries if e["logger"] == "carnet.access"]
    assert access and access[-1]["route"] == "/" and access[-1]["handler"] == "core.home"
    assert access[-1]["status"] == 200
    assert access[-1]["request_id"] == "req-0123456789"


def test_framework_loggers_configured_before_carnet_are_taken_back(carnet_settings):
    """What uvicorn (`--factory`), Litestar or Dramatiq configure goes through Carnet's handler:
    JSON and scrubbed; uvicorn's access lines (raw paths and queries) are dropped; warnings and
    uncaught exceptions in threads are logged, by type and place only."""
    import threading
    import warnings

    foreign = io.StringIO()
    for name in ("uvicorn.error", "uvicorn.access", "litestar", "dramatiq.worker"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.StreamHandler(foreign))
        logger.propagate = False
    stream = io.StringIO()
    logging.captureWarnings(False)  # as in a fresh process (an earlier test may have turned it on)
    handler = configure_logging(carnet_settings, stream)
    try:
        logging.getLogger("uvicorn.error").warning("started for jeanne.dupont@example.fr")
        logging.getLogger("uvicorn.access").warning('127.0.0.1 - "GET /p/x/c/%s HTTP/1.1" 200', "A" * 40)
        logging.getLogger("litestar").warning("call 06 12 34 56 78")
        logging.getLogger("dramatiq.worker").warning("worker up")
        progress = logging.getLogger("weasyprint.progress")
        progress.setLevel(logging.INFO)  # as WeasyPrint may leave it
        progress.info("Step 2 - Fetching and parsing CSS")
        logging.getLogger("fontTools.subset").info("Glyph names")
        logging.getLogger("weasyprint").warning("Ignored CSS property")
        # pytest installs its own warning and thread hooks around each test: call the
        # process's hooks as Python would
        warnings.showwarning(DeprecationWarning("deprecated thing"), DeprecationWarning, "x.py", 1)

        def boom():
            raise ValueError("Dupont Jeanne born 1980-02-03")

        try:
            boom()
        except ValueError as exc:
            args = threading.ExceptHookArgs((ValueError, exc, exc.__traceback__, threading.current_thread()))
        threading.excepthook(args)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.captureWarnings(False)
        threading.excepthook = threading.__excepthook__
        import sys

        sys.excepthook = sys.__excepthook__
    assert foreign.getvalue() == ""
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_logger = {e["logger"]: e for e in entries}
    assert by_logger["uvicorn.error"]["msg"] == "started for [email]"
    assert by_logger["litestar"]["msg"] == "call [phone]"
    assert "dramatiq.worker" in by_logger and "uvicorn.access" not in by_logger
    assert "weasyprint.progress" not in by_logger and "fontTools.subset" not in by_logger  # chatter
    assert by_logger["weasyprint"]["msg"] == "Ignored CSS property"  # its warnings are kept
    assert "deprecated thing" in by_logger["py.warnings"]["msg"]
    crash = by_logger["carnet"]
    assert crash["exception"] == "ValueError" and "in boom" in crash["exception_at"]
    assert "Dupont" not in stream.getvalue()
