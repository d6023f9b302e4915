"""Load: a sales team's mixed traffic (locust) plus 1,000 open SSE subscribers against `crm.serve --workers N`.

    .venv/bin/pip install -r requirements-bench.txt            # locust
    .venv/bin/python bench/load_run.py                          # 2 workers, 40 team users + 1,000 streams, 60 s
    .venv/bin/python bench/load_run.py --workers 1 --users 80 --think 0.2 --duration 90 --json out.json
    .venv/bin/python bench/load_run.py --reseed                 # drop and rebuild the bench database

PostgreSQL at `--db-url` (default `postgres://postgres@127.0.0.1:5432/crm_bench_load`: created, migrated and seeded
by `bench/leads_data.py` with one tenant of `--leads` leads, 10 managers, history and tasks; deals, policies and
payments for every manager come from the deals services). Redis at `--redis-url` (events across workers; the
channel prefix `crmload` keeps them apart from other users of that Redis). Rate limits are raised for the run.

The traffic, all on 127.0.0.1 and bounded by `--duration`:
- `bench/load_sse.py`: `--subscribers` streams (a fifth supervisors on the tenant channel, the rest managers on
  their own), held open for the whole run; twice a second it posts a site-webhook lead and times its `lead_created`
  on every supervisor stream from the webhook's response (negative: the event beat the HTTP response).
- `bench/load_locustfile.py` (locust headless): managers read the lead table, move their leads, create tasks, read
  their deals and payments and plan payments; supervisors read the tables and lists; site and Chatflow webhooks
  bring new leads. Each user waits `--think` s (±50 %) between requests.
Prints requests/s and p50/p95/p99 per endpoint (locust), errors (must be 0), SSE delivery latency p50/p99, events
lost (must be 0), and the CPU other processes used meanwhile (the box is shared).
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402 - a sibling script
import leads_data  # noqa: E402 - a sibling script

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_load"
DEALS_PER_MANAGER = 20
LEADS_PER_MANAGER_IN_PLAN = 300


def seed(db_url: str, *, leads: int, reseed: bool) -> None:
    harness.database_ensure(db_url, reseed=reseed)
    leads_data.django_setup(db_url)
    from django.core.management import call_command

    from crm.models import Tenant

    call_command("migrate", verbosity=0)
    # A previous run's webhooks added leads: leads_data would take that for foreign data, so seed only once.
    if not Tenant.objects.filter(slug=f"{leads_data.SLUG_PREFIX}1").exists():
        leads_data.seed(tenants=1, leads=leads)
    _deals_seed()


def _deals_seed() -> None:
    """Clients and deals for every manager, each with notes, a task, an active policy and two payments (once)."""
    from crm.models import Role, Tenant, User
    from deals.models import Deal
    from deals.services import (
        client_create,
        deal_create,
        deal_task_create,
        journal_entry_create,
        payment_create,
        policy_create,
    )

    tenant = Tenant.objects.get(slug=f"{leads_data.SLUG_PREFIX}1")
    if Deal.objects.filter(tenant=tenant).exists():
        return
    owner = User.objects.get(tenant=tenant, role=Role.OWNER)
    for manager in User.objects.filter(tenant=tenant, role=Role.MANAGER).order_by("id"):
        for n in range(DEALS_PER_MANAGER):
            client = client_create(
                tenant=tenant, type="company", status="active", full_name=f"ООО Нагрузка {manager.pk}-{n}"
            )
            deal = deal_create(
                tenant=tenant, acting_user=owner, client_id=client.pk, title=f"КАСКО {n}", sales_agent=manager
            )
            policy = policy_create(
                deal=deal,
                policy_number=f"LOAD-{manager.pk}-{n}",
                insurer="Ингосстрах",
                effective_from=date(2025, 1, 1),
                effective_to=date(2025, 12, 31),
                premium_amount=Decimal("12000.00"),
                status="active",
            )
            for note in range(3):
                journal_entry_create(deal=deal, acting_user=manager, text=f"Звонок клиенту №{note}")
            deal_task_create(
                tenant=tenant,
                acting_user=owner,
                subject="Подготовить договор",
                description="Проверить реквизиты",
                assignee=manager,
                deal_id=deal.pk,
            )
            for _ in range(2):
                payment_create(
                    tenant=tenant,
                    acting_user=owner,
                    deal_id=deal.pk,
                    policy_id=policy.pk,
                    payment_type="client_premium",
                    amount=Decimal("6000.00"),
                )


def plan() -> dict:
    """Who the virtual users are and what they may touch: tokens, their leads, deals and policies."""
    from crm.models import Role, Tenant, User
    from crm.tokens import issue_token_pair
    from deals.models import Policy
    from pipelines.models import Lead, Pipeline

    tenant = Tenant.objects.get(slug=f"{leads_data.SLUG_PREFIX}1")
    main = Pipeline.objects.get(tenant=tenant, is_default=True)
    users = list(User.objects.filter(tenant=tenant).order_by("id"))
    managers = []
    for user in users:
        if user.role != Role.MANAGER:
            continue
        leads = list(
            Lead.objects.filter(tenant=tenant, assigned_to=user, pipeline=main)
            .order_by("-id")
            .values_list("id", flat=True)[:LEADS_PER_MANAGER_IN_PLAN]
        )
        policies = list(Policy.objects.filter(tenant=tenant, deal__sales_agent=user).values_list("deal_id", "id")[:50])
        managers.append(
            {
                "id": user.pk,
                "token": issue_token_pair(user)["access"],
                "leads": leads,
                "policies": [[str(deal_id), str(policy_id)] for deal_id, policy_id in policies],
            }
        )
    supervisors = [issue_token_pair(user)["access"] for user in users if user.role != Role.MANAGER]
    return {
        "tenant_id": tenant.pk,
        "webhook_key": tenant.webhook_key,
        "stages": list(main.stages.filter(is_closed=False).order_by("order_index").values_list("id", flat=True)),
        "managers": managers,
        "supervisors": supervisors,
    }


def cpu_ticks() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    return sum(fields), fields[3] + fields[4]


def tree_ticks(pids: set[int]) -> int:
    """CPU ticks of the given processes and all their descendants (the server, its workers, the load tools)."""
    total, seen = 0, set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid, ppid = int(entry.name), int(fields[1])
        seen.add((pid, ppid, int(fields[11]) + int(fields[12])))
    family = set(pids)
    changed = True
    while changed:
        changed = False
        for pid, ppid, _ in seen:
            if ppid in family and pid not in family:
                family.add(pid)
                changed = True
    for pid, _, ticks in seen:
        if pid in family:
            total += ticks
    return total


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_healthy(base_url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not come up")


def locust_table(csv_prefix: Path) -> list[dict]:
    import csv

    with open(f"{csv_prefix}_stats.csv") as stats:
        return [
            {
                "name": row["Name"],
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]),
                "p50": float(row["50%"]),
                "p95": float(row["95%"]),
                "p99": float(row["99%"]),
            }
            for row in csv.DictReader(stats)
        ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=40, help="locust users (managers, supervisors, webhooks)")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between a user's requests")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=60, help="seconds of measured load")
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)

    seed(args.db_url, leads=args.leads, reseed=args.reseed)
    work = Path(tempfile.mkdtemp(prefix="crm-load-"))
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(plan()))
    print(f"Logs and CSVs in {work}")

    port = random.randint(20000, 40000)
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **leads_data.ENV,
        "DATABASE_URL": args.db_url,
        "REDIS_URL": args.redis_url,
        "EVENTS_REDIS_CHANNEL_PREFIX": "crmload",
        "THROTTLE_USER_RATE": "1000000/s",
        "THROTTLE_TENANT_RATE": "1000000/s",
        "THROTTLE_WEBHOOK_RATE": "1000000/s",
        "DB_POOL_MAX_SIZE": "16",
        "LOAD_PLAN": str(plan_path),
    }
    server = start(
        [sys.executable, "-m", "crm.serve", "--port", str(port), "--workers", str(args.workers)],
        env,
        work / "server.log",
    )
    processes = [server]
    try:
        wait_healthy(base_url)
        sse_out = work / "sse.json"
        sse = start(
            [
                sys.executable,
                str(BENCH / "load_sse.py"),
                "--base-url",
                base_url,
                "--subscribers",
                str(args.subscribers),
                "--duration",
                str(args.duration),
                "--out",
                str(sse_out),
                "--ready",
                str(work / "sse.ready"),
            ],
            env,
            work / "sse.log",
        )
        processes.append(sse)
        deadline = time.monotonic() + 180
        while not (work / "sse.ready").exists():
            if sse.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the SSE subscribers did not connect; see {work / 'sse.log'}")
            time.sleep(0.5)
        total0, idle0 = cpu_ticks()
        ours0 = tree_ticks({os.getpid()})
        locust = start(
            [
                str(Path(sys.executable).with_name("locust")),
                "-f",
                str(BENCH / "load_locustfile.py"),
                "--headless",
                "--host",
                base_url,
                "--users",
                str(args.users),
                "--spawn-rate",
                str(max(1, args.users // 5)),
                "--run-time",
                f"{args.duration}s",
                "--csv",
                str(work / "locust"),
                "--only-summary",
                "--stop-timeout",
                "10",
            ],
            {**env, "LOAD_THINK": str(args.think)},
            work / "locust.log",
        )
        processes.append(locust)
        locust.wait(timeout=args.duration + 120)
        sse.wait(timeout=120)
        total1, idle1 = cpu_ticks()
        ours1 = tree_ticks({os.getpid()})
        busy = (total1 - total0) - (idle1 - idle0)
        other_cpu = max(0.0, (busy - (ours1 - ours0)) / max(1, total1 - total0) * 100)
        report(args, locust_table(work / "locust"), json.loads(sse_out.read_text()), other_cpu)
    finally:
        for process in reversed(processes):
            stop(process)


def report(args, rows: list[dict], sse: dict, other_cpu: float) -> None:
    print(
        f"\nLoad: {args.workers} workers, {args.users} locust users (think {args.think} s), "
        f"{sse['connected']} SSE subscribers, {args.duration} s; other CPU {other_cpu:.0f} %"
    )
    print(f"{'endpoint':<44} {'requests':>8} {'fail':>5} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    for row in rows:
        print(
            f"{row['name'][:44]:<44} {row['requests']:>8} {row['failures']:>5} {row['rps']:>7.1f} "
            f"{row['p50']:>7.0f} {row['p95']:>7.0f} {row['p99']:>7.0f}"
        )
    print(
        f"SSE: {sse['connected']} connected in {sse['connect_seconds']:.1f} s; {sse['probes']} probes × "
        f"{sse['supervisor_streams']} supervisor streams; delivery p50 {sse['p50_ms']:.0f} ms, "
        f"p99 {sse['p99_ms']:.0f} ms, max {sse['max_ms']:.0f} ms; lost {sse['lost']}, duplicated "
        f"{sse['duplicated']}; probe webhook errors {sse['probe_errors']}; streams dropped {sse['dropped']}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"args": vars(args), "endpoints": rows, "sse": sse, "other_cpu": other_cpu}, indent=2)
        )


if __name__ == "__main__":
    main()
