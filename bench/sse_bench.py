"""SSE load: N subscribers on `/api/events/stream` while M lead events per second are published through the API.

    .venv/bin/python bench/sse_bench.py --subscribers 1000 --workers 1
    .venv/bin/python bench/sse_bench.py --subscribers 1000 --workers 2 --redis-url redis://127.0.0.1:6379/5
    .venv/bin/python bench/sse_bench.py --subscribers 1000 --pushpin          # one worker behind Pushpin

PostgreSQL at `--db-url` (default `postgres://postgres@127.0.0.1:5432/crm_sse_bench`; created, migrated and seeded
here). The server is `python -m crm.serve` (DEBUG=0, the psycopg pool, rate limits raised). Subscribers are spread
over two tenants: a fifth are supervisors (owner/rop/admin: the tenant channel), the rest managers (their own channel),
held by `--clients` client processes speaking raw HTTP/1.1 (asyncio streams: cheap enough for thousands). The
publisher POSTs `/api/leads` (assigned to a random manager of a random tenant) at `--rate` per second for
`--duration` s; each `lead_created` must reach every supervisor of that tenant and every subscriber of that manager.

Prints: connect time, delivery latency p50/p99/max from the publishing request's response to arrival (negative when
the event beats the HTTP response: it is sent on commit, before the response), events lost and duplicated (must be 0),
RSS and threads of each server process idle and under load, and the database connections the server holds.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUPERVISOR_SHARE = 0.2
MANAGERS_PER_TENANT = 20
SUPERVISORS_PER_TENANT = 3


def _setup_django(db_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DATABASE_URL": db_url,
            "SECRET_KEY": os.environ.get("SECRET_KEY", "sse-bench-secret-key-0123456789abcdef0123456789"),
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def _ensure_database(db_url: str) -> None:
    import psycopg

    base, _, name = db_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _seed() -> dict:
    """Two tenants, each with supervisors and managers; returns their ids and tokens."""
    from django.core.management import call_command

    from crm.models import Role, Tenant, User
    from crm.services import tenant_create
    from crm.tokens import issue_token_pair

    call_command("migrate", verbosity=0)
    tenants = []
    for slug in ("sse-bench-a", "sse-bench-b"):
        tenant = Tenant.objects.filter(slug=slug).first() or tenant_create(name=slug, slug=slug)
        users = {"supervisors": [], "managers": []}
        roles = [Role.OWNER, Role.ROP, Role.ADMIN][:SUPERVISORS_PER_TENANT]
        for kind, count in (("supervisors", SUPERVISORS_PER_TENANT), ("managers", MANAGERS_PER_TENANT)):
            for n in range(count):
                role = roles[n] if kind == "supervisors" else Role.MANAGER
                user, _ = User.objects.get_or_create(
                    username=f"{slug}-{kind}-{n}", defaults={"tenant": tenant, "role": role, "password": "!"}
                )
                users[kind].append({"id": user.pk, "token": issue_token_pair(user)["access"]})
        tenants.append({"id": tenant.pk, **users})
    return {"tenants": tenants}


def _subscriptions(data: dict, count: int) -> list[dict]:
    subs = []
    for n in range(count):
        tenant = data["tenants"][n % 2]
        if (n // 2) % int(1 / SUPERVISOR_SHARE) == 0:
            user = tenant["supervisors"][(n // 10) % SUPERVISORS_PER_TENANT]
            subs.append(
                {"n": n, "tenant": tenant["id"], "user": user["id"], "supervisor": True, "token": user["token"]}
            )
        else:
            user = tenant["managers"][(n // 2) % MANAGERS_PER_TENANT]
            subs.append(
                {"n": n, "tenant": tenant["id"], "user": user["id"], "supervisor": False, "token": user["token"]}
            )
    return subs


def _raise_open_files() -> None:
    """Thousands of sockets per process: the soft limit up to the hard one (the server inherits it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---- subscriber processes -------------------------------------------------------------------------------------


async def _subscribe(host: str, port: int, sub: dict, received: list, connected: asyncio.Event, errors: list, counter):
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            (
                f"GET /api/events/stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {sub['token']}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            errors.append((sub["n"], status.decode().strip()))
            connected.set()
            return
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            chunked |= line.lower().startswith(b"transfer-encoding: chunked")
        buffer = b""
        while True:
            if chunked:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    break
                data = await reader.readexactly(size + 2)
                data = data[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    break
            now = time.time()
            buffer += data
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                event = data_line = None
                for line in frame.split(b"\n"):
                    if line.startswith(b"event: "):
                        event = line[7:].decode()
                    elif line.startswith(b"data: "):
                        data_line = line[6:]
                if event == "connected":
                    connected.set()
                elif event in ("lead_created", "lead_updated"):
                    received.append((json.loads(data_line)["data"]["lead_id"], now))
                    counter.value += 1
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        errors.append((sub["n"], repr(exc)))
        connected.set()


def _client_process(host, port, subs, ready_queue, stop_event, result_queue, concurrency, counter):
    _raise_open_files()

    async def main():
        received = {sub["n"]: [] for sub in subs}
        errors: list = []
        gate = asyncio.Semaphore(concurrency)
        tasks = []
        started = time.time()

        async def one(sub):
            connected = asyncio.Event()
            async with gate:
                task = asyncio.create_task(_subscribe(host, port, sub, received[sub["n"]], connected, errors, counter))
                await connected.wait()
            return task

        tasks = await asyncio.gather(*(one(sub) for sub in subs))
        ready_queue.put({"connect_seconds": time.time() - started, "errors": len(errors)})
        while not stop_event.is_set():
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        result_queue.put({"received": received, "errors": [e for _, e in errors[:5]], "failed": [n for n, _ in errors]})

    asyncio.run(main())


# ---- measurements ---------------------------------------------------------------------------------------------


def _process_tree(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                children.append(int(entry.name))
    return [pid] + children


def _proc_status(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            fields[key] = int(value.split()[0])
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return {"pid": pid, "rss_mb": round(fields["VmRSS"] / 1024, 1), "threads": fields["Threads"], "cpu_s": cpu}


def _db_connections(app_name: str) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity WHERE application_name = %s GROUP BY 1",
            [app_name],
        )
        return dict(cursor.fetchall())


def _snapshot(server, app_name: str) -> dict:
    return {
        "processes": [_proc_status(pid) for pid in _process_tree(server.process.pid)],
        "db_connections": _db_connections(app_name),
    }


# ---- publisher ----------------------------------------------------------------------------------------------


async def _publish(base_url: str, data: dict, rate: float, duration: float, failures: list) -> list[dict]:
    published = []
    tokens = {t["id"]: t["supervisors"][0]["token"] for t in data["tenants"]}
    managers = {t["id"]: [m["id"] for m in t["managers"]] for t in data["tenants"]}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:

        async def one(tenant_id: int):
            assignee = random.choice(managers[tenant_id])  # noqa: S311 - load shape, not security
            sent = time.time()
            try:
                response = await client.post(
                    "/api/leads",
                    json={"name": "SSE bench", "assigned_to_user_id": assignee},
                    headers={"Authorization": f"Bearer {tokens[tenant_id]}"},
                )
            except httpx.HTTPError as exc:
                # The lead may still have been created: its deliveries are then neither expected nor counted.
                failures.append(repr(exc))
                return
            answered = time.time()
            if response.status_code != 201:
                failures.append(f"{response.status_code} {response.text[:200]}")
                return
            published.append(
                {"lead": response.json()["id"], "tenant": tenant_id, "assignee": assignee, "sent": sent, "at": answered}
            )

        tasks = []
        start = time.time()
        for n in range(int(rate * duration)):
            await asyncio.sleep(max(0.0, start + n / rate - time.time()))
            tasks.append(asyncio.create_task(one(data["tenants"][n % 2]["id"])))
        await asyncio.gather(*tasks)
    return published


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _report(subs, published, results) -> dict:
    received, failed = {}, set()
    for result in results:
        received.update(result["received"])
        failed.update(result["failed"])
    subs = [sub for sub in subs if sub["n"] not in failed]  # never connected: counted as connect errors
    by_lead = {p["lead"]: p for p in published}
    latencies, latencies_from_sent, lost, duplicated, expected_total = [], [], 0, 0, 0
    for sub in subs:
        expected = {
            p["lead"]
            for p in published
            if p["tenant"] == sub["tenant"] and (sub["supervisor"] or p["assignee"] == sub["user"])
        }
        expected_total += len(expected)
        got = [lead for lead, _ in received.get(sub["n"], [])]
        lost += len(expected - set(got))
        duplicated += len(got) - len(set(got))
        for lead, arrived in received.get(sub["n"], []):
            if lead in by_lead:
                latencies.append((arrived - by_lead[lead]["at"]) * 1000)
                latencies_from_sent.append((arrived - by_lead[lead]["sent"]) * 1000)
    return {
        "deliveries_expected": expected_total,
        "deliveries": len(latencies),
        "lost": lost,
        "duplicated": duplicated,
        "latency_ms_from_response": {
            "p50": round(_percentile(latencies, 0.5), 1),
            "p99": round(_percentile(latencies, 0.99), 1),
            "max": round(max(latencies, default=float("nan")), 1),
        },
        "latency_ms_from_request_start": {
            "p50": round(_percentile(latencies_from_sent, 0.5), 1),
            "p99": round(_percentile(latencies_from_sent, 0.99), 1),
        },
        "publish_response_ms_p50": round(statistics.median([(p["at"] - p["sent"]) * 1000 for p in published]), 1)
        if published
        else None,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="lead events published per second")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis-url", default="", help="needed with 2+ workers")
    parser.add_argument("--pushpin", action="store_true", help="subscribers connect through a private Pushpin")
    parser.add_argument("--clients", type=int, default=0, help="client processes (default: 1 per 1,000 streams)")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/crm_sse_bench")
    parser.add_argument("--drain-timeout", type=float, default=180.0, help="max wait for late deliveries (s)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.workers > 1 and not args.redis_url and not args.pushpin:
        parser.error("two or more workers need --redis-url (or --pushpin)")
    _raise_open_files()

    _ensure_database(args.db_url)
    _setup_django(args.db_url)
    data = _seed()
    subs = _subscriptions(data, args.subscribers)

    from crm.tests.live import PushpinProcess, ServerProcess

    app_name = f"sse-bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PGAPPNAME": app_name,
        "THROTTLE_USER_RATE": "",
        "THROTTLE_TENANT_RATE": "",
        # The per-user and per-tenant stream caps would refuse most of the bench's subscribers (429).
        "EVENTS_MAX_STREAMS_PER_USER": str(args.subscribers),
        "EVENTS_MAX_STREAMS_PER_TENANT": str(args.subscribers),
        "EVENTS_REDIS_CHANNEL_PREFIX": app_name,
    }
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    pushpin = None
    if args.pushpin:
        pushpin = PushpinProcess(Path(tempfile.mkdtemp(prefix="sse-bench-pushpin-")))
        env["GRIP_URL"] = pushpin.grip_url
    log_path = Path(tempfile.mkdtemp(prefix="sse-bench-")) / "server.log"
    print(f"server log: {log_path}", flush=True)
    server = ServerProcess(env, workers=args.workers, log_path=str(log_path))
    if pushpin:
        pushpin.start(server.port)
        pushpin.wait_until_holding("/api/events/stream", {"Authorization": f"Bearer {subs[0]['token']}"})
    stream_port = pushpin.http_port if pushpin else server.port
    clients = args.clients or max(1, min(4, args.subscribers // 1000))
    concurrency = 100
    print(
        f"subscribers={args.subscribers} workers={args.workers} redis={'yes' if args.redis_url else 'no'} "
        f"pushpin={'yes' if pushpin else 'no'} rate={args.rate}/s duration={args.duration}s clients={clients}",
        flush=True,
    )
    context = multiprocessing.get_context("spawn")
    ready, results_queue, stop = context.Queue(), context.Queue(), context.Event()
    counters = [context.Value("q", 0, lock=False) for _ in range(clients)]
    processes = [
        context.Process(
            target=_client_process,
            args=("127.0.0.1", stream_port, subs[n::clients], ready, stop, results_queue, concurrency, counters[n]),
            daemon=True,  # killed with the bench if it fails half-way
        )
        for n in range(clients)
    ]
    try:
        idle_before = _snapshot(server, app_name)
        for process in processes:
            process.start()
        ready_reports = [ready.get(timeout=600) for _ in processes]
        time.sleep(2)
        idle = _snapshot(server, app_name)
        publish_failures: list = []
        published = asyncio.run(_publish(server.url, data, args.rate, args.duration, publish_failures))
        loaded = _snapshot(server, app_name)
        # Wait until deliveries stop arriving (an overloaded server delivers late, which is not a loss).
        drain_started, last_total, last_change = time.time(), -1, time.time()
        while time.time() - last_change < 5 and time.time() - drain_started < args.drain_timeout:
            total = sum(counter.value for counter in counters)
            if total != last_total:
                last_total, last_change = total, time.time()
            time.sleep(0.5)
        drain_seconds = round(time.time() - drain_started - 5, 1)
        drained = _snapshot(server, app_name)
        stop.set()
        results = [results_queue.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(30)
    finally:
        stop.set()
        if pushpin:
            pushpin.stop()
        server.stop()

    figures = {
        "subscribers": args.subscribers,
        "workers": args.workers,
        "redis": bool(args.redis_url),
        "pushpin": bool(pushpin),
        "rate_per_s": args.rate,
        "published": len(published),
        "publish_failures": len(publish_failures),
        "publish_failures_sample": publish_failures[:3],
        "connect_seconds": round(max(r["connect_seconds"] for r in ready_reports), 1),
        "connect_errors": sum(len(r["failed"]) for r in results),
        "drain_seconds_after_publishing": drain_seconds,
        "errors_sample": [e for r in results for e in r["errors"]][:5],
        **_report(subs, published, results),
        "server_before_streams": idle_before,
        "server_streams_idle": idle,
        "server_under_load": loaded,
    }
    cpu_used = sum(p["cpu_s"] for p in drained["processes"]) - sum(p["cpu_s"] for p in idle["processes"])
    figures["server_cpu_seconds_while_publishing"] = round(cpu_used, 1)
    figures["server_cpu_ms_per_delivery"] = round(cpu_used * 1000 / max(figures["deliveries"], 1), 3)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
