"""Real processes for the end-to-end tests: the ASGI server (`python -m crm.serve`) and a private Redis."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float = 10.0, interval: float = 0.05):
    """Poll `condition` until it returns something truthy (a wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


class ServerProcess:
    """`python -m crm.serve` on a free port with the given environment."""

    def __init__(self, env: dict[str, str], *, workers: int = 1, log_path: str = os.devnull):
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
        if not wait_until(self._healthy, timeout=30):
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


class RedisProcess:
    """A private redis-server (the shared one on 6379 is never stopped by the tests)."""

    binary = shutil.which("redis-server")

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary with fixed arguments
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(self._pong, timeout=10):
            raise RuntimeError("redis-server did not start")

    def _pong(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


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

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
