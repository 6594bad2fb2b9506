"""Logs of a real web process (issue 14, item 5): `carnet serve` and `uvicorn --factory
carnet_core.web.asgi:build` write JSON lines, scrubbed, with route template, status and request
id; nothing the framework or the server configures replaces Carnet's handler."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import httpx
import pytest

from carnet_core.testing import running_process, serving, stop_process, web_process_env

CANARY_EMAIL = "jeanne.canari@example.fr"
CANARY_PHONE = "06 12 34 56 78"
CANARY_TOKEN = "Zk9" * 14  # 42 characters, shaped like a link token
CANARIES = (CANARY_EMAIL, "jeanne.canari", CANARY_PHONE, "0612345678", CANARY_TOKEN)


def _env(settings) -> dict[str, str]:
    return web_process_env(settings, CARNET_LOG_LEVEL="info", CARNET_LOG_FORMAT="json")


COMMANDS = {
    "carnet serve": lambda port: [os.path.join(os.path.dirname(sys.executable), "carnet"), "serve", "--port", str(port)],
    "uvicorn factory": lambda port: [
        sys.executable, "-m", "uvicorn", "--factory", "carnet_core.web.asgi:build", "--port", str(port),
    ],
}


def _serve(command, settings, out, err):
    """The server started and answering; stopped (killed if it must be) when the block ends."""
    return serving(settings, command=COMMANDS[command], env=_env(settings), stdout=out, stderr=err)


def _requests(base: str, token: str) -> dict[str, int]:
    """Requests that carry contact details and tokens in their path, query and body, and 4xx;
    returns the request id sent with each, and the status it got."""
    sent: dict[str, int] = {}

    def call(request_id: str, method: str, path: str, **kwargs) -> None:
        headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
        answer = httpx.request(method, base + path, headers=headers, timeout=30, **kwargs)
        sent[request_id] = answer.status_code

    call("req-home-000001", "GET", "/healthz")
    call("req-query-00002", "GET", f"/login?next=/patients&email={CANARY_EMAIL}&tel={CANARY_PHONE}")
    call("req-link-000003", "GET", f"/p/cabinet-test/scheduling/a/{CANARY_TOKEN}")
    call("req-enroll-0004", "GET", f"/enroll/{CANARY_TOKEN}")
    call("req-unrouted-05", "GET", f"/nowhere/{CANARY_EMAIL}?phone={CANARY_PHONE}")
    call("req-login-00006", "POST", "/login", data={"email": CANARY_EMAIL, "password": CANARY_TOKEN})
    call("req-api-0000007", "GET", "/api/v1/me", headers={"Authorization": f"Bearer carnet_{CANARY_TOKEN}"})
    call("req-body-000008", "POST", "/api/v1/patients", headers={"Authorization": f"Bearer {token}"},
         json={"first_name": "Jeanne", "email": CANARY_EMAIL, "phone": CANARY_PHONE, "unexpected": CANARY_TOKEN})
    call("req-search-0009", "POST", "/api/v1/patients/search", headers={"Authorization": f"Bearer {token}"},
         content=b'{"q": "' + CANARY_EMAIL.encode() + b'"')  # malformed JSON
    return sent


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_real_web_process_writes_scrubbed_json_access_lines(
    command, carnet_settings, carnet_db, clinic, staff, tmp_path
):
    from carnet_core.identity import services
    from carnet_core.identity.models import User

    member = staff("practitioner")
    with carnet_db.session(unscoped=True) as db:
        db.info["principal"] = "system:tests"
        token, _ = services.create_token(db, clinic.id, db.get(User, member.id), name="logs test")
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        with _serve(command, carnet_settings, out, err) as (_proc, base):
            sent = _requests(base, token)
    assert {status for status in sent.values() if status >= 400} >= {400, 401, 404}, sent
    output = out_path.read_text() + err_path.read_text()
    for canary in CANARIES:
        assert canary not in output, canary
    entries = []
    for line in output.splitlines():
        if line.startswith("Carnet listening on http://"):  # the command's own banner (stdout)
            continue
        entries.append(json.loads(line))  # every other line is one JSON object
    assert all(e["ts"].endswith("+00:00") and e["level"] and e["logger"] for e in entries)
    access = {e["request_id"]: e for e in entries if e["logger"] == "carnet.access"}
    for request_id, status in sent.items():
        line = access[request_id]  # every request leaves one line, 4xx and 5xx included
        assert line["status"] == status and line["method"] in {"GET", "POST"}
        assert isinstance(line["duration_ms"], float)
        assert line["level"] == ("info" if status < 400 else "warning" if status < 500 else "error")
        assert "?" not in line["route"] and "canari" not in line["route"]
    assert access["req-home-000001"]["route"] == "/healthz"
    assert access["req-link-000003"]["route"] in {"(unrouted)", "/p/{clinic_slug}/scheduling/a/{token}"}
    assert access["req-enroll-0004"]["route"] == "/enroll/{token}"
    assert access["req-unrouted-05"]["route"] == "(unrouted)"
    assert access["req-login-00006"]["handler"] == "identity.login.submit"
    assert access["req-api-0000007"]["error"] == "NotAuthorizedException"
    assert access["req-body-000008"]["route"] == "/api/v1/patients"
    assert not [e for e in entries if e["logger"].startswith("uvicorn.access")]


@pytest.mark.parametrize("command", ["scheduler", pytest.param("worker", marks=pytest.mark.redis)])
def test_worker_and_scheduler_processes_write_json_lines(command, carnet_settings, carnet_db, tmp_path):
    """The other long-running processes log through the same handler, down to the line written
    from the SIGTERM handler while they stop."""
    import signal

    from carnet_core.jobs.testing import delete_namespace, unique_namespace
    from carnet_core.testing.plugin import test_redis_url

    env = _env(carnet_settings)
    namespace = unique_namespace()
    if command == "worker":
        # a namespace of its own: never another test's queues in the shared Redis database
        env.update(CARNET_REDIS_URL=test_redis_url(), CARNET_JOBS_NAMESPACE=namespace)
    err_path = tmp_path / "stderr"
    with err_path.open("wb") as err, running_process(
            [os.path.join(os.path.dirname(sys.executable), "carnet"), command],
            env=env, stdout=subprocess.PIPE, stderr=err) as proc:
        started = proc.stdout.readline().decode()  # the command's banner, once it runs
        assert started.startswith(f"carnet {command}"), started
        # a graceful stop takes at most the 30 s shutdown budget (the worker's running jobs)
        stop_process(proc, timeout=60, signum=signal.SIGTERM, log=err_path)
    if command == "worker":
        import redis

        with redis.Redis.from_url(test_redis_url()) as client:
            delete_namespace(client, namespace)
    entries = [json.loads(line) for line in err_path.read_text().splitlines()]  # only JSON lines
    assert any(e["msg"] == "received SIGTERM; stopping" for e in entries), entries
    assert all(e["ts"].endswith("+00:00") for e in entries)


def test_serve_on_a_busy_port_stops_before_listening_and_says_how_to_pick_another(carnet_settings, carnet_db):
    """`make run` on a port another program holds: exit 1, the port named, a way to choose another,
    and never the "listening" banner (issue 13)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        done = subprocess.run(COMMANDS["carnet serve"](port), env=_env(carnet_settings), capture_output=True,  # noqa: S603
                              text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "listening" not in done.stdout + done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert f"port {port} is already in use" in done.stderr
    assert f"make run PORT={port + 1}" in done.stderr


def test_serve_answers_on_the_socket_it_bound(carnet_settings, carnet_db, clinic, tmp_path):
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        with _serve("carnet serve", carnet_settings, out, err) as (_proc, base):
            assert httpx.get(base + "/healthz", timeout=10).status_code == 200
    assert out_path.read_text().startswith("Carnet listening on http://127.0.0.1:")
