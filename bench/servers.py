"""Measure the candidate production server layouts with wrk and print a table (req/s, p50, p99, errors).

    .venv/bin/pip install -r requirements-bench.txt && apt-get install -y wrk nginx-light
    .venv/bin/python bench/servers.py                # full run, about 15 minutes
    .venv/bin/python bench/servers.py --quick        # one short round of everything, for a smoke test

Every layout runs the same code (`crm.asgi` or `crm.wsgi`) on PostgreSQL with DEBUG off and 2 workers where the
server has workers. The script creates the database and a tenant with 60 users, starts and stops each server
itself (in its own process group), waits for the box to be idle-ish before every run, interleaves the rounds and
reports medians with ranges. The 2-core box is shared, so the figures are noisy: compare medians, not single runs.
"""

import argparse
import contextlib
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PY = str(BIN / "python")
SLUG = "bench-servers"
USERS = 60
ENDPOINTS = {"users": "/api/users?limit=25", "healthz": "/healthz"}
SSE_PATH = "/api/events/stream"
HZ = os.sysconf("SC_CLK_TCK")
# A run is "clean" when the rest of the box used at most this share of the CPU while it ran.
CLEAN_OTHER_CPU = 15.0

# The rate limits stay on (their cache INCRs are part of every request's cost) but high enough never to answer 429.
SERVER_ENV = {
    "DJANGO_SETTINGS_MODULE": "crm.settings",
    "DEBUG": "0",
    "SECRET_KEY": "bench-servers-not-a-secret-0123456789abcdef",
    "ALLOWED_HOSTS": "127.0.0.1",
    "THROTTLE_USER_RATE": "100000/s",
    "THROTTLE_TENANT_RATE": "100000/s",
    "LOG_LEVEL": "WARNING",
    "ACCESS_TOKEN_MINUTES": "1440",
}
DROPPED_ENV = ("REDIS_URL", "WEB_CONCURRENCY", "DB_POOL_MAX_SIZE", "JWT_ALGORITHM", "JWT_SIGNING_KEY")

NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream app {{ server 127.0.0.1:{app_port}; keepalive 16; }}
    upstream events {{ server 127.0.0.1:{asgi_port}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # The event stream: ASGI, unbuffered, long-lived. (A location's own proxy_set_header drops the server's.)
        location = {sse_path} {{
            proxy_pass http://events;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 1h;
            add_header X-Upstream events always;
        }}
        # Everything else: the gunicorn sync workers in the split (nginx buffers slow clients for them).
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Connection "";
            add_header X-Upstream app always;
        }}
    }}
}}
"""


@dataclass
class Layout:
    """One server layout: the commands to start (with {port} placeholders) and what it can serve."""

    name: str
    description: str
    commands: list[list[str]]
    endpoints: tuple[str, ...] = ("users", "healthz")
    env: dict[str, str] = field(default_factory=dict)
    proxied: bool = False  # nginx in front: {port} is nginx, {wsgi_port}/{asgi_port} the backends
    app_upstream: str = "wsgi_port"  # where nginx sends everything but the event stream


def layouts() -> list[Layout]:
    asgi, wsgi = "crm.asgi:application", "crm.wsgi:application"
    bind = ["--host", "127.0.0.1", "--port", "{port}"]
    serve = [PY, "-m", "crm.serve", *bind, "--workers", "2"]
    gunicorn_uvicorn = [str(BIN / "gunicorn"), "-k", "uvicorn_worker.UvicornWorker", "-w", "2"]
    gunicorn_uvicorn += ["-b", "127.0.0.1:{port}", "--graceful-timeout", "3", asgi]
    # Django's ASGI handler refuses the lifespan protocol, so granian's no-lifespan ASGI flavour is used.
    granian_asgi = [str(BIN / "granian"), "--interface", "asginl", "--workers", "2", *bind, "--no-ws"]
    granian_asgi += ["--log-level", "warning", asgi]
    daphne = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", "{port}", "-v", "0", asgi]
    found = [
        Layout("serve", "python -m crm.serve --workers 2 (uvicorn, TCP_NODELAY fixed)", [serve]),
        Layout(
            "uvicorn",
            "stock uvicorn --workers 2",
            [[str(BIN / "uvicorn"), asgi, "--workers", "2", *bind, "--no-access-log", "--lifespan", "off"]],
        ),
        Layout("gunicorn-uvicorn", "gunicorn -k uvicorn_worker.UvicornWorker -w 2", [gunicorn_uvicorn]),
        Layout("daphne", "daphne, 1 process (no multi-worker mode)", [daphne]),
        Layout("granian-asgi", "granian --interface asginl --workers 2", [granian_asgi]),
        Layout(
            "granian-wsgi",
            "granian --interface wsgi --workers 2 (crm.wsgi)",
            [[str(BIN / "granian"), "--interface", "wsgi", "--workers", "2", *bind, "--log-level", "warning", wsgi]],
        ),
        Layout(
            "gunicorn-sync",
            "gunicorn sync -w 2 (crm.wsgi; cannot stream SSE)",
            [[str(BIN / "gunicorn"), "-w", "2", "-b", "127.0.0.1:{port}", wsgi]],
        ),
        Layout(
            "split",
            "nginx -> gunicorn sync -w 2, /api/events/stream -> crm.serve 1 worker",
            [
                [str(BIN / "gunicorn"), "-w", "2", "-b", "127.0.0.1:{wsgi_port}", wsgi],
                [PY, "-m", "crm.serve", "--host", "127.0.0.1", "--port", "{asgi_port}", "--workers", "1"],
            ],
            proxied=True,
        ),
    ]
    return found


def extra_layouts(found: list[Layout]) -> list[Layout]:
    """`--extras`: a smaller DB pool for two ASGI layouts, and nginx in front of crm.serve (a proxy's cost on ASGI)."""
    extras = []
    for base in ("serve", "granian-asgi"):  # only the list touches the database
        layout = next(item for item in found if item.name == base)
        extras.append(
            Layout(
                f"{base}@pool8",
                f"{layout.description}, DB_POOL_MAX_SIZE=8",
                layout.commands,
                endpoints=("users",),
                env={"DB_POOL_MAX_SIZE": "8"},
            )
        )
    serve = next(item for item in found if item.name == "serve")
    asgi_backend = [part.replace("{port}", "{asgi_port}") for part in serve.commands[0]]
    extras.append(
        Layout(
            "proxy-serve",
            "nginx -> crm.serve 2 workers for everything",
            [asgi_backend],
            endpoints=("users",),
            proxied=True,
            app_upstream="asgi_port",
        )
    )
    return extras


# ---------------------------------------------------------------------------------------------------- setup


def server_env(db_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in DROPPED_ENV}
    env.update(SERVER_ENV, DATABASE_URL=db_url, DB_POOL_MAX_SIZE="16")
    env.update(extra or {})
    return env


def database_create(db_url: str) -> None:
    name = db_url.rsplit("/", 1)[1]
    admin_url = db_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed() -> None:
    """Run inside a child process with the server environment: the tenant, 60 users, a long-lived token."""
    import django

    sys.path.insert(0, str(REPO))  # run as a script, bench/ is on the path instead of the project
    django.setup()
    from django.contrib.auth.hashers import make_password

    from crm import services
    from crm.models import Role, Tenant, User
    from crm.tokens import issue_token_pair

    tenant = Tenant.objects.filter(slug=SLUG).first() or services.tenant_create(name="Bench servers", slug=SLUG)
    owner = User.objects.filter(username="bench-owner").first() or services.user_create(
        tenant=tenant, username="bench-owner", password="Quiet-lantern-73-orbit", role=Role.OWNER
    )
    existing = User.objects.filter(tenant=tenant).count()
    # Hashing 59 real passwords would take longer than the runs; the list never reads them.
    User.objects.bulk_create(
        User(tenant=tenant, username=f"bench-manager-{n}", role=Role.MANAGER, password=make_password(None))
        for n in range(existing, USERS)
    )
    print(json.dumps({"token": issue_token_pair(owner)["access"]}))


def prepare(db_url: str) -> str:
    database_create(db_url)
    env = server_env(db_url)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    out = subprocess.run(
        [PY, str(Path(__file__).resolve()), "--seed"], cwd=REPO, env=env, check=True, stdout=subprocess.PIPE, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["token"]


# ---------------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The processes of one layout, each in its own session so the whole tree can be signalled by id."""

    def __init__(self, layout: Layout, env: dict[str, str], logdir: Path):
        self.layout = layout
        self.env = env
        self.logdir = logdir
        self.port = free_port()
        self.ports = {"port": self.port, "wsgi_port": free_port(), "asgi_port": free_port()}
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        for index, command in enumerate(self.layout.commands):
            self._spawn([part.format(**self.ports) for part in command], f"{self.layout.name}-{index}")
        if self.layout.proxied:
            for backend in {self.layout.app_upstream, "asgi_port"}:
                wait_ready(self.ports[backend], 40)
            self._spawn(self._nginx(), f"{self.layout.name}-nginx")
        wait_ready(self.port, 40)

    def _spawn(self, argv: list[str], label: str) -> None:
        log = open(self.logdir / f"{label}.log", "ab")  # noqa: SIM115 - owned by the child until stop()
        self.procs.append(
            subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=log, stderr=log, start_new_session=True)
        )
        log.close()

    def _nginx(self) -> list[str]:
        tmp = Path(tempfile.mkdtemp(prefix="nginx-", dir=self.logdir))
        conf = NGINX_CONF.format(
            user="user root;\n" if os.geteuid() == 0 else "",
            tmp=tmp,
            sse_path=SSE_PATH,
            app_port=self.ports[self.layout.app_upstream],
            **self.ports,
        )
        (tmp / "nginx.conf").write_text(conf)
        return [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf")]

    def sessions(self) -> set[int]:
        return {proc.pid for proc in self.procs if proc.poll() is None}

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            # Children outliving a SIGTERMed parent are still in its process group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.procs.clear()


def wait_ready(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"nothing answered /healthz on port {port} within {timeout:.0f} s")


def check_users(port: int, token: str) -> str | None:
    """None when the list answers 200 with 25 users, else what went wrong (the layout is then skipped)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", ENDPOINTS["users"], headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        return f"HTTP {response.status}: {body[:200]!r}"
    rows = len(json.loads(body).get("users", []))
    return None if rows == 25 else f"{rows} users instead of 25"


def check_sse(port: int, token: str) -> str:
    """Does the layout start streaming /api/events/stream within 3 s? (404 while the events route is absent.)"""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        conn.request("GET", f"{SSE_PATH}?access_token={token}", headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        upstream = response.getheader("X-Upstream")
        via = f" via {upstream}" if upstream else ""
        if response.status != 200:
            return f"HTTP {response.status}{via}"
        if "text/event-stream" not in (response.getheader("Content-Type") or ""):
            return f"not a stream{via}"
        return f"streams{via}" if response.fp.read1(1) else f"no bytes{via}"
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        return f"no stream ({exc.__class__.__name__})"
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------------- CPU and load


def cpu_busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole box since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


def busy_percent(seconds: float = 1.0) -> float:
    busy0, total0 = cpu_busy_jiffies()
    time.sleep(seconds)
    busy1, total1 = cpu_busy_jiffies()
    return 100.0 * (busy1 - busy0) / max(1, total1 - total0)


def wait_idle(threshold: float, max_wait: float) -> float:
    """Wait until the box is below `threshold` % busy (1 s samples), at most `max_wait` s; return the last sample."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = busy_percent()
        if busy < threshold or time.monotonic() >= deadline:
            return busy


class Budget:
    """Spreads `seconds` over the runs: the idle waits shrink first, then runs that would not fit are skipped."""

    def __init__(self, seconds: float, runs: int, estimate: float):
        self.deadline = time.monotonic() + seconds
        self.runs_left = runs
        self.estimate = estimate  # seconds one run takes without waiting, until some have been timed
        self.busy_seconds = 0.0
        self.runs_done = 0

    def per_run(self) -> float:
        return self.busy_seconds / self.runs_done if self.runs_done else self.estimate

    def spare(self) -> float:
        return self.deadline - time.monotonic() - self.runs_left * self.per_run()

    def fits(self, runs: int) -> bool:
        return self.spare() >= -runs * self.per_run() / 2

    def max_wait(self, ceiling: float) -> float:
        return min(ceiling, max(0.0, self.spare() / max(1, self.runs_left)))

    def spent(self, runs: int, seconds: float) -> None:
        self.runs_left -= runs
        if seconds:
            self.runs_done += runs
            self.busy_seconds += seconds


def process_cpu() -> dict[int, tuple[int, int]]:
    """pid -> (session id, utime+stime jiffies) for every process visible now."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(entry.path, "stat").read_text()
            parts = stat[stat.rindex(")") + 2 :].split()
            found[int(entry.name)] = (int(parts[3]), int(parts[11]) + int(parts[12]))
    return found


def session_rss_mb(sessions: set[int]) -> float:
    total_kb = 0
    for pid, (sid, _) in process_cpu().items():
        if sid in sessions:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
    return total_kb / 1024


def db_backends(db_url: str) -> list[int]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [row[0] for row in rows]


# ---------------------------------------------------------------------------------------------------- wrk

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return round(float(number) * _UNITS[unit], 2)


def parse_wrk(output: str) -> dict:
    result = {"rps": 0.0, "p50": None, "p99": None, "requests": 0, "errors": 0}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result["rps"] = float(match.group(1))
    if match := re.search(r"(\d+) requests in", output):
        result["requests"] = int(match.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        if match := re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+(?:us|ms|s|m))\s*$", output, re.MULTILINE):
            result[key] = _ms(match.group(1))
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        result["errors"] += int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        result["errors"] += sum(int(value) for value in match.groups())
    return result


def wrk(url: str, token: str, seconds: int, args) -> str:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    command += ["-H", f"Authorization: Bearer {token}", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout


def measure(server: Server, endpoint: str, token: str, args, max_wait: float) -> dict:
    url = f"http://127.0.0.1:{server.port}{ENDPOINTS[endpoint]}"
    waiting = time.monotonic()
    busy = wait_idle(args.idle_threshold, max_wait)
    waiting = time.monotonic() - waiting
    wrk(url, token, args.warmup, args)
    pg_before = set(db_backends(args.db_url))
    procs0, (busy0, total0) = process_cpu(), cpu_busy_jiffies()
    children0, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    output = wrk(url, token, args.duration, args)
    elapsed = time.monotonic() - started
    children1, (busy1, total1), procs1 = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_busy_jiffies(), process_cpu()
    pg_pids = pg_before | set(db_backends(args.db_url))
    sessions = server.sessions()
    served = sum(
        ticks - procs0.get(pid, (0, 0))[1] for pid, (sid, ticks) in procs1.items() if sid in sessions or pid in pg_pids
    )
    load = (children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime) * HZ  # wrk
    box = busy1 - busy0
    result = parse_wrk(output)
    result.update(
        busy_before=round(busy, 1),
        waited=round(waiting, 1),
        other_cpu=round(max(0.0, 100.0 * (box - served - load) / max(1, total1 - total0)), 1),
        # CPU time of the server processes and their PostgreSQL backends per request: what the layout costs,
        # much less sensitive to the rest of the box than req/s is.
        cpu_ms=round(1000.0 * served / HZ / max(1, result["requests"]), 2),
        db_conns=len(pg_pids),
        seconds=round(elapsed, 1),
    )
    return result


# ---------------------------------------------------------------------------------------------------- report


def _fmt(values: list[float], digits: int = 0) -> str:
    if not values:
        return "-"
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def _clean(runs: list[dict]) -> str:
    clean = [run["rps"] for run in runs if run["other_cpu"] <= CLEAN_OTHER_CPU]
    return f"{statistics.median(clean):.0f} (n={len(clean)})" if clean else "-"


def report(results: dict, notes: dict, chosen: list[Layout]) -> str:
    lines = [
        "| layout | endpoint | runs | req/s median (range) | req/s clean runs | p50 ms | p99 ms | errors "
        "| CPU ms/req | other CPU % | DB conns | RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for layout in chosen:
        for endpoint in layout.endpoints:
            runs = results.get((layout.name, endpoint), [])
            if not runs:
                missing = notes.get(layout.name, "not run")
                lines.append(f"| {layout.name} | {endpoint} | 0 | {missing} |" + " |" * 8)
                continue
            lines.append(
                "| "
                + " | ".join(
                    [
                        layout.name,
                        endpoint,
                        str(len(runs)),
                        _fmt([run["rps"] for run in runs]),
                        _clean(runs),
                        _fmt([run["p50"] for run in runs if run["p50"] is not None], 1),
                        _fmt([run["p99"] for run in runs if run["p99"] is not None], 1),
                        str(sum(run["errors"] for run in runs)),
                        _fmt([run["cpu_ms"] for run in runs], 2),
                        _fmt([run["other_cpu"] for run in runs]),
                        str(max(run["db_conns"] for run in runs)),
                        _fmt([run["rss_mb"] for run in runs]),
                    ]
                )
                + " |"
            )
    lines.append("")
    lines.append("Layouts:")
    for layout in chosen:
        lines.append(f"- {layout.name}: {layout.description}; SSE: {notes.get(layout.name + ':sse', '-')}")
    ratio = _ratio(results, ("split", "users"), ("gunicorn-sync", "users"))
    if ratio:
        lines.append(f"- nginx cost on the list: split / gunicorn-sync direct = {ratio:.2f}")
    ratio = _ratio(results, ("split", "healthz"), ("gunicorn-sync", "healthz"))
    if ratio:
        lines.append(f"- nginx cost on /healthz: split / gunicorn-sync direct = {ratio:.2f}")
    return "\n".join(lines)


def _ratio(results: dict, top: tuple[str, str], bottom: tuple[str, str]) -> float | None:
    a, b = results.get(top), results.get(bottom)
    if not a or not b:
        return None
    return statistics.median(run["rps"] for run in a) / statistics.median(run["rps"] for run in b)


# ---------------------------------------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/crm_bench_servers")
    parser.add_argument("--only", default="", help="comma-separated layout names (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--idle-threshold", type=float, default=30.0, help="start a run below this %% busy")
    parser.add_argument("--max-idle-wait", type=float, default=20.0)
    parser.add_argument("--budget", type=float, default=900.0, help="seconds; rounds that would not fit are skipped")
    parser.add_argument("--quick", action="store_true", help="1 round, 3 s runs, 1 s warm-up")
    parser.add_argument("--extras", action="store_true", help="add the @pool8 variants and proxy-serve (~+5 min)")
    parser.add_argument("--json", type=Path, help="also write every run to this file")
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup, args.max_idle_wait = 1, 3, 1, 5.0
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.seed:
        seed()
        return 0
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    found = layouts()
    found += extra_layouts(found) if args.extras or args.only else []
    chosen = [layout for layout in found if not args.only or layout.name in args.only.split(",")]
    if any(layout.proxied for layout in chosen) and not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        sys.exit("nginx is missing: apt-get install -y nginx-light")
    started = time.monotonic()
    token = prepare(args.db_url)
    logdir = Path(tempfile.mkdtemp(prefix="bench-servers-"))
    print(f"setup done in {time.monotonic() - started:.0f} s; server logs in {logdir}", file=sys.stderr)

    results: dict[tuple[str, str], list[dict]] = {}
    notes: dict[str, str] = {}
    runs = args.rounds * sum(len(layout.endpoints) for layout in chosen)
    budget = Budget(args.budget - (time.monotonic() - started), runs, args.warmup + args.duration + 4)
    current: Server | None = None

    def on_term(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        for round_no in range(args.rounds):
            # Rotating the order spreads slow drift of the box (others' test runs) over all layouts.
            shift = round_no * max(1, len(chosen) // args.rounds)
            for layout in chosen[shift:] + chosen[:shift]:
                if layout.name in notes:  # it failed before; no point retrying
                    budget.spent(len(layout.endpoints), 0)
                    continue
                # Round 1 always runs whole, so every layout is measured at least once; later rounds may be cut.
                if round_no and not budget.fits(len(layout.endpoints)):
                    print(f"budget: skipping {layout.name} in round {round_no + 1}", file=sys.stderr)
                    budget.spent(len(layout.endpoints), 0)
                    continue
                begun, waited, measured = time.monotonic(), 0.0, 0
                current = Server(layout, server_env(args.db_url, layout.env), logdir)
                try:
                    current.start()
                    if problem := check_users(current.port, token):
                        raise RuntimeError(problem)
                    for endpoint in layout.endpoints:
                        run = measure(current, endpoint, token, args, budget.max_wait(args.max_idle_wait))
                        run.update(rss_mb=round(session_rss_mb(current.sessions()), 1), round=round_no + 1)
                        results.setdefault((layout.name, endpoint), []).append(run)
                        waited += run["waited"]
                        measured += 1
                        print(
                            f"[r{round_no + 1}] {layout.name:<24} {endpoint:<8} {run['rps']:8.1f} req/s "
                            f"p50 {run['p50']} p99 {run['p99']} ms, errors {run['errors']}, "
                            f"CPU {run['cpu_ms']} ms/req, box busy before {run['busy_before']}%, "
                            f"other {run['other_cpu']}%",
                            file=sys.stderr,
                        )
                    notes.setdefault(layout.name + ":sse", check_sse(current.port, token))
                except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as exc:
                    notes[layout.name] = f"failed: {exc}"
                    print(f"{layout.name}: {exc} (logs in {logdir})", file=sys.stderr)
                finally:
                    current.stop()
                    current = None
                    budget.spent(measured, time.monotonic() - begun - waited)
                    budget.spent(len(layout.endpoints) - measured, 0)
    finally:
        if current is not None:
            current.stop()

    print(
        f"\nc={args.connections}, {args.warmup} s warm-up + {args.duration} s measured per run, {args.rounds} rounds "
        f"interleaved, total {time.monotonic() - started:.0f} s. 2-core box shared with other work: the figures are "
        "noisy: compare medians. 'other CPU %' is the box's CPU used by processes outside the bench; 'clean runs' is "
        f"the median over the runs where it stayed at or below {CLEAN_OTHER_CPU:.0f} %. 'CPU ms/req' is the CPU time "
        "of the server processes and their PostgreSQL backends per request (the steadiest figure on a busy box).\n"
    )
    print(report(results, notes, chosen))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({f"{k[0]}|{k[1]}": v for k, v in results.items()} | {"notes": notes}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
