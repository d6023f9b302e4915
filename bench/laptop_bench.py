"""`make run`'s server on the laptop defaults (SQLite, in-process events, no Redis) with one worker or more.

    .venv/bin/python bench/laptop_bench.py                  # 1 and 2 workers, 3 interleaved rounds (~3 minutes)
    .venv/bin/python bench/laptop_bench.py --quick          # one short round, a smoke test

What `make run` does, in a temp dir: a fresh SQLite file, `manage.py migrate` and `manage.py demo_data`, then
`python -m crm.serve --workers N` with DEBUG=0 and the rate limits raised so nothing answers 429 (the default
6,000/min per user would cap one wrk user). The background worker is not started: nothing here enqueues a job.
Each run: wrk -t2 -c16 for 2 s of warm-up, then `--duration` s with --latency, as the demo owner, on
`GET /api/auth/me` and `GET /api/leads?limit=50`; req/s, p50, p99, non-2xx and the CPU ms per request of the
server's processes, and how many requests each worker process served (the spread of keep-alive connections).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
from servers import parse_wrk, process_cpu

ENDPOINTS = {"auth/me": "/api/auth/me", "leads": "/api/leads?limit=50"}
ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "bench-laptop-not-a-secret-0123456789abcdef012345",
    "ALLOWED_HOSTS": "127.0.0.1",
    "LOG_LEVEL": "WARNING",
    "THROTTLE_USER_RATE": "1000000/s",
    "THROTTLE_TENANT_RATE": "1000000/s",
}
DROPPED_ENV = ("DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY", "DB_POOL_MAX_SIZE")


def _server_jiffies(leader: int) -> dict[int, int]:
    """CPU jiffies of each of the server's processes (harness.server_start gives it a session of its own)."""
    return {pid: jiffies for pid, (session, jiffies) in process_cpu().items() if session == leader}


def measure(port: int, leader: int, path: str, token: str, seconds: int) -> dict:
    url = f"http://127.0.0.1:{port}{path}"
    base = ["wrk", "-t2", "-c16", "--timeout", "10s", "-H", f"Authorization: Bearer {token}"]
    subprocess.run([*base, "-d2s", url], check=True, capture_output=True)
    before = _server_jiffies(leader)
    output = subprocess.run([*base, f"-d{seconds}s", "--latency", url], check=True, capture_output=True, text=True)
    spent = {pid: jiffies - before.get(pid, 0) for pid, jiffies in _server_jiffies(leader).items()}
    result = parse_wrk(output.stdout)
    requests = max(result["requests"], 1)
    result["cpu_ms"] = sum(spent.values()) * 1000 / os.sysconf("SC_CLK_TCK") / requests
    busy = sorted((value for value in spent.values() if value), reverse=True)
    result["cpu_shares"] = [round(100 * value / max(sum(busy), 1)) for value in busy]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 1, 3
    workers = [int(value) for value in args.workers.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="laptop-bench-"))
    env = {key: value for key, value in os.environ.items() if key not in DROPPED_ENV}
    env.update(ENV, DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}")
    for command in (["migrate", "--noinput"], ["demo_data"]):
        manage = [sys.executable, "manage.py", *command]
        subprocess.run(manage, cwd=harness.REPO, env=env, check=True, capture_output=True)
    print(f"SQLite demo database in {workdir}", file=sys.stderr)

    results: dict[tuple[int, str], list[dict]] = {}
    for round_number in range(1, args.rounds + 1):
        for count in workers if round_number % 2 else reversed(workers):
            port = harness.free_port()
            log = workdir / f"serve-{count}.log"
            server = harness.server_start(env, port=port, workers=count, log_path=log)
            try:
                time.sleep(1)  # every worker up, not just the first to answer /healthz
                token = harness.token(port, "owner", "demo-pass-2025")
                for name, path in ENDPOINTS.items():
                    found = measure(port, server.pid, path, token, args.duration)
                    results.setdefault((count, name), []).append(found)
                    print(
                        f"[r{round_number}] workers={count} {name:8} {found['rps']:8.1f} req/s  "
                        f"p50 {found['p50']} p99 {found['p99']} ms  CPU {found['cpu_ms']:.2f} ms/req  "
                        f"CPU shares % {found['cpu_shares']}  non-2xx {found['errors']}",
                        file=sys.stderr,
                    )
            finally:
                harness.server_stop(server)

    print("| workers | endpoint | req/s median (range) | p50 / p99 ms | CPU ms/req | CPU shares % | non-2xx |")
    print("|---|---|---|---|---|---|---|")
    for (count, name), runs in results.items():
        rps = [run["rps"] for run in runs]
        middle = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
        print(
            f"| {count} | `{name}` | {statistics.median(rps):,.0f} ({min(rps):,.0f}–{max(rps):,.0f}) | "
            f"{middle['p50']} / {middle['p99']} | {statistics.median(run['cpu_ms'] for run in runs):.2f} | "
            f"{middle['cpu_shares']} | {sum(run['errors'] for run in runs)} |"
        )
    return 1 if any(run["errors"] for runs in results.values() for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
