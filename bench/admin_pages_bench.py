"""Back-office page loads: server time and SQL queries of the dashboard, the board and the big changelists.

    .venv/bin/python bench/admin_pages_bench.py               # seeds 1 tenant × 100,000 leads once, then measures
    .venv/bin/python bench/admin_pages_bench.py --requests 30

Each page is rendered in-process by Django's test client (middleware, session auth, the admin, templates: the whole
server side, no HTTP server and no browser), as the tenant's owner and as a manager, after two warm-up loads. The
floor, measured in the same run: one hand-written SQL statement for the changelist's first 100 rows. The data is
`bench/leads_data.py`'s (`crm_bench_admin` unless `--db-url`): the main pipeline holds ~90,000 leads, the second
~10,000, with history and tasks.
"""

import argparse
import statistics
import time

import harness  # sibling scripts: bench/ is on the path
import leads_data

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_admin"
DASHBOARD = "/admin/dashboard/"
FLOOR_SQL = """
SELECT l.id, l.name, l.phone, l.email, l.source, s.name, u.full_name, l.created_at
FROM pipelines_lead l JOIN pipelines_stage s ON s.id = l.stage_id LEFT JOIN crm_user u ON u.id = l.assigned_to_id
WHERE l.tenant_id = %s ORDER BY l.created_at DESC, l.id DESC LIMIT 100
"""


def _pages(tenant) -> list[tuple[str, str]]:
    from pipelines.models import Pipeline

    main = Pipeline.objects.get(tenant=tenant, is_default=True)
    second = Pipeline.objects.get(tenant=tenant, is_default=False)
    return [
        ("back-office index", "/admin/"),
        ("dashboard", DASHBOARD),
        ("board, main pipeline (~90,000 leads)", f"/admin/pipelines/pipeline/{main.pk}/board/"),
        ("board, second pipeline (~10,000 leads)", f"/admin/pipelines/pipeline/{second.pk}/board/"),
        ("leads changelist", "/admin/pipelines/lead/"),
        ("leads changelist, search", "/admin/pipelines/lead/?q=%D0%A1%D0%BC%D0%B8%D1%80%D0%BD%D0%BE%D0%B2%D0%B0+12"),
        ("leads changelist, stage filter", f"/admin/pipelines/lead/?stage__id__exact={second.stages.first().pk}"),
        ("lead tasks changelist", "/admin/tasks/leadtask/"),
    ]


def _time(fn, requests: int) -> tuple[float, float]:
    for _ in range(2):
        fn()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, round(len(samples) * 0.95) - 1)]


def _page_load(client, url: str):
    def load():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    return load


def _queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return len(captured)


def measure(requests: int) -> None:
    from django.db import connection
    from django.test import Client

    from crm.models import Role, User

    owner = User.objects.get(username=f"{leads_data.SLUG_PREFIX}1-owner")
    manager = User.objects.filter(tenant=owner.tenant, role=Role.MANAGER).order_by("pk").first()

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL, [owner.tenant_id])
            cursor.fetchall()

    floor_median, floor_p95 = _time(floor, requests)
    print(f"floor (one SQL statement, a changelist's first 100 rows): {floor_median:.1f} / p95 {floor_p95:.1f} ms")
    print("| page | role | median ms | p95 ms | queries |")
    print("|---|---|---|---|---|")
    for user in (owner, manager):
        client = Client(SERVER_NAME="127.0.0.1")
        client.force_login(user)
        for name, url in _pages(owner.tenant):
            if url == DASHBOARD and user == manager:
                continue  # the dashboard is the supervisors' page
            median, p95 = _time(_page_load(client, url), requests)
            print(f"| {name} | {user.role} | {median:.1f} | {p95:.1f} | {_queries(client, url)} |", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument("--requests", type=int, default=20, help="timed loads per page and role")
    args = parser.parse_args(argv)
    harness.database_ensure(args.db_url, reseed=False)
    leads_data.django_setup(args.db_url, {"ALLOWED_HOSTS": "127.0.0.1"})
    leads_data.seed(tenants=1, leads=100_000)
    measure(args.requests)


if __name__ == "__main__":
    main()
