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
    assert access and access[-1]["route"] == "core.home" and access[-1]["status"] == 200
    assert access[-1]["request_id"] == "req-0123456789"
