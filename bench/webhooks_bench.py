"""Webhook delivery: `--rate` lead events per second for `--duration` s to `--subscribers` subscriptions.

    .venv/bin/python bench/webhooks_bench.py --rate 100 --subscribers 10 --duration 20 --workers 2 --threads 8

PostgreSQL at `--db-url` (default `postgres://postgres@127.0.0.1:5432/crm_bench_webhooks`; created and migrated
here), Redis at `--redis-url` (the job queue). `--workers` real `manage.py run_worker` processes (`--threads` each)
deliver to a receiver on 127.0.0.1 in this process (a threaded http.server answering 204). The producer commits one
`lead_updated` per event through `events.services.webhook_event_emit` in its own transaction, at a steady rate, and
notes when each commit returned; the positions of a fresh tenant's channel are the commit order, so the k-th commit
is event `evt_<tenant>_k`. Prints deliveries/s, latency from commit to the receiver's arrival (p50, p99, max), and
the duplicates and order violations per subscription (both must be 0).
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/crm_bench_webhooks")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    return parser.parse_args()


class Receiver:
    def __init__(self):
        self.arrivals: dict[str, list[tuple[str, float]]] = {}  # path → [(webhook-id, arrival)]
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                arrived = time.time()
                with receiver.lock:
                    receiver.arrivals.setdefault(self.path, []).append((self.headers["webhook-id"], arrived))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self) -> int:
        with self.lock:
            return sum(len(rows) for rows in self.arrivals.values())


def setup_database(db_url: str) -> None:
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(db_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def main():
    args = parse_args()
    env = {
        **os.environ,
        "DATABASE_URL": args.db_url,
        "REDIS_URL": args.redis_url,
        "WEBHOOKS_ALLOW_PRIVATE_URLS": "1",
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-0123456789abcdef0123456789"),
        "LOG_LEVEL": "WARNING",
        "JOBS_QUEUE_NAME": "webhooks-bench",
    }
    os.environ.update(env)
    setup_database(args.db_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from huey.contrib.djhuey import HUEY

    from crm.tests.factories import TenantFactory
    from events.services import webhook_event_emit
    from events.webhooks import services
    from pipelines.services.leads import lead_create

    call_command("migrate", verbosity=0)
    HUEY.flush()
    receiver = Receiver()
    tenant = TenantFactory(slug=f"webhooks-bench-{uuid.uuid4().hex[:12]}")  # a fresh channel: positions from 1
    lead = lead_create(tenant=tenant, name="Bench lead")
    for number in range(args.subscribers):
        services.subscription_create(tenant=tenant, url=f"{receiver.base}/s{number}", events=["lead_updated"])

    workers = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", "run_worker", "--workers", str(args.threads), "--no-periodic"],
            cwd=ROOT,
            env=env,
        )
        for _ in range(args.workers)
    ]
    time.sleep(3)  # the workers start
    committed: list[float] = []
    total = int(args.rate * args.duration)
    started = time.monotonic()
    for number in range(total):
        time.sleep(max(0.0, started + number / args.rate - time.monotonic()))
        with transaction.atomic():
            webhook_event_emit(event_type="lead_updated", tenant_id=tenant.pk, object_id=lead.pk)
        committed.append(time.time())
    produced_in = time.monotonic() - started
    expected = total * args.subscribers
    deadline = time.monotonic() + args.drain_timeout
    while receiver.count() < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    drained_in = time.monotonic() - started
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(30)

    latencies, duplicates, disorders = [], 0, 0
    for rows in receiver.arrivals.values():
        positions = [int(webhook_id.rsplit("_", 1)[1]) for webhook_id, _ in rows]
        duplicates += len(positions) - len(set(positions))
        disorders += sum(1 for a, b in zip(positions, positions[1:], strict=False) if b <= a)
        latencies += [arrived - committed[position - 1] for (_, arrived), position in zip(rows, positions, strict=True)]
    latencies.sort()
    received = receiver.count()
    print(f"events {total} at {total / produced_in:.0f}/s × {args.subscribers} subscriptions = {expected} deliveries")
    print(f"received {received} in {drained_in:.1f} s → {received / drained_in:.0f} deliveries/s")
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"commit → receiver: p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"max {latencies[-1] * 1000:.0f} ms"
        )
    print(f"duplicates {duplicates}, out of order {disorders}, missing {expected - received + duplicates}")


if __name__ == "__main__":
    main()
