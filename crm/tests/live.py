"""Real processes for end-to-end tests: the ASGI server (`python -m crm.serve`), a private PostgreSQL cluster, a
private Redis, a private Pushpin.

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


def wait_until(condition, timeout: float = 10.0, interval: float = 0.05):
    """Poll `condition` until it is truthy; returns its last result (a wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


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
    """A private redis-server, started and stopped by the test (the shared one on 6379 is never stopped)."""

    binary = shutil.which("redis-server")

    def __init__(self):
        if self.binary is None:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary with fixed arguments
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(self._pong, timeout=20):
            raise RuntimeError("redis-server did not start")

    def _pong(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


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


class ServerProcess:
    """`python -m crm.serve` on a free port with the given environment."""

    def __init__(
        self, env: dict[str, str], *, workers: int = 1, log_path: str = os.devnull, startup_timeout: float = 30
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log = open(log_path, "w")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "crm.serve", "--host", "127.0.0.1", "--port", str(self.port)]
            + ["--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if not wait_until(self._healthy, timeout=startup_timeout):
            self.stop()
            raise RuntimeError(f"the server on {self.url} did not start")

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def thread_count(self) -> int:
        """Threads of the (single-worker) server process."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


@contextmanager
def running_server(env: dict[str, str], *, workers: int = 1, startup_timeout: float = 30):
    """A `ServerProcess` for the length of a `with`; yields its base URL."""
    server = ServerProcess(env, workers=workers, startup_timeout=startup_timeout)
    try:
        yield server.url
    finally:
        server.stop()


def token_for(base_url: str, username: str, password: str) -> str:
    response = httpx.post(f"{base_url}/api/auth/token", json={"username": username, "password": password}, timeout=10)
    response.raise_for_status()
    return response.json()["access"]


def _ports_free(ports) -> bool:
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


class PushpinProcess:
    """A private Pushpin (GRIP proxy) in a temporary directory, routing everything to one backend.

    The Debian package's default runner starts no outgoing HTTP client: its `services` lack `zurl`, and the proxy
    looks for zurl's sockets under /var/run/zurl. Both are fixed in the generated config (the README says the same).
    """

    binary = shutil.which("pushpin")

    def __init__(self, directory: Path):
        self.directory = directory
        self.http_port = free_port()
        self.key = os.urandom(24).hex()
        offset = next(o for o in range(2000, 9000, 17) if _ports_free(range(5560 + o, 5564 + o)))
        self.control_port = 5561 + offset
        self.grip_url = f"http://127.0.0.1:{self.control_port}?iss=pushpin&key={self.key}"
        (directory / "run").mkdir()
        (directory / "log").mkdir()
        config = Path("/etc/pushpin/pushpin.conf").read_text()
        replacements = {
            "rundir=": f"rundir={directory / 'run'}",
            "port_offset=": f"port_offset={offset}",
            "logdir=": f"logdir={directory / 'log'}",
            "services=": "services=condure,zurl,pushpin-proxy,pushpin-handler",
            "sig_key=": f"sig_key={self.key}",
            # The defaults (2,500 messages/s, 25,000 queued) drop deliveries past ~2,500 streams × 1 event/s.
            "message_rate=": "message_rate=100000",
            "message_hwm=": "message_hwm=1000000",
        }
        lines = [
            next((new for prefix, new in replacements.items() if line.startswith(prefix)), line)
            for line in config.splitlines()
        ]
        zurl = [
            "zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in",
            "zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream",
            "zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out",
        ]
        proxy_section = lines.index("[proxy]") + 1
        lines[proxy_section:proxy_section] = zurl
        (directory / "pushpin.conf").write_text("\n".join(lines) + "\n")
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.process: subprocess.Popen | None = None

    def start(self, backend_port: int) -> None:
        (self.directory / "routes").write_text(f"* 127.0.0.1:{backend_port}\n")
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary with a generated config
            [self.binary, "--config", str(self.directory / "pushpin.conf"), "--port", str(self.http_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_until(self._proxying, timeout=20):
            raise RuntimeError("pushpin did not start")

    def _proxying(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_until_holding(self, path: str, headers: dict[str, str]) -> None:
        """Wait until a stream opened at `path` is held, i.e. the proxy reaches Pushpin's handler.

        `/healthz` passes as soon as the proxy forwards, but the proxy hands held responses to the handler over a
        ZeroMQ socket whose connect, if it came before the handler's bind, is retried only every 100 ms. A stream
        opened before then gets Pushpin's own 500 "Accept service unavailable.".
        """

        def holding() -> bool:
            try:
                with httpx.stream("GET", f"{self.url}{path}", headers=headers, timeout=5) as response:
                    return response.status_code == 200
            except httpx.HTTPError:
                return False

        if not wait_until(holding, timeout=20):
            raise RuntimeError("pushpin does not hold streams")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
