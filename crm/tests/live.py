"""Real processes for end-to-end tests: a private PostgreSQL cluster, a private Redis, the ASGI server.

Fault tests stop and start these services, so they never touch the shared ones on 5432/6379.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = (
    next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
    if Path("/usr/lib/postgresql").exists()
    else None
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout}s")


def _as_postgres(args: list[str]) -> list[str]:
    # initdb refuses to run as root; CI runs as root, a laptop as a normal user.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PrivatePostgres:
    def __init__(self):
        if PG_BIN is None or shutil.which("runuser") is None and os.geteuid() == 0:
            raise RuntimeError("PostgreSQL server binaries are not installed")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="crm-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w"]
        subprocess.run(_as_postgres([*command, "start"]), check=True, capture_output=True)

    def stop(self) -> None:
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_postgres(command), check=False, capture_output=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    def __init__(self):
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _port_open(self.port))

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def server_env(**overrides) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DEBUG")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        SECRET_KEY="e2e-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


def create_tenant(env: dict[str, str], slug: str, password: str = "E2e-owner-pass!") -> dict:
    output = manage(
        env, "create_tenant", "--name", slug.title(), "--slug", slug, "--owner", f"{slug}-owner", "--password", password
    )
    created = json.loads(output.strip().splitlines()[-1])
    created.update(username=f"{slug}-owner", password=password)
    return created


@contextmanager
def running_server(env: dict[str, str], *, workers: int = 1, startup_timeout: float = 30):
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="crm-server-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "crm.serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(base_url), timeout=startup_timeout)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        Path(log.name).unlink(missing_ok=True)


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def token_for(base_url: str, username: str, password: str) -> str:
    response = httpx.post(f"{base_url}/api/auth/token", json={"username": username, "password": password}, timeout=10)
    response.raise_for_status()
    return response.json()["access"]
