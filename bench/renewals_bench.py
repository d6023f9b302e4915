"""The renewal job (SPEC §13) over one tenant's active policies: time and SQL queries of a run that moves the due
ones, then of the next hourly run, which finds nothing to do.

    .venv/bin/python bench/renewals_bench.py --policies 100000 --due-share 0.1

PostgreSQL at `--db-url` (default `postgres://postgres@127.0.0.1:5432/crm_bench_renewals`; created and migrated
here). A fresh tenant (notice 30 days) gets `--deals` deals and `--policies` active policies spread over them;
`--due-share` of the policies end within the notice days, the rest 31..365 days ahead. Each run is
`deals.services.renewals.tenant_policy_renewals`, exactly what the hourly job and `manage.py policy_renewals` call.
Prints the seconds, the queries (all, and per moved policy), and the plan of the batch query.
"""

import argparse
import datetime
import os
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/crm_bench_renewals")
    parser.add_argument("--policies", type=int, default=100_000)
    parser.add_argument("--deals", type=int, default=2_000)
    parser.add_argument("--due-share", type=float, default=0.1)
    return parser.parse_args()


def setup_database(db_url: str) -> None:
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(db_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def seed(*, policies: int, deals: int, due_share: float):
    """A tenant with deals and active policies; returns the tenant and how many policies are due."""
    from crm.tests.factories import TenantFactory, UserFactory
    from deals.models import Client, Deal, Policy, PolicyStatus

    tenant = TenantFactory(slug=f"renewals-bench-{uuid.uuid4().hex[:12]}", timezone="Europe/Moscow")
    agents = [UserFactory(tenant=tenant, role="manager", username=f"{tenant.slug}-m{n}") for n in range(10)]
    client = Client.objects.create(tenant=tenant, type="company", full_name="ООО Бенчмарк", status="active")
    deal_rows = Deal.objects.bulk_create(
        [
            Deal(tenant=tenant, client=client, title=f"Сделка {n}", sales_agent=agents[n % len(agents)])
            for n in range(deals)
        ],
        batch_size=2_000,
    )
    today = datetime.datetime.now(tenant.tzinfo).date()
    due = int(policies * due_share)
    rows = []
    for n in range(policies):
        ends = today + datetime.timedelta(days=n % 31 if n < due else 31 + n % 335)
        rows.append(
            Policy(
                tenant=tenant,
                deal=deal_rows[n % deals],
                policy_number=f"BENCH-{n:07d}",
                insurer="Ингосстрах",
                effective_from=ends - datetime.timedelta(days=365),
                effective_to=ends,
                premium_amount=Decimal("10000.00"),
                status=PolicyStatus.ACTIVE,
            )
        )
        if len(rows) == 5_000:
            Policy.objects.bulk_create(rows)
            rows = []
    Policy.objects.bulk_create(rows)
    return tenant, due


def timed_run(tenant) -> tuple[int, float, int]:
    from django.db import connection

    from deals.services.renewals import tenant_policy_renewals

    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        started = time.perf_counter()
        moved = tenant_policy_renewals(tenant)
        elapsed = time.perf_counter() - started
    return moved, elapsed, statements


def batch_plan(tenant) -> str:
    from django.db import connection, transaction

    from deals.models import Policy, PolicyStatus
    from deals.services.renewals import BATCH_SIZE, renewal_horizon

    query = (
        Policy.objects.for_tenant(tenant)
        .filter(status=PolicyStatus.ACTIVE, effective_to__lte=renewal_horizon(tenant))
        .select_related("deal")
        .select_for_update(of=("self",), skip_locked=True)
        .order_by("effective_to", "id")[:BATCH_SIZE]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(f"    {row[0]}" for row in cursor.fetchall())


def main():
    args = parse_args()
    os.environ.update(
        {
            "DATABASE_URL": args.db_url,
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-0123456789abcdef0123456789"),
            "LOG_LEVEL": "WARNING",
        }
    )
    setup_database(args.db_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from deals.models import DealTask, JournalEntry

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    tenant, due = seed(policies=args.policies, deals=args.deals, due_share=args.due_share)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seeded_in = time.perf_counter() - started
    print(f"seeded {args.policies} active policies ({due} due) on {args.deals} deals in {seeded_in:.0f} s")
    print("batch query plan:\n" + batch_plan(tenant))

    moved, elapsed, queries = timed_run(tenant)
    per_policy = f"{elapsed / moved * 1000:.2f} ms and {queries / moved:.1f} queries per policy" if moved else ""
    print(f"first run: moved {moved} in {elapsed:.1f} s, {queries} queries; {per_policy}")
    tasks = DealTask.objects.for_tenant(tenant).count()
    entries = JournalEntry.objects.for_tenant(tenant).count()
    print(f"  tasks created {tasks}, journal entries {entries}")

    moved, elapsed, queries = timed_run(tenant)
    print(f"next run (nothing due): moved {moved} in {elapsed * 1000:.1f} ms, {queries} queries")


if __name__ == "__main__":
    main()
