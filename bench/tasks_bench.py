"""Latency and query count of the task lists with 100,000 tasks in one tenant, through the real server.

    .venv/bin/python bench/tasks_bench.py                  # seed once (about a minute), then measure
    .venv/bin/python bench/tasks_bench.py --requests 500   # more samples per endpoint
    .venv/bin/python bench/tasks_bench.py --reseed         # drop and rebuild the data

PostgreSQL at `--db-url` (default `postgres://postgres@127.0.0.1:5432/crm_bench_tasks`; created, migrated and seeded
by the script). The tenant (Europe/Moscow) has 100,000 tasks on 5,000 leads of 10 managers: due times spread over
30 days back and forward (10 % undated), 70 % open, 20 % done, 10 % cancelled. A second tenant holds 20,000 more,
so the tenant filter has something to skip. `python -m crm.serve` (1 worker, DEBUG=0, the psycopg pool, rate limits
raised) serves the requests; one keep-alive client sends them one after another (no queueing in the figures).
The query count is taken in-process with the same code and data (Django's test client and CaptureQueriesContext).
"""

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SLUG = "bench-tasks"
NOISE_SLUG = "bench-tasks-noise"
PASSWORD = "Kx9-quiet-Harbor-71"
TASKS = 100_000
NOISE_TASKS = 20_000
LEADS = 5_000
MANAGERS = 10
SERVER_ENV = {
    "DJANGO_SETTINGS_MODULE": "crm.settings",
    "DEBUG": "0",
    "SECRET_KEY": "bench-tasks-not-a-secret-0123456789abcdef0123",
    "ALLOWED_HOSTS": "127.0.0.1",
    "THROTTLE_USER_RATE": "100000/s",
    "THROTTLE_TENANT_RATE": "100000/s",
    "LOG_LEVEL": "WARNING",
    "ACCESS_TOKEN_MINUTES": "1440",
}
# (label, who, path); the first row is the framework's floor for an authenticated request (one user query).
ENDPOINTS = [
    ("baseline: /api/auth/me", "owner", "/api/auth/me"),
    ("open & due today (owner)", "owner", "/api/tasks?status=open&due=today"),
    ("open & due today (manager)", "manager", "/api/tasks?status=open&due=today"),
    ("overdue (owner)", "owner", "/api/tasks?due=overdue"),
    ("week, limit 200 (owner)", "owner", "/api/tasks?status=open&due=week&limit=200"),
    ("all, default page (owner)", "owner", "/api/tasks"),
    ("one lead's tasks (owner)", "owner", "/api/leads/{lead_id}/tasks"),
]


def _django_setup(db_url: str) -> None:
    os.environ.update(SERVER_ENV, DATABASE_URL=db_url)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _tenant_seed(*, slug: str, task_count: int, rng: random.Random):
    """A tenant with its owner, managers, leads and tasks, written in bulk (bench data, not behaviour)."""
    from django.utils import timezone

    from crm.models import Role
    from crm.services import tenant_create, user_create
    from pipelines.models import Lead, Pipeline
    from tasks.models import LeadTask, TaskStatus, TaskType

    tenant = tenant_create(name=slug, slug=slug, timezone="Europe/Moscow")
    owner = user_create(tenant=tenant, username=f"{slug}-owner", password=PASSWORD, role=Role.OWNER)
    managers = [
        user_create(tenant=tenant, username=f"{slug}-m{i}", password=PASSWORD, role=Role.MANAGER)
        for i in range(MANAGERS)
    ]
    pipeline = Pipeline.objects.get(tenant=tenant, is_default=True)
    stage = pipeline.stages.order_by("order_index").first()
    now = timezone.now()
    leads = Lead.objects.bulk_create(
        Lead(
            tenant=tenant,
            name=f"Лид {i}",
            phone=f"+7916{i:07d}",
            pipeline=pipeline,
            stage=stage,
            moved_to_stage_at=now,
            assigned_to=managers[i % MANAGERS],
        )
        for i in range(LEADS)
    )
    types = list(TaskType.values)
    batch = []
    for i in range(task_count):
        lead = leads[i % LEADS]
        due_at = None if rng.random() < 0.1 else now + timedelta(seconds=rng.uniform(-30, 30) * 86_400)
        roll = rng.random()
        status = TaskStatus.OPEN if roll < 0.7 else TaskStatus.DONE if roll < 0.9 else TaskStatus.CANCELLED
        batch.append(
            LeadTask(
                tenant=tenant,
                lead=lead,
                type=rng.choice(types),
                status=status,
                due_at=due_at,
                note=f"Задача {i}",
                assigned_to=lead.assigned_to,
                created_by=owner,
                completed_at=now if status == TaskStatus.DONE else None,
            )
        )
        if len(batch) == 5_000:
            LeadTask.objects.bulk_create(batch)
            batch = []
    LeadTask.objects.bulk_create(batch)
    return tenant


def _seed() -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from crm.models import Tenant
    from tasks.models import LeadTask

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.filter(slug=SLUG).first()
    if tenant is not None and LeadTask.objects.filter(tenant=tenant).count() == TASKS:
        print(f"Data present: {TASKS:,} tasks in tenant {SLUG}.")
        return
    started = time.monotonic()
    rng = random.Random(2025)
    with transaction.atomic():
        _tenant_seed(slug=SLUG, task_count=TASKS, rng=rng)
        _tenant_seed(slug=NOISE_SLUG, task_count=NOISE_TASKS, rng=rng)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"Seeded {TASKS:,} + {NOISE_TASKS:,} tasks in {time.monotonic() - started:.0f} s.")


def _measure(conn: http.client.HTTPConnection, path: str, token: str, *, warmup: int, requests: int):
    headers = {"Authorization": f"Bearer {token}"}
    timings = []
    for index in range(warmup + requests):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"{path}: {response.status} {body[:300]!r}")
        if index >= warmup:
            timings.append(elapsed * 1000)
    payload = json.loads(body)
    total, rows = payload.get("total", "-"), len(payload.get("tasks", []))
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
    return statistics.median(timings), p95, total, rows


def _query_count(username: str, path: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from crm.models import User
    from crm.tokens import issue_token_pair

    token = issue_token_pair(User.objects.get(username=username))["access"]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    client.get(path)  # warm caches (content types, the tenant's timezone) as a running server has them
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(queries)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/crm_bench_tasks")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per endpoint")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--reseed", action="store_true", help="drop the database and seed again")
    args = parser.parse_args(argv)

    harness.database_ensure(args.db_url, reseed=args.reseed)
    _django_setup(args.db_url)
    _seed()

    from pipelines.models import Lead

    lead_id = Lead.objects.filter(tenant__slug=SLUG).order_by("id").values_list("id", flat=True).first()
    users = {"owner": f"{SLUG}-owner", "manager": f"{SLUG}-m0"}
    port = harness.free_port()
    log_path = Path("/tmp") / f"tasks_bench_server_{port}.log"
    env = {**os.environ, **SERVER_ENV, "DATABASE_URL": args.db_url}
    env.pop("REDIS_URL", None)
    server = harness.server_start(env, port=port, workers=1, log_path=log_path, timeout=30)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        tokens = {who: harness.token(port, username, PASSWORD) for who, username in users.items()}
        print(f"\n{'endpoint':<30} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'rows':>5} {'total':>7}")
        for label, who, path in ENDPOINTS:
            path = path.format(lead_id=lead_id)
            median, p95, total, rows = _measure(conn, path, tokens[who], warmup=args.warmup, requests=args.requests)
            queries = _query_count(users[who], path)
            print(f"{label:<30} {median:>10.2f} {p95:>8.2f} {queries:>8} {rows:>5} {total:>7}")
    finally:
        harness.server_stop(server)
    print(f"\n{args.requests} sequential requests per endpoint after {args.warmup} warm-up ones; server log {log_path}")


if __name__ == "__main__":
    main()
