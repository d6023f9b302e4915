"""Shared plumbing of the benchmark scripts: a free port, the server under test and the bench database."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SERVERS = ("serve", "gunicorn")


def server_command(server: str, *, port: int, workers: int) -> list[str]:
    """`serve`: the ASGI server (`python -m crm.serve`); `gunicorn`: sync WSGI workers, the API side of the
    split layout (README, "Architecture")."""
    if server == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "crm.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    return [sys.executable, "-m", "crm.serve", "--port", str(port), "--workers", str(workers)]


def server_start(
    env: dict,
    *,
    port: int,
    workers: int,
    log_path: Path,
    timeout: float = 60,
    server: str = "serve",
    command: list[str] | None = None,
) -> subprocess.Popen:
    """The server under test with `env` (`command`, or the `server`'s own), once its /healthz answers 200 (SystemExit
    after `timeout` s)."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command or server_command(server, port=port, workers=workers),
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, so server_stop reaches the workers too
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    server_stop(process)
    raise SystemExit(f"The server did not start; see {log_path}")


def server_stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def token(port: int, username: str, password: str) -> str:
    """An access token from the server under test (SystemExit when it refuses)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"username": username, "password": password})
    conn.request("POST", "/api/auth/token", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    if response.status != 200:
        raise SystemExit(f"Token request failed: {response.status} {payload}")
    return payload["access"]


def database_ensure(db_url: str, *, reseed: bool) -> None:
    """Create the PostgreSQL database of `db_url` if it is missing; with `reseed`, drop it and create it empty."""
    parsed = urlparse(db_url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reseed:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
