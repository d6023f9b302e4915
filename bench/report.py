"""Every list endpoint against its floor, in one process: median latency, the ratio, and SQL queries per request.

    .venv/bin/python bench/report.py                      # on the load bench database (bench/load_run.py seeds it)
    .venv/bin/python bench/report.py --requests 100 --db-url postgres://postgres@127.0.0.1:5432/crm_bench_load

For each list the full Django stack is called in-process (Django's test client: middleware, JWT auth, throttles,
tenancy, filters, serializers, pagination with its count) and compared with its floor, measured in the same run and
the same process, interleaved request by request: one hand-written SQL query for the same page of rows and columns
(no count), rows turned into dicts and dumped with orjson. No HTTP server is involved on either side, so the ratio is
the framework's own cost; bench/leads_bench.py and bench/deals_bench.py give the same ratio through the server.
The query count is taken at two page sizes (it must not grow with the page). Caller: the tenant's owner.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import leads_data  # noqa: E402 - a sibling script

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_load"

LEADS = """SELECT id, tenant_id, name, phone, email, source, external_id, comment, pipeline_id, stage_id,
       moved_to_stage_at, assigned_to_id, created_at, updated_at
FROM pipelines_lead WHERE tenant_id = %(tenant)s ORDER BY created_at DESC, id DESC LIMIT %(limit)s"""
TABLE = """SELECT l.id, l.name, l.phone, l.email, l.source, l.pipeline_id, p.name AS pipeline_name, l.stage_id,
       s.name AS stage_name, s.color AS stage_color, l.assigned_to_id AS assigned_to_user_id,
       COALESCE(NULLIF(u.full_name, ''), u.username) AS assigned_to_name,
       (SELECT count(*) FROM tasks_leadtask t WHERE t.lead_id = l.id AND t.status = 'open') AS open_tasks_count,
       (SELECT min(t.due_at) FROM tasks_leadtask t WHERE t.lead_id = l.id AND t.status = 'open') AS next_task_due_at,
       l.moved_to_stage_at, l.created_at, l.updated_at
FROM pipelines_lead l JOIN pipelines_pipeline p ON p.id = l.pipeline_id JOIN pipelines_stage s ON s.id = l.stage_id
LEFT JOIN crm_user u ON u.id = l.assigned_to_id
WHERE l.tenant_id = %(tenant)s ORDER BY l.created_at DESC, l.id DESC LIMIT %(limit)s"""
HISTORY = """SELECT id, kind, from_stage_id, to_stage_id, user_id, text, created_at FROM pipelines_leadhistory
WHERE lead_id = %(lead)s ORDER BY created_at DESC, id DESC LIMIT %(limit)s"""
TASKS = """SELECT id, lead_id, type, status, due_at, note, assigned_to_id, created_by_id, completed_at, created_at,
       updated_at
FROM tasks_leadtask WHERE tenant_id = %(tenant)s ORDER BY due_at ASC NULLS LAST, id LIMIT %(limit)s"""
USERS = """SELECT id, uuid, username, email, full_name, role, is_active, tenant_id, date_joined AS created_at
FROM crm_user WHERE tenant_id = %(tenant)s ORDER BY date_joined DESC, id DESC LIMIT %(limit)s"""
PIPELINES = """SELECT p.id, p.tenant_id, p.name, p.is_default, p.created_at, p.updated_at,
       (SELECT json_agg(json_build_object('id', s.id, 'pipeline_id', s.pipeline_id, 'name', s.name,
                'order_index', s.order_index, 'color', s.color, 'is_closed', s.is_closed)
                ORDER BY s.order_index, s.id)
        FROM pipelines_stage s WHERE s.pipeline_id = p.id) AS stages
FROM pipelines_pipeline p WHERE p.tenant_id = %(tenant)s ORDER BY p.is_default DESC, p.id LIMIT %(limit)s"""
CLIENTS = """SELECT id, type, full_name, short_name, tax_number, registration_number, segment, status, contacts,
       notes, created_at, updated_at
FROM deals_client WHERE tenant_id = %(tenant)s ORDER BY created_at DESC, id DESC LIMIT %(limit)s"""
DEALS = """SELECT d.id, d.client_id, c.full_name AS client_name, d.title, d.description, d.status, d.sales_agent_id,
       d.executor_id, d.expected_close_date, d.tags, d.folder_id, d.created_at, d.updated_at
FROM deals_deal d JOIN deals_client c ON c.id = d.client_id
WHERE d.tenant_id = %(tenant)s ORDER BY d.created_at DESC, d.id DESC LIMIT %(limit)s"""
PAYMENTS = """SELECT id, deal_id, policy_id, payment_type, status, planned_date, amount, currency, external_ref, notes,
       created_at, updated_at
FROM deals_payment WHERE tenant_id = %(tenant)s ORDER BY created_at DESC, id DESC LIMIT %(limit)s"""
V1_TASKS = """SELECT id, subject, description, deal_id, policy_id, payment_id, assignee_id, created_by_id, due_date,
       priority, status, started_at, completed_at, created_at
FROM deals_dealtask WHERE tenant_id = %(tenant)s ORDER BY due_date ASC NULLS LAST, id LIMIT %(limit)s"""
JOURNAL = """SELECT id, deal_id, author_id, kind, text, attachments, created_at FROM deals_journalentry
WHERE deal_id = %(deal)s ORDER BY created_at DESC, id DESC LIMIT %(limit)s"""

# (path with {limit} and ids, floor SQL, the page size the product uses by default)
ENDPOINTS = [
    ("/api/leads?limit={limit}", LEADS, 50),
    ("/api/v2/leads/table?limit={limit}", TABLE, 50),
    ("/api/leads/{lead}/history?limit={limit}", HISTORY, 50),
    ("/api/tasks?limit={limit}", TASKS, 50),
    ("/api/users?limit={limit}", USERS, 50),
    ("/api/pipelines", PIPELINES, 50),
    ("/api/v1/clients?limit={limit}", CLIENTS, 25),
    ("/api/v1/deals?limit={limit}", DEALS, 25),
    ("/api/v1/deals/{deal}/journal?limit={limit}", JOURNAL, 25),
    ("/api/v1/payments?limit={limit}", PAYMENTS, 25),
    ("/api/v1/tasks?limit={limit}", V1_TASKS, 25),
]


def floor(cursor, sql: str, params: dict) -> int:
    """One query, rows as dicts, orjson: what no framework can beat. Returns the row count."""
    import orjson

    cursor.execute(sql, params)
    names = [column.name for column in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    orjson.dumps(rows, default=str)
    return len(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args(argv)
    leads_data.django_setup(
        args.db_url,
        {
            "ALLOWED_HOSTS": "testserver",
            "THROTTLE_USER_RATE": "1000000/s",
            "THROTTLE_TENANT_RATE": "1000000/s",
            "DB_POOL_MAX_SIZE": "0",
        },
    )
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from crm.models import Role, Tenant, User
    from crm.tokens import issue_token_pair
    from deals.models import Deal
    from pipelines.models import Lead

    tenant = Tenant.objects.get(slug=f"{leads_data.SLUG_PREFIX}1")
    owner = User.objects.get(tenant=tenant, role=Role.OWNER)
    ids = {
        "tenant": tenant.pk,
        "lead": Lead.objects.filter(tenant=tenant, history__kind="stage_changed").values_list("id", flat=True).first(),
        "deal": str(Deal.objects.filter(tenant=tenant).values_list("id", flat=True).first()),
    }
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issue_token_pair(owner)['access']}")

    print(f"{args.requests} requests per endpoint, interleaved with the floor; tenant {tenant.slug}")
    print("| endpoint | rows | median ms | p95 ms | floor median ms | × floor | queries (page / 200) |")
    print("|---|---|---|---|---|---|---|")
    with connection.cursor() as cursor:
        for template, sql, page in ENDPOINTS:
            path = template.format(limit=page, **ids)
            params = {**ids, "limit": page}
            counts = []
            for size in (page, 200):
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(template.format(limit=size, **ids))
                assert response.status_code == 200, (path, response.content[:300])
                counts.append(len(queries))
            for _ in range(5):
                client.get(path)
                floor(cursor, sql, params)
            product, base = [], []
            for _ in range(args.requests):
                started = time.perf_counter()
                client.get(path)
                product.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                rows = floor(cursor, sql, params)
                base.append((time.perf_counter() - started) * 1000)
            p95 = statistics.quantiles(product, n=20)[-1]
            print(
                f"| `GET {path}` | {rows} | {statistics.median(product):.1f} | {p95:.1f} | "
                f"{statistics.median(base):.2f} | {statistics.median(product) / statistics.median(base):.1f} | "
                f"{counts[0]} / {counts[1]} |"
            )


if __name__ == "__main__":
    main()
