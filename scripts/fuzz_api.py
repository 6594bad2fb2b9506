"""Schemathesis against a real `carnet serve` with the demo clinic: every operation of the OpenAPI
document, stateless (examples, coverage, fuzzing) and stateful (the documented links: create ->
read -> change), authenticated with an API token, then again with a logged-in session cookie.
Fails on any server error and any status the document does not declare.

    .venv/bin/python scripts/fuzz_api.py [--max-examples 10] [--database-url postgresql://…]

`make fuzz` runs it; `.ci/run` runs it after the test suites. Everything lives in a temporary
CARNET_HOME (and the given database, emptied first), removed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyotp

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance"
_TOKEN_RE = re.compile(r"\bcarnet_[A-Za-z0-9_-]{20,}")
_CSRF_RE = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def carnet(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "carnet"), *args], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.exit(f"carnet {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def wait_until_up(base: str, server: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("carnet serve stopped before answering")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    sys.exit(f"carnet serve did not answer on {base} within {seconds:.0f} s")


def session_headers(base: str) -> list[str]:
    """Log the demo owner in through the real pages (password, then a TOTP code): the session
    cookie and the CSRF header a browser would send."""
    from carnet_core.demo import DEMO_PASSWORD, DEMO_STAFF

    email, secret = DEMO_STAFF[0][0], DEMO_STAFF[0][4]
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
        token = _CSRF_RE.search(client.get("/login").text)
        assert token, "no CSRF token on /login"
        first = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "_csrf_token": token.group(1)})
        assert first.status_code == 303, f"password step answered {first.status_code}"
        second = client.post("/login/totp", data={"code": pyotp.TOTP(secret).now(), "_csrf_token": token.group(1)})
        assert second.status_code == 303, f"second factor answered {second.status_code}"
        page = _CSRF_RE.search(client.get("/account").text)
        assert page, "no CSRF token once logged in"
        cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        return ["-H", f"Cookie: {cookies}", "-H", f"X-CSRF-Token: {page.group(1)}"]


def schemathesis(schema_url: str, auth: list[str], label: str, *extra: str) -> int:
    print(f"== Schemathesis ({label})", flush=True)
    command = [str(BIN / "schemathesis"), "run", schema_url, *auth, "--checks", CHECKS, "--workers", "2",
               "--no-color", "--output-sanitize", "true", *extra]
    return subprocess.run(command, check=False, cwd=tempfile.gettempdir()).returncode  # noqa: S603


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=10, help="Test cases per operation and phase.")
    parser.add_argument("--database-url", default="", help="An empty database to use (default: SQLite).")
    parser.add_argument("--seed", default="", help="Schemathesis seed (default: a new one, printed).")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="carnet-fuzz-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CARNET_HOME": str(home), "CARNET_BASE_URL": base}
    env.pop("CARNET_TESTING", None)
    if args.database_url:
        env["CARNET_DATABASE_URL"] = args.database_url
    else:
        env.pop("CARNET_DATABASE_URL", None)
    server = None
    try:
        carnet(env, "init")
        carnet(env, "demo")
        created = carnet(env, "token", "create", "--clinic", "cabinet-des-tilleuls",
                         "--user", "claire.martin@cabinet-tilleuls.fr", "--name", "schemathesis")
        found = _TOKEN_RE.search(created)
        if not found:
            sys.exit("no token in the output of `carnet token create`")
        log = open(home / "serve.log", "wb")  # noqa: SIM115 (closed with the server)
        server = subprocess.Popen([str(BIN / "carnet"), "serve", "--host", "127.0.0.1", "--port", str(port)],  # noqa: S603
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until_up(base, server)
        schema_url = f"{base}/schema/openapi.json"
        seed = ["--seed", args.seed] if args.seed else []
        n = str(args.max_examples)
        failed = schemathesis(schema_url, ["-H", f"Authorization: Bearer {found.group()}"], "API token",
                              "--max-examples", n, *seed)
        # the same operations reached with a browser session (cookie + CSRF header): the fuzzing phase
        failed |= schemathesis(schema_url, session_headers(base), "session cookie",
                               "--max-examples", str(max(2, args.max_examples // 3)),
                               "--phases", "fuzzing", *seed)
        if failed:
            log.flush()
            print("== the server's log\n" + (home / "serve.log").read_text(errors="replace")[-20000:])
        return 1 if failed else 0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
